import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
}, 120_000);
afterAll(async () => {
  await gw?.close();
});

describe('operations routes', () => {
  it('healthz and readyz answer, unknown paths are 404 in the error format', async () => {
    expect((await gw.http.get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await gw.http.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ redis: 'ok', postgres: 'ok', scripts: 'ok', redisMemory: 'ok' });
    const missing = await gw.http.get('/api/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('metrics merge every app thread', async () => {
    await Promise.all(
      Array.from({ length: 40 }, () => gw.http.get('/healthz', { headers: { connection: 'close' } })),
    );
    const text = (await gw.http.get('/metrics')).text;
    const line = text.split('\n').find((l) => l.startsWith('http_requests_total{route="/healthz"'));
    expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(40);
    expect(text).toContain('worker_pool_queued');
  });

  it('serves an OpenAPI document of its routes', async () => {
    const doc = (await gw.http.get('/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/readyz');
  });
});
