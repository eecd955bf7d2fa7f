/**
 * A minimal RESP client, enough for PING, INFO, CLUSTER INFO and SHUTDOWN without a client library
 * (the stack must answer before ioredis is even loaded, and must not reconnect on its own).
 */
import net from 'node:net';

function parseReply(buffer: Buffer): { value: string } | { error: string } | undefined {
  const lineEnd = buffer.indexOf('\r\n');
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[0] ?? 0);
  const line = buffer.toString('utf8', 1, lineEnd);
  if (type === '+' || type === ':') return { value: line };
  if (type === '-') return { error: line };
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return { value: '' };
    if (buffer.length < lineEnd + 2 + length + 2) return undefined;
    return { value: buffer.toString('utf8', lineEnd + 2, lineEnd + 2 + length) };
  }
  return { error: `unsupported reply type ${type}` };
}

/** Sends one command to 127.0.0.1:port and resolves with its (simple or bulk) reply. */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`${args[0]} to port ${port} timed out`)));
    socket.once('error', fail);
    socket.once('close', () => reject(new Error(`port ${port} closed the connection without a reply`)));
    socket.once('connect', () => {
      const parts = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
      socket.write(`*${args.length}\r\n${parts.join('')}`);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = parseReply(received);
      if (reply === undefined) return;
      socket.destroy();
      if ('error' in reply) reject(new Error(reply.error));
      else resolve(reply.value);
    });
  });
}
