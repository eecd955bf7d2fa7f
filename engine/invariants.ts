/**
 * The invariant checker (DOMAIN.md I1–I4, and the waiting room's: engine/queueInvariants.ts) over
 * what Redis holds, used after every property, load and fault test and by the load-test harness. It reads every registration bucket and seat
 * counter of the given provinces and the outbox streams; it never writes. I5 (everything in
 * PostgreSQL exactly once) is checked by the reconcile command against the same events.
 */
import type { Engine } from './engine.ts';
import { readClaim } from './binding.ts';
import { decodeEvent } from './events.ts';
import { checkQueueInvariants } from './queueInvariants.ts';
import { REGISTRATION_BUCKETS } from './keys.ts';
import { writtenInfo, isWrittenSubject } from './subjects.ts';
import { decodeRegistration, unpackRecord, type RegistrationView } from './views.ts';

export interface Violation {
  readonly invariant: 'I1' | 'I2' | 'I3' | 'I4' | 'COUNTER' | 'QUEUE';
  readonly message: string;
}

export interface InvariantReport {
  readonly violations: Violation[];
  readonly registrations: number;
  readonly liveItems: number;
  readonly seatsUsed: number;
  /** Waiting-room tickets checked, and how many of them were admitted. */
  readonly tickets: number;
  readonly admittedTickets: number;
}

/** Every registration of a province (reads all buckets: works the same on Redis Cluster). */
export async function allRegistrations(engine: Engine, provinceCode: string): Promise<RegistrationView[]> {
  const keys = engine.keys.province(provinceCode);
  const registrations: RegistrationView[] = [];
  const chunk = 256;
  for (let start = 0; start < REGISTRATION_BUCKETS; start += chunk) {
    const buckets = await Promise.all(
      Array.from({ length: Math.min(chunk, REGISTRATION_BUCKETS - start) }, (_, i) =>
        engine.redis.hgetallBuffer(keys.registrationBucket(start + i)),
      ),
    );
    for (const bucket of buckets) {
      for (const [candidateId, stored] of Object.entries(bucket)) {
        registrations.push(decodeRegistration(provinceCode, unpackRecord(candidateId, stored)));
      }
    }
  }
  return registrations;
}

export async function checkInvariants(
  engine: Engine,
  provinceCodes: readonly string[],
  options: { checkEvents?: boolean; checkClaims?: boolean } = {},
): Promise<InvariantReport> {
  const violations: Violation[] = [];
  const accounts = new Map<string, string>();
  let registrationCount = 0;
  let liveItems = 0;
  let seatsUsed = 0;
  let tickets = 0;
  let admittedTickets = 0;

  for (const provinceCode of provinceCodes) {
    const keys = engine.keys.province(provinceCode);
    const registrations = await allRegistrations(engine, provinceCode);
    registrationCount += registrations.length;
    const liveBySeat = new Map<string, number>();

    for (const reg of registrations) {
      // I2: one account ↔ one candidate, both ways
      const where = `${provinceCode}/${reg.candidateId}`;
      const other = accounts.get(reg.accountId);
      if (other !== undefined) {
        violations.push({
          invariant: 'I2',
          message: `account ${reg.accountId} bound to ${other} and ${where}`,
        });
      }
      accounts.set(reg.accountId, where);
      if (options.checkClaims !== false) {
        const claim = await readClaim(engine, reg.accountId);
        if (!claim || claim.provinceCode !== provinceCode || claim.candidateId !== reg.candidateId) {
          violations.push({
            invariant: 'I2',
            message: `account ${reg.accountId}'s claim does not name ${where}`,
          });
        }
      }
      // I3: at most one live written subject per level
      const levels = new Map<number, string>();
      for (const item of [...reg.written, ...reg.oral]) {
        if (item.status !== 'HELD' && item.status !== 'PAID') continue;
        liveItems++;
        const seat = `${item.campusId}|${item.subject}`;
        liveBySeat.set(seat, (liveBySeat.get(seat) ?? 0) + 1);
        if (isWrittenSubject(item.subject)) {
          const level = writtenInfo(item.subject).level;
          const taken = levels.get(level);
          if (taken)
            violations.push({ invariant: 'I3', message: `${where} holds ${taken} and ${item.subject}` });
          levels.set(level, item.subject);
        }
        if (item.kind === 'ORAL' && item.requiresWritten) {
          const written = reg.written.find((w) => w.subject === item.requiresWritten);
          if (!written || (written.status !== 'HELD' && written.status !== 'PAID')) {
            violations.push({
              invariant: 'I3',
              message: `${where} holds ${item.subject} without ${item.requiresWritten}`,
            });
          }
        }
      }
    }

    // I1: used never above capacity, and the counters agree with the live items
    const [capacity, used] = await Promise.all([
      engine.redis.hgetall(keys.capacity),
      engine.redis.hgetall(keys.used),
    ]);
    const seats = new Set([...Object.keys(capacity), ...Object.keys(used), ...liveBySeat.keys()]);
    for (const seat of seats) {
      const cap = Number(capacity[seat] ?? 0);
      const counter = Number(used[seat] ?? 0);
      const live = liveBySeat.get(seat) ?? 0;
      seatsUsed += live;
      if (live > cap)
        violations.push({
          invariant: 'I1',
          message: `${provinceCode} ${seat}: ${live} live > capacity ${cap}`,
        });
      if (counter !== live) {
        violations.push({
          invariant: 'COUNTER',
          message: `${provinceCode} ${seat}: counter ${counter} ≠ ${live} live items`,
        });
      }
    }

    // I4 (as recorded in the outbox): every hold ends at most once
    if (options.checkEvents !== false) {
      const ended = new Map<string, number>();
      let cursor = '-';
      for (;;) {
        const page = await engine.redis.xrange(keys.stream, cursor, '+', 'COUNT', 5000);
        for (const [id, fields] of page) {
          const event = decodeEvent(keys.stream, id, fields);
          if (event.type !== 'EXPIRED' && event.type !== 'CANCELLED') continue;
          const hold = String(event.data.holdId);
          ended.set(hold, (ended.get(hold) ?? 0) + 1);
          if ((ended.get(hold) ?? 0) > 1) {
            violations.push({
              invariant: 'I4',
              message: `${provinceCode} hold ${hold} released twice (${event.eventId})`,
            });
          }
        }
        if (page.length < 5000) break;
        cursor = `(${page[page.length - 1]![0]}`;
      }
    }
  }
  for (const provinceCode of provinceCodes) {
    const queue = await checkQueueInvariants(
      engine,
      provinceCode,
      violations,
      options.checkEvents === undefined ? {} : { checkEvents: options.checkEvents },
    );
    tickets += queue.tickets;
    admittedTickets += queue.admitted;
  }
  return { violations, registrations: registrationCount, liveItems, seatsUsed, tickets, admittedTickets };
}
