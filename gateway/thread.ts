/**
 * A gateway app thread (started by gateway/server.ts through gateway/tsWorker.cjs): its own Redis
 * connection, engine and uWS app listening on the shared port (SO_REUSEPORT), the worker pool
 * reached through a MessagePort. It answers the main thread's control messages: metrics
 * collection and graceful shutdown. No top-level await here (the module is loaded with require).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Config } from '../config/index.ts';
import { createGatewayApp } from './app.ts';
import { createLogger } from './log.ts';
import { createServices } from './services.ts';
import { RemoteTaskRunner } from './workers/remote.ts';
import { osThreadId } from './osThread.ts';

export interface ThreadData {
  readonly entry: string;
  readonly config: Config;
  readonly index: number;
  readonly poolPort: MessagePort;
}

export type ToThread =
  | { readonly type: 'shutdown'; readonly graceMs: number }
  /** The port thread 0 listens on, for the other threads of a gateway asked for port 0. */
  | { readonly type: 'listen-on'; readonly port: number }
  | { readonly type: 'collect-metrics'; readonly id: number }
  | { readonly type: 'metrics-text'; readonly id: number; readonly text: string };

export type FromThread =
  | { readonly type: 'ready'; readonly port: number; readonly osThreadId: number | null }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'metrics-part'; readonly id: number; readonly metrics: unknown }
  | { readonly type: 'metrics-request'; readonly id: number }
  | { readonly type: 'stopped' };

function post(message: FromThread): void {
  parentPort?.postMessage(message);
}

async function run(): Promise<void> {
  const data = workerData as ThreadData;
  const log = createLogger({ level: data.config.logLevel, name: `gateway.${data.index}` });
  const tasks = new RemoteTaskRunner(data.poolPort);
  const services = createServices(data.config, tasks, log);
  let nextMetricsId = 1;
  const metricsWaiters = new Map<number, (text: string) => void>();
  const gateway = createGatewayApp(services, {
    // the answering thread asks the main thread, which merges every thread's registry
    metricsText: () =>
      new Promise((resolve) => {
        const id = data.index * 1_000_000 + nextMetricsId++;
        metricsWaiters.set(id, resolve);
        post({ type: 'metrics-request', id });
      }),
  });
  let portOfThreadZero: (port: number) => void = () => undefined;
  const sharedPort =
    data.config.port === 0 && data.index > 0
      ? new Promise<number>((resolve) => (portOfThreadZero = resolve))
      : Promise.resolve(data.config.port);
  parentPort?.on('message', (message: ToThread) => {
    if (message.type === 'listen-on') {
      portOfThreadZero(message.port);
    } else if (message.type === 'collect-metrics') {
      void services.metrics.registry
        .getMetricsAsJSON()
        .then((metrics) => post({ type: 'metrics-part', id: message.id, metrics }));
    } else if (message.type === 'metrics-text') {
      metricsWaiters.get(message.id)?.(message.text);
      metricsWaiters.delete(message.id);
    } else if (message.type === 'shutdown') {
      void (async () => {
        await gateway.shutdown(message.graceMs);
        await services.eligibility.drain();
        await services.close();
        tasks.close();
        post({ type: 'stopped' });
        parentPort?.close();
      })();
    }
  });
  const port = await gateway.listen(data.config.host, await sharedPort);
  log.info({ port, thread: data.index }, 'gateway thread listening');
  post({ type: 'ready', port, osThreadId: osThreadId() });
}

run().catch((error: unknown) => {
  post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
});
