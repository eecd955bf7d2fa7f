/**
 * A TCP proxy that delays what it forwards from the server back to the client by a settable
 * number of milliseconds: a planted slow Redis (or any slow backend) between a system under test
 * and its real server. Order is kept per connection; a delay of 0 forwards at once.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface SlowProxy {
  readonly port: number;
  /** Delay of every reply from now on (ms). */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startSlowProxy(target: { host: string; port: number }): Promise<SlowProxy> {
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    // replies go out in order: each chunk waits for its own delay after the previous one left
    let last = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      const wait = delayMs;
      last = last.then(
        () =>
          new Promise<void>((resolve) => {
            if (wait === 0) {
              if (!client.destroyed) client.write(chunk);
              resolve();
              return;
            }
            setTimeout(() => {
              if (!client.destroyed) client.write(chunk);
              resolve();
            }, wait);
          }),
      );
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no port');
  return {
    port: address.port,
    setDelay(ms) {
      delayMs = ms;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
