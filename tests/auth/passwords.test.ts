/**
 * The argon2id KDF on the worker pool (kind 'password'): a hash verifies its own password only,
 * passwords are compared in canonical form, the dummy hash matches nothing, and a hash made with
 * older parameters is redone at the next successful login (R1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../db/pool.ts';
import { DUMMY_HASH, KDF_PARAMS, hashPassword, verifyPassword } from '../../gateway/auth/passwords.ts';
import { parsePhc } from '../../gateway/auth/phc.ts';
import type { HashTask } from '../../gateway/workers/password.worker.ts';
import { newAuthFixture, solvedCaptcha, type AuthFixture } from './fixture.ts';

let f: AuthFixture;

beforeAll(async () => {
  f = await newAuthFixture({ threads: 2 });
});

afterAll(async () => {
  await f?.close();
});

describe('R1: password hashing on the worker pool', () => {
  it('verifies the right password only, with a fresh salt per hash', async () => {
    const [first, second] = await Promise.all([
      hashPassword(f.workers, 'exam season 2026'),
      hashPassword(f.workers, 'exam season 2026'),
    ]);
    expect(first).not.toBe(second);
    expect(parsePhc(first).salt.equals(parsePhc(second).salt)).toBe(false);
    expect(await verifyPassword(f.workers, first, 'exam season 2026')).toBe(true);
    expect(await verifyPassword(f.workers, second, 'exam season 2026')).toBe(true);
    expect(await verifyPassword(f.workers, first, 'exam season 2027')).toBe(false);
    expect(await verifyPassword(f.workers, first, 'Exam season 2026')).toBe(false);
    expect(await verifyPassword(f.workers, DUMMY_HASH, 'exam season 2026')).toBe(false);
  });

  it('compares passwords in NFC form (é typed precomposed or combined)', async () => {
    const stored = await hashPassword(f.workers, 'caf\u00e9 latte 7');
    expect(await verifyPassword(f.workers, stored, 'cafe\u0301 latte 7')).toBe(true);
  });

  it('rejects a malformed stored hash instead of answering false', async () => {
    await expect(verifyPassword(f.workers, '$argon2id$v=19$m=1,t=1,p=1$x$y', 'whatever 1')).rejects.toThrow(
      /not an argon2id PHC string/,
    );
  });

  it('redoes a hash made with older parameters at the next successful login', async () => {
    const legacyTask: HashTask = {
      op: 'hash',
      password: 'legacy pass 9',
      params: { ...KDF_PARAMS, memoryCost: 8_192, timeCost: 1 },
      saltBytes: 16,
      hashBytes: 32,
    };
    const legacy = await f.workers.run<string>('password', legacyTask);
    const [row] = await query<{ account_id: string }>(
      f.db,
      `INSERT INTO accounts (email, password_hash) VALUES ('legacy@example.edu.cn', $1) RETURNING account_id::text`,
      [legacy],
    );
    const accountId = row?.account_id ?? '';
    const session = await f.accounts.login({
      login: 'legacy@example.edu.cn',
      password: 'legacy pass 9',
      ...(await solvedCaptcha(f.captchas)),
    });
    expect(session.accountId).toBe(accountId);
    const [after] = await query<{ password_hash: string }>(
      f.db,
      'SELECT password_hash FROM accounts WHERE account_id = $1',
      [accountId],
    );
    const upgraded = parsePhc(after?.password_hash ?? '');
    expect([upgraded.memoryCost, upgraded.timeCost, upgraded.parallelism]).toEqual([19_456, 2, 1]);
    expect(await verifyPassword(f.workers, after?.password_hash ?? '', 'legacy pass 9')).toBe(true);
  });
});
