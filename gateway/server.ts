/**
 * The gateway process: N app threads (default: number of cores) sharing one port, each with its
 * own Redis connection, and one worker pool (piscina) in this main thread that every app thread
 * uses through a MessagePort. This thread also merges the threads' metrics for /metrics and
 * shuts them down gracefully (stop accepting, finish in-flight, close connections).
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import type { FromThread, ThreadData, ToThread } from './thread.ts';
import { WorkerPool } from './workers/pool.ts';
import { osThreadId } from './osThread.ts';
import { LANE_WAIT_BUCKETS_MS } from './admission/lane.ts';
import { servePool } from './workers/remote.ts';
import { KeySpace } from '../engine/keys.ts';
import { PROVINCE_CODES } from '../engine/provinces.ts';
import { openRedis, type RedisClient } from '../engine/redisClient.ts';
import { DrivenClock, systemClock } from './clock.ts';
import {
  METRICS_THREAD_WAIT_MS,
  MetricsCollector,
  persistenceMetricsText,
  readPersistenceGauges,
  readRoomGauges,
  roomMetricsText,
  threadMetricsText,
  valueWithin,
} from './metrics.ts';
import { clockKey } from './services.ts';

export interface RunningGateway {
  readonly port: number;
  readonly threads: number;
  readonly pool: WorkerPool;
  /** The app threads, for diagnostics and tests (a test silences one to see /metrics do without it). */
  readonly appThreads: readonly Worker[];
  stop(graceMs?: number): Promise<void>;
}

const THREAD_ENTRY = fileURLToPath(new URL('./thread.ts', import.meta.url));
const BOOTSTRAP = new URL('./tsWorker.cjs', import.meta.url);
const YOUNG_GENERATION_MB = 192;

