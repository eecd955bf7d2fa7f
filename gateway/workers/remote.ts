/**
 * The worker pool is shared by every gateway app thread (issue: "the pool shared"): it lives in
 * the main thread, and app threads reach it through a MessagePort. `servePool` answers on the main
 * side; `RemoteTaskRunner` is the app threads' TaskRunner. A lane's refusal travels back as
 * LaneOverloaded (with its Retry-After), so the app thread answers 503 OVERLOADED at once.
 */
import type { MessagePort } from 'node:worker_threads';
import { LaneOverloaded, type TaskRunner, type WorkerKind } from './pool.ts';

interface TaskMessage {
  readonly id: number;
  readonly kind: WorkerKind;
  readonly task: unknown;
}

type ResultMessage =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      /** A lane's refusal: which lane, why, and the Retry-After it suggests. */
      readonly shed: { lane: string; reason: LaneOverloaded['reason']; retryAfterSeconds: number } | null;
      readonly message: string;
    };

export function servePool(pool: TaskRunner, port: MessagePort): void {
  port.on('message', (message: TaskMessage) => {
    pool.run(message.kind, message.task).then(
      (result) => port.postMessage({ id: message.id, ok: true, result } satisfies ResultMessage),
      (error: unknown) =>
        port.postMessage({
          id: message.id,
          ok: false,
          shed:
            error instanceof LaneOverloaded
              ? { lane: error.lane, reason: error.reason, retryAfterSeconds: error.retryAfterSeconds }
              : null,
          message: error instanceof Error ? error.message : String(error),
        } satisfies ResultMessage),
    );
  });
}

export class RemoteTaskRunner implements TaskRunner {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (message: ResultMessage) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else
        waiter.reject(
          message.shed
            ? new LaneOverloaded(message.shed.lane, message.shed.reason, message.shed.retryAfterSeconds)
            : new Error(`worker task failed: ${message.message}`),
        );
    });
  }

  run<Result>(kind: WorkerKind, task: unknown): Promise<Result> {
    const id = this.nextId++;
    return new Promise<Result>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ id, kind, task } satisfies TaskMessage);
    });
  }

  close(): void {
    for (const waiter of this.pending.values()) waiter.reject(new Error('worker pool connection closed'));
    this.pending.clear();
    this.port.close();
  }
}
