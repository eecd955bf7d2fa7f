/**
 * The KDF lane's threads run at a lower scheduling priority (LANE_KDF_NICE; ARCHITECTURE.md "The
 * opening": a login storm must not take the cores from the event loops): read back from
 * /proc/self/task/<tid>/stat, per thread of this process. Linux only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../gateway/auth/passwords.ts';
import { WorkerPool } from '../../gateway/workers/pool.ts';

/** Each thread of this process: its nice value (stat(5) field 19). */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task').map(Number)) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // fields after the command name: state is field 3, nice field 19
      nices.set(tid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // the thread ended between readdir and read
    }
  }
  return nices;
}

const linux = process.platform === 'linux';
let pool: WorkerPool | undefined;

beforeAll(() => {
  if (!linux) console.warn('kdf-priority: skipped, /proc/self/task is Linux only');
});

afterAll(async () => {
  await pool?.close();
});

describe.skipIf(!linux)('the KDF lane’s priority', () => {
  it('runs the KDF threads at LANE_KDF_NICE and leaves every other thread alone', async () => {
    const before = threadNices();
    pool = new WorkerPool({
      lanes: {
        password: { threads: 2, nice: 7 },
        eligibility: { threads: 1 },
        roster: { threads: 1 },
      },
    });
    // a hash on each KDF thread: both have started and set their priority
    await Promise.all([hashPassword(pool, 'exam season 2026'), hashPassword(pool, 'exam season 2027')]);
    const after = threadNices();
    const lowered = [...after].filter(([tid, nice]) => nice === 7 && !before.has(tid));
    expect(lowered).toHaveLength(2);
    // this thread, and the eligibility lane's, keep the process's priority
    expect(after.get(process.pid)).toBe(0);
    expect([...after].filter(([, nice]) => nice !== 0 && nice !== 7)).toEqual([]);
  });
});
