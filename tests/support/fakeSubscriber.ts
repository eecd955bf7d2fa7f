/**
 * A pub/sub connection for tests: ready from the start (the gateway subscribes once its connection
 * is: psubscribeWhenReady), subscribing does nothing, and the only messages are those the test
 * emits (`pmessage`). One that nobody emits on is a subscription lost without a word.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

export class FakeSubscriber extends EventEmitter {
  readonly status = 'ready';
  async psubscribe(): Promise<number> {
    return 1;
  }
  async quit(): Promise<'OK'> {
    return 'OK';
  }
  disconnect(): void {}
  /** As the gateway's options take it. */
  asRedis(): Redis {
    return this as unknown as Redis;
  }
}