/** The work lanes' gauges and counters (Prometheus text), from the main thread's pool. */
export function laneMetricsText(pool: WorkerPool): string {
  const lines = [
    '# HELP worker_pool_queued Tasks waiting for a worker thread (all lanes)',
    '# TYPE worker_pool_queued gauge',
    `worker_pool_queued ${pool.queued}`,
    '# HELP lane_queued Tasks waiting in a work lane',
    '# TYPE lane_queued gauge',
    '# HELP lane_running Tasks running in a work lane',
    '# TYPE lane_running gauge',
    '# HELP lane_completed_total Tasks a work lane ran to the end (every password check is one)',
    '# TYPE lane_completed_total counter',
    '# HELP lane_shed_total Tasks a work lane refused, by reason (deadline, predicted wait, full queue)',
    '# TYPE lane_shed_total counter',
    '# HELP lane_service_ms Smoothed time one task of the lane takes',
    '# TYPE lane_service_ms gauge',
    '# HELP lane_wait_ms How long started tasks waited in their lane before they ran',
    '# TYPE lane_wait_ms histogram',
  ];
  for (const lane of pool.stats()) {
    lines.push(
      `lane_queued{lane="${lane.name}"} ${lane.queued}`,
      `lane_running{lane="${lane.name}"} ${lane.running}`,
      `lane_completed_total{lane="${lane.name}"} ${lane.completed}`,
    );
    for (const [reason, count] of Object.entries(lane.shed)) {
      lines.push(`lane_shed_total{lane="${lane.name}",reason="${reason}"} ${count}`);
    }
    if (lane.serviceMs !== null)
      lines.push(`lane_service_ms{lane="${lane.name}"} ${lane.serviceMs.toFixed(2)}`);
    let cumulative = 0;
    lane.waited.buckets.forEach((count, i) => {
      cumulative += count;
      const le = i < LANE_WAIT_BUCKETS_MS.length ? String(LANE_WAIT_BUCKETS_MS[i]) : '+Inf';
      lines.push(`lane_wait_ms_bucket{lane="${lane.name}",le="${le}"} ${cumulative}`);
    });
    lines.push(
      `lane_wait_ms_sum{lane="${lane.name}"} ${lane.waited.sumMs.toFixed(1)}`,
      `lane_wait_ms_count{lane="${lane.name}"} ${lane.waited.count}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function startGateway(config: Config, log: Logger): Promise<RunningGateway> {
  // Asked for port 0, thread 0 finds a free port just before it listens (gateway/app.ts) and the
  // other threads join it (SO_REUSEPORT). A port found free here, before the threads had started,
  // was taken by another process meanwhile in one CI run ('cannot listen on 127.0.0.1:38769').
  let port = config.port;
  const pool = new WorkerPool({ lanes: config.lanes });
  const mainThreadId = osThreadId();
  const appThreadIds: (number | null)[] = Array.from({ length: config.threads }, () => null);
  const workers: Worker[] = [];
  /** The threads not exited: a collection asks only them, and a stop waits only for them. */
  const live = new Set<Worker>();
  const collector = new MetricsCollector<Worker>((worker, id) =>
    worker.postMessage({ type: 'collect-metrics', id } satisfies ToThread),
  );
  // writer and sweeper gauges for /metrics, read from Redis (they may run in other processes; on a
  // Redis Cluster each shard's on its master: gateway/metrics.ts)
  let metricsRedis: RedisClient | undefined;
  const keys = new KeySpace(config.namespace);
  const persistenceText = async (): Promise<string> => {
    try {
      if (!metricsRedis) {
        metricsRedis = openRedis(config, { maxRetriesPerRequest: 1 });
        metricsRedis.on('error', () => undefined);
      }
      const clock = config.testMode ? new DrivenClock(metricsRedis, clockKey(config.namespace)) : systemClock;
      const gauges = await readPersistenceGauges(
        metricsRedis,
        keys.allStreams(PROVINCE_CODES),
        PROVINCE_CODES.map((code) => keys.province(code).dueSet),
        await clock.now(),
      );
      return persistenceMetricsText(gauges) + roomMetricsText(await readRoomGauges(metricsRedis, keys));
    } catch (error) {
      log.warn({ err: error }, 'persistence metrics unavailable');
      return '';
    }
  };

  /**
   * Answers thread `requester`'s /metrics request (issue 16 item 13): the live threads' registries
   * merged, a thread that has not answered within METRICS_THREAD_WAIT_MS counted in
   * metrics_threads_missing, the lanes, and the persistence gauges (bounded the same way). It
   * always answers while the requester lives, so the request ends and gives its admission slot back.
   */
  const answerMetrics = async (requester: Worker, requestId: number): Promise<void> => {
    const persistence = valueWithin(persistenceText(), METRICS_THREAD_WAIT_MS, '');
    const { parts, missing } = await collector.collect(live, workers.length);
    let text = '';
    try {
      text = `${await AggregatorRegistry.aggregate(parts).metrics()}\n`;
    } catch (error) {
      log.warn({ err: error }, "merging the threads' metrics failed");
    }
    text += `${laneMetricsText(pool)}${threadMetricsText(workers.length, missing, { main: mainThreadId, app: appThreadIds })}${await persistence}`;
    if (live.has(requester)) {
      requester.postMessage({ type: 'metrics-text', id: requestId, text } satisfies ToThread);
    }
  };

  const ready = Array.from({ length: config.threads }, (_, index) => {
    const { port1, port2 } = new MessageChannel();
    servePool(pool, port1);
    const data: ThreadData = { entry: THREAD_ENTRY, config, index, poolPort: port2 };
    const worker = new Worker(BOOTSTRAP, {
      // the parent's profiling flags (e.g. SYSTEM_NODE_ARGS="--cpu-prof …") reach the app threads too
      execArgv: [...process.execArgv.filter((arg) => arg.startsWith('--cpu-prof')), '--import', 'tsx'],
      workerData: data,
      transferList: [port2],
      // a larger young generation: request handling allocates short-lived objects at a high rate,
      // and scavenges took a quarter of the CPU (README, "Measured figures")
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    workers.push(worker);
    live.add(worker);
    worker.once('exit', () => {
      live.delete(worker);
      collector.gone(worker);
    });
    worker.on('message', (message: FromThread) => {
      if (message.type === 'metrics-request') {
        answerMetrics(worker, message.id).catch((error: unknown) =>
          log.warn({ err: error }, 'metrics answer failed'),
        );
      } else if (message.type === 'metrics-part') {
        collector.part(worker, message.id, message.metrics as object);
      }
    });
    worker.on('error', (error) => log.error({ err: error, thread: index }, 'gateway thread crashed'));
    return new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromThread) => {
        if (message.type === 'ready') {
          appThreadIds[index] = message.osThreadId;
          worker.off('message', onMessage);
          if (index === 0 && config.port === 0) {
            port = message.port;
            for (const other of workers.slice(1))
              other.postMessage({ type: 'listen-on', port } satisfies ToThread);
          }
          resolve();
        } else if (message.type === 'failed')
          reject(new Error(`gateway thread ${index}: ${message.message}`));
      };
      worker.on('message', onMessage);
      worker.once('exit', (code) =>
        reject(new Error(`gateway thread ${index} exited (${code}) before it was ready`)),
      );
    });
  });

  const stop = async (graceMs = 10_000): Promise<void> => {
    // a thread that already exited would never say so again
    await Promise.all(
      [...live].map(
        (worker) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void worker.terminate().then(() => resolve()), graceMs + 5_000);
            worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            worker.postMessage({ type: 'shutdown', graceMs } satisfies ToThread);
          }),
      ),
    );
    await pool.close();
    metricsRedis?.disconnect();
  };

  try {
    await Promise.all(ready);
  } catch (error) {
    await stop(1_000).catch(() => undefined);
    throw error;
  }
  log.info({ port, threads: config.threads, poolThreads: pool.threads }, 'gateway ready');
  return { port, threads: config.threads, pool, appThreads: workers, stop };
}
