import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createAuthLogger } from './auth/log.ts';
import { ApiError } from './errors.ts';
import { createLogger } from './log.ts';
import { scrubPersonalData, serializeError } from './logRedaction.ts';

const PHONE = '13812341234';
const ID_NUMBER = '11010519491231002X';

describe('scrubPersonalData', () => {
  it('replaces phones, ID numbers, codes named as such, emails and Han text', () => {
    const cases: [string, string][] = [
      [`for ${PHONE}.`, 'for [redacted].'],
      [`tel +86${PHONE}`, 'tel [redacted]'],
      [`key sms:{${PHONE}}:code`, 'key sms:{[redacted]}:code'],
      [`id ${ID_NUMBER} and 110105194912310021`, 'id [redacted] and [redacted]'],
      ['sms code 482913 rejected', 'sms code [redacted] rejected'],
      ['{"smsCode":"482913"}', '{"smsCode":"[redacted]"}'],
      // (the word itself is Han text, scrubbed as such)
      ['验证码：482913', '[redacted]：[redacted]'],
      ['the code is 482913', 'the code is [redacted]'],
      ['login a.b+c@example.cn failed', 'login [redacted] failed'],
      [
        'invalid input syntax for type integer: "阿依古丽·买买提"',
        'invalid input syntax for type integer: "[redacted]"',
      ],
    ];
    for (const [text, scrubbed] of cases) expect(scrubPersonalData(text)).toBe(scrubbed);
  });

  it('leaves ordinary numbers alone: ports, ids, timestamps, stream ids, other 6-digit numbers', () => {
    for (const text of [
      'connect ECONNREFUSED 127.0.0.1:6379',
      'postgres://postgres:***@127.0.0.1:43923/cet',
      'stream p11 entry 1765000000000-0',
      'order 1234567 of account 98765, seq 482913',
      'at /work/main/node_modules/pg-pool/index.js:45:11',
      'uuid 0f8fad5b-d9cb-469f-a165-70867728950e, ms 17650000000001',
      '12345678901 is no mobile number; 10-digit 1765000000 neither',
      'installed pino@10.4.0',
      'exit code 1, statusCode 503',
    ]) {
      expect(scrubPersonalData(text)).toBe(text);
    }
  });
});

describe('serializeError', () => {
  it("keeps an ioredis command's name, never its arguments", () => {
    const error = Object.assign(
      new Error('WRONGTYPE Operation against a key holding the wrong kind of value'),
      {
        command: { name: 'lpush', args: [`ns:auth:sms:{${PHONE}}:code`, PHONE, '张三'] },
      },
    );
    const safe = serializeError(error);
    expect(safe).toMatchObject({ type: 'Error', command: 'lpush' });
    expect(safe.message).toContain('WRONGTYPE');
    expect(safe.stack).toContain('logRedaction.test.ts');
    expect(JSON.stringify(safe)).not.toContain(PHONE);
    expect(JSON.stringify(safe)).not.toContain('张三');
  });

  it("keeps PostgreSQL's SQLSTATE and the objects involved, never detail, where, hint, query or parameters", () => {
    const error = Object.assign(new Error('duplicate key value violates unique constraint "roster_id_key"'), {
      code: '23505',
      severity: 'ERROR',
      schema: 'public',
      table: 'roster',
      constraint: 'roster_id_key',
      routine: '_bt_check_unique',
      detail: `Key (id_number)=(${ID_NUMBER}) already exists.`,
      where: `unnamed portal parameter $1 = '${PHONE}'`,
      hint: `try ${PHONE}`,
      query: `INSERT INTO roster VALUES ('${ID_NUMBER}')`,
      parameters: [ID_NUMBER],
      internalQuery: 'select',
    });
    const safe = serializeError(error);
    expect(safe).toMatchObject({
      errorCode: '23505',
      severity: 'ERROR',
      schema: 'public',
      table: 'roster',
      constraint: 'roster_id_key',
      routine: '_bt_check_unique',
    });
    for (const field of ['detail', 'where', 'hint', 'query', 'parameters', 'internalQuery'])
      expect(safe).not.toHaveProperty(field);
    expect(JSON.stringify(safe)).not.toContain(ID_NUMBER);
    expect(JSON.stringify(safe)).not.toContain(PHONE);
  });

  it("drops an ApiError's details, keeps its code and status; follows causes and aggregated errors", () => {
    const cause = Object.assign(new Error(`for ${PHONE}`), { command: { name: 'evalsha', args: [PHONE] } });
    const error = new ApiError('INTERNAL_ERROR', { cause, details: { phone: PHONE } });
    const safe = serializeError(error);
    expect(safe).toMatchObject({ type: 'ApiError', errorCode: 'INTERNAL_ERROR', status: 500 });
    expect(safe).not.toHaveProperty('details');
    expect(safe.cause).toMatchObject({ type: 'Error', message: 'for [redacted]', command: 'evalsha' });
    const aggregate = serializeError(new AggregateError([cause, `plain ${PHONE}`], 'all failed'));
    expect(aggregate.errors).toEqual([
      expect.objectContaining({ type: 'Error', message: 'for [redacted]' }),
      { type: 'string', message: 'plain [redacted]' },
    ]);
    expect(JSON.stringify([safe, aggregate])).not.toContain(PHONE);
  });

  it('stops at a bounded depth and survives values that are not errors', () => {
    type Chain = { message: string; cause?: Chain };
    const chain: Chain = { message: 'level 0' };
    let last = chain;
    for (let level = 1; level < 10; level++) last = last.cause = { message: `level ${level}` };
    expect(JSON.stringify(serializeError(chain))).not.toContain('level 4');
    expect(serializeError(undefined)).toEqual({ type: 'undefined' });
    expect(serializeError(null)).toEqual({ type: 'null' });
    expect(serializeError(`code ${'482913'}`)).toEqual({ type: 'string', message: 'code [redacted]' });
    expect(serializeError({ phone: PHONE })).toEqual({ type: 'Object' });
  });
});

class Lines extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.text += chunk.toString('utf8');
    callback();
  }
}

describe('the product loggers serialize errors by value', () => {
  it('gateway and auth loggers, with the error under err or logged bare', () => {
    for (const make of [
      (destination: Lines) => createLogger({ destination }),
      (destination: Lines) => createAuthLogger({ destination }),
    ]) {
      const lines = new Lines();
      const logger = make(lines);
      const error = Object.assign(new Error(`failed for ${PHONE}`), {
        code: '23505',
        detail: `Key (id_number)=(${ID_NUMBER}) already exists.`,
        command: { name: 'hset', args: ['张三'] },
      });
      logger.error({ err: error }, 'writer batch failed');
      logger.error(error, 'bare');
      logger.error({ error }, 'under error');
      for (const secret of [PHONE, ID_NUMBER, '张三']) expect(lines.text).not.toContain(secret);
      const entries = lines.text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { err?: unknown; error?: unknown });
      expect(entries.map((entry) => entry.err ?? entry.error)).toEqual(
        Array.from({ length: 3 }, () =>
          expect.objectContaining({ errorCode: '23505', command: 'hset', message: 'failed for [redacted]' }),
        ),
      );
    }
  });
});
