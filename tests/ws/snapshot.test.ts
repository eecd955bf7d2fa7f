/**
 * The state sent on subscribe, made deterministic: a fake engine whose seat read resolves when the
 * test says, a fake subscriber the test emits seat messages on, and the real uWS app with /ws/seats.
 *  - Order: two dashboards share one snapshot read; a change lands between the first subscription
 *    and the second, and the read (begun before the change) is stale. Both must end on the newest
 *    state, and neither may see an old state after a newer one.
 *  - Drain: a snapshot far larger than the socket's backpressure limit reaches a client that paused
 *    reading, whole and in order, once it reads again: sent while the buffer allows, resumed on
 *    `drain`, never dropped (which would close the socket).
 */
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import type { Engine } from '../../engine/engine.ts';
import { KeySpace } from '../../engine/keys.ts';
import { WRITTEN_SUBJECTS } from '../../engine/subjects.ts';
import { seatCount, type SeatCount } from '../../engine/views.ts';
import { loadNativeUws } from '../../gateway/http/uws.ts';
import { GatewayMetrics } from '../../gateway/metrics.ts';
import { SeatHub } from '../../gateway/ws/seatHub.ts';
import { registerSeatSockets, type SeatSockets } from '../../gateway/ws/seats.ts';
import { FakeSubscriber } from '../support/fakeSubscriber.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { SeatClient } from './harness.ts';

interface FakeServer {
  readonly url: string;
  readonly hub: SeatHub;
  readonly sockets: SeatSockets;
  /** Resolvers of the seat reads asked for so far, in order. */
  readonly reads: ((counts: SeatCount[]) => void)[];
  /** A seat change as the Lua scripts publish it. */
  change(campusId: string, subject: string, remaining: number, capacity: number): void;
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startFakeServer(maxBackpressure: number): Promise<FakeServer> {
  const keys = new KeySpace('snap');
  const subscriber = new FakeSubscriber();
  const reads: ((counts: SeatCount[]) => void)[] = [];
  const engine = {
    keys,
    redis: { duplicate: () => subscriber },
    campuses: async () => new Map(),
    seatCounts: () => new Promise<SeatCount[]>((resolve) => reads.push(resolve)),
  } as unknown as Engine;
  const uws = loadNativeUws();
  const app = uws.App();
  const log = pino({ level: 'warn' });
  const hub = new SeatHub({
    app,
    engine,
    coalesceMs: 0,
    log,
    subscriber: subscriber.asRedis(),
    provinces: ['11'],
  });
  await hub.start();
  const sockets = registerSeatSockets(app, { hub, metrics: new GatewayMetrics(), log, maxBackpressure });
  const token = await new Promise<NonNullable<Parameters<Parameters<typeof app.listen>[2]>[0]>>(
    (resolve, reject) =>
      app.listen('127.0.0.1', 0, (listenSocket) =>
        listenSocket ? resolve(listenSocket) : reject(new Error('listen failed')),
      ),
  );
  cleanups.push(
    () => uws.us_listen_socket_close(token),
    () => hub.close(),
  );
  const channel = keys.province('11').seatChannel;
  return {
    url: `ws://127.0.0.1:${uws.us_socket_local_port(token)}/ws/seats`,
    hub,
    sockets,
    reads,
    change(campusId, subject, remaining, capacity) {
      subscriber.emit(
        'pmessage',
        '*',
        channel,
        JSON.stringify({ campusId, subject, remaining, capacity, at: Date.UTC(2026, 2, 1) }),
      );
    },
  };
}

async function connect(url: string): Promise<SeatClient> {
  const client = await SeatClient.connect(url);
  cleanups.push(() => client.close());
  return client;
}

it('a shared snapshot read that began before a change never leaves a dashboard on the old state', async () => {
  const server = await startFakeServer(64 * 1024);
  const a = await connect(server.url);
  const b = await connect(server.url);

  a.send({ subscribe: ['province:11'] });
  await waitFor(() => server.reads.length > 0, { message: "A's snapshot read" });
  expect(server.reads).toHaveLength(1); // A's read is in flight (begun before the change)

  server.change('C1', 'CET4', 3, 4); // A is subscribed: it gets this live
  await waitFor(() => a.last('C1', 'CET4')?.remaining === 3, {
    timeoutMs: 2_000,
    message: 'the live change on A',
  });

  b.send({ subscribe: ['province:11'] });
  // B's next message is answered after its subscription was handled (one socket, in order)
  b.send('not json');
  await waitFor(() => b.errors().length > 0, { message: 'the answer to B after its subscription' });
  expect(server.reads).toHaveLength(1); // B joined A's read

  // the read answers with the state from before the change
  server.reads[0]!([seatCount('C1', 'CET4', 4, 0), seatCount('C1', 'CET6', 10, 1)]);
  await waitFor(() => b.seats().length >= 2, { timeoutMs: 2_000, message: 'the snapshot on B' });

  // a later change reaches both, after anything the read sent them (one socket, in order)
  server.change('C1', 'CET4', 2, 4);
  await waitFor(() => a.last('C1', 'CET4')?.remaining === 2, {
    timeoutMs: 2_000,
    message: 'A after the read',
  });
  await waitFor(() => b.last('C1', 'CET4')?.remaining === 2, {
    timeoutMs: 2_000,
    message: 'B after the read',
  });

  const cet4 = (client: SeatClient) => client.seats({ subject: 'CET4' }).map((r) => r.message.remaining);
  // A: the live 3, no stale 4 after it, then the 2
  expect(cet4(a)).toEqual([3, 2]);
  // B was not subscribed when 3 was published: it gets the hub's last message (3), not the stale read
  expect(cet4(b)).toEqual([3, 2]);
  // untouched keys come from the read
  expect(a.last('C1', 'CET6')).toMatchObject({ remaining: 9, capacity: 10, color: 'GREEN' });
  expect(b.last('C1', 'CET6')).toMatchObject({ remaining: 9, capacity: 10, color: 'GREEN' });
});

it('a snapshot larger than the backpressure limit is paced by drain, not dropped', async () => {
  const limit = 64 * 1024;
  const server = await startFakeServer(limit);
  // 4,000 campuses × 9 subjects ≈ 4.5 MB of messages: more than the kernel's socket buffers on
  // loopback (about 4 MB) plus the 64 KiB limit, so uWS must buffer and the pump must wait
  const counts: SeatCount[] = [];
  for (let c = 0; c < 4_000; c++) {
    for (const subject of WRITTEN_SUBJECTS) counts.push(seatCount(`K${c}`, subject, 100, c % 101));
  }
  const client = await connect(server.url);
  client.send({ subscribe: ['province:11'] });
  client.socket.pause();
  await waitFor(() => server.reads.length > 0, { message: 'the snapshot read' });
  server.reads[0]!(counts);

  // the client reads nothing for a second: the server fills the socket buffers meanwhile and must
  // wait for drain; a server that dropped or closed instead could not deliver the whole snapshot below
  await sleep(1_000);
  client.socket.resume();
  await waitFor(() => client.closed || client.received.length >= counts.length, {
    timeoutMs: 20_000,
    message: 'the whole snapshot',
  });
  expect(client.closed).toBe(false);
  expect(server.sockets.stats.droppedForBackpressure).toBe(0);
  expect(client.received).toHaveLength(counts.length);
  const expected = counts.map((c) => `${c.campusId}|${c.subject}|${c.remaining}`);
  const got = client.received.map(({ message: m }) =>
    [m.campusId, m.subject, m.remaining].map(String).join('|'),
  );
  expect(got).toEqual(expected);
});
