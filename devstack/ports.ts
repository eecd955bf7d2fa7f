/**
 * Free TCP ports for the private servers, the cluster nodes and a gateway asked for port 0. A leaf
 * module (node:net only): the gateway imports it too, and it must never import anything else.
 */
import net from 'node:net';

const handedOutPorts = new Set<number>();

function listenOn(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A port that was free a moment ago (the OS picks it by listening on port 0). `alsoFreeAt` lists
 * offsets that must be free too (a cluster node needs port+10000 for its bus). Ports already
 * handed out by this process are never repeated; a race with other processes remains possible,
 * so starters retry on "Address already in use".
 */
export async function freePort(opts: { host?: string; alsoFreeAt?: number[] } = {}): Promise<number> {
  const host = opts.host ?? '127.0.0.1';
  const offsets = opts.alsoFreeAt ?? [];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await listenOn(0, host);
    if (port === undefined || handedOutPorts.has(port)) continue;
    if (offsets.some((offset) => port + offset > 65_535)) continue;
    const othersFree = await Promise.all(offsets.map((offset) => listenOn(port + offset, host)));
    if (othersFree.some((bound) => bound === undefined)) continue;
    handedOutPorts.add(port);
    return port;
  }
  throw new Error(`no free port found on ${host}`);
}
