/**
 * Real concurrency against real Redis (ARCHITECTURE.md REL1; DOMAIN.md I1–I4). Every test opens
 * CLIENTS independent ioredis connections, each with its own Engine on one namespace, and fires
 * its calls with Promise.all so that the scripts of different connections interleave at Redis.
 * Each test owns a fresh namespace and removes it afterwards.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Engine,
  bind,
  expireDue,
  readClaim,
  type CandidateRef,
  type OralSubject,
  type SweepResult,
  type WrittenSubject,
} from '../../engine/index.ts';
import { checkInvariants } from '../../engine/invariants.ts';
import { redisUrl } from '../support/env.ts';
import {
  HOUR_MS,
  T0,
  campus,
  loadFixture,
  newTestEngine,
  snapshot,
  streamEvents,
  type TestEngine,
} from '../support/engine.ts';

const CLIENTS = 12;
const PROVINCE = '11';

let te: TestEngine;
let clients: Redis[];
let engines: Engine[];

beforeEach(async () => {
  te = await newTestEngine();
  clients = Array.from({ length: CLIENTS }, () => new Redis(redisUrl(), { maxRetriesPerRequest: null }));
  engines = clients.map((redis) => new Engine(redis, { namespace: te.namespace }));
  await Promise.all(clients.map((redis) => redis.ping()));
});

afterEach(async () => {
  for (const redis of clients) redis.disconnect();
  await te.close();
});

/** The engine (connection) that the n-th caller uses: callers are spread over all connections. */
function via(n: number): Engine {
  return engines[n % CLIENTS]!;
}

/** 0..n-1 in random order, so that concurrent callers of different campuses/subjects mix. */
function shuffled(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function tally(outcomes: readonly { ok: boolean; code?: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    const key = outcome.ok ? 'ok' : (outcome.code ?? '?');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

interface Person extends CandidateRef {
  readonly campusId: string;
}

function people(count: number, firstId: number, campusOf: (n: number) => string): Person[] {
  return Array.from({ length: count }, (_, n) => ({
    accountId: `acc${firstId + n}`,
    provinceCode: PROVINCE,
    candidateId: String(firstId + n),
    campusId: campusOf(n),
  }));
}

/** Binds everyone at once (spread over all connections) and fails on any refusal. */
async function bindAll(everyone: readonly Person[], now = T0): Promise<void> {
  const outcomes = await Promise.all(
    shuffled(everyone.length).map((n) => bind(via(n), { ...everyone[n]!, snapshot: snapshot(), now })),
  );
  expect(tally(outcomes)).toEqual({ ok: everyone.length });
}

function ref(person: Person): CandidateRef {
  return { accountId: person.accountId, provinceCode: person.provinceCode, candidateId: person.candidateId };
}

async function reserveWrittenAll(everyone: readonly Person[], subject: WrittenSubject, now: number) {
  const order = shuffled(everyone.length);
  const outcomes = await Promise.all(
    order.map((n) =>
      via(n + 5).reserveWritten({ ...ref(everyone[n]!), subject, eligible: true, fee: 30, now }),
    ),
  );
  return order.map((n, k) => ({ person: everyone[n]!, outcome: outcomes[k]!, client: (n + 5) % CLIENTS }));
}

async function expectClean(expected: { registrations: number; liveItems: number }): Promise<void> {
  const report = await checkInvariants(te.engine, [PROVINCE]);
  expect(report.violations).toEqual([]);
  expect(report.registrations).toBe(expected.registrations);
  expect(report.liveItems).toBe(expected.liveItems);
  expect(report.seatsUsed).toBe(expected.liveItems);
}

async function seatsUsed(subject: string): Promise<Record<string, number>> {
  const counts = await te.engine.seatCounts(PROVINCE);
  return Object.fromEntries(counts.filter((c) => c.subject === subject).map((c) => [c.campusId, c.used]));
}

/** type → data of every event in the province's outbox stream. */
async function events(type: string): Promise<Record<string, unknown>[]> {
  const all = await streamEvents(te.redis, te.engine.keys.province(PROVINCE).stream);
  return all.filter((event) => event.type === type).map((event) => event.data);
}

describe('seat surges (I1)', () => {
  it('10,000 candidates race for 5 × 37 written seats: exactly 185 succeed, the rest are SOLD_OUT', async () => {
    const campusIds = ['W1', 'W2', 'W3', 'W4', 'W5'];
    await loadFixture(te.engine, {
      campuses: campusIds.map((campusId) => campus({ campusId, capacity: { CET4: 37 } })),
    });
    const everyone = people(10_000, 100_000, (n) => campusIds[n % campusIds.length]!);
    await bindAll(everyone);

    const results = await reserveWrittenAll(everyone, 'CET4', T0 + 1000);

    expect(tally(results.map((r) => r.outcome))).toEqual({ ok: 185, SOLD_OUT: 9815 });
    const winnersPerCampus: Record<string, number> = {};
    const winningClients = new Set<number>();
    for (const { person, outcome, client } of results) {
      if (!outcome.ok) continue;
      expect(outcome.item.campusId).toBe(person.campusId);
      winnersPerCampus[person.campusId] = (winnersPerCampus[person.campusId] ?? 0) + 1;
      winningClients.add(client);
    }
    // the seats went to callers of more than one connection: the race really interleaved at Redis
    // (how many depends on which pipelined batches reach Redis first: 5 of 12 was seen in CI)
    expect(winningClients.size).toBeGreaterThan(1);
    expect(winnersPerCampus).toEqual({ W1: 37, W2: 37, W3: 37, W4: 37, W5: 37 });
    const counts = await te.engine.seatCounts(PROVINCE);
    expect(counts.map((c) => [c.campusId, c.used, c.remaining, c.color])).toEqual(
      campusIds.map((id) => [id, 37, 0, 'RED']),
    );
    await expectClean({ registrations: 10_000, liveItems: 185 });
  });

  it('4,000 candidates holding CET4 race for a few CET-SET4 seats: exactly the capacity succeeds', async () => {
    const oralSeats: Record<string, number> = { O1: 7, O2: 5, O3: 3, O4: 0 };
    const campusIds = Object.keys(oralSeats);
    await loadFixture(te.engine, {
      campuses: campusIds.map((campusId) =>
        campus({ campusId, capacity: { CET4: 1000, 'CET-SET4': oralSeats[campusId]! } }),
      ),
    });
    const everyone = people(4000, 200_000, (n) => campusIds[n % campusIds.length]!);
    await bindAll(everyone);
    expect(tally((await reserveWrittenAll(everyone, 'CET4', T0)).map((r) => r.outcome))).toEqual({
      ok: 4000,
    });

    // every candidate aims at some campus (mostly not their own), all at once
    const subject: OralSubject = 'CET-SET4';
    const order = shuffled(everyone.length);
    const targets = order.map((n) => campusIds[(n * 7 + Math.floor(n / 4)) % campusIds.length]!);
    const outcomes = await Promise.all(
      order.map((n, k) =>
        via(n + 3).reserveOral({
          ...ref(everyone[n]!),
          subject,
          campusId: targets[k]!,
          fee: 50,
          now: T0 + 1,
        }),
      ),
    );

    expect(tally(outcomes)).toEqual({ ok: 15, SOLD_OUT: 3985 });
    const winnersPerCampus: Record<string, number> = {};
    outcomes.forEach((outcome, k) => {
      if (outcome.ok) winnersPerCampus[targets[k]!] = (winnersPerCampus[targets[k]!] ?? 0) + 1;
    });
    expect(winnersPerCampus).toEqual({ O1: 7, O2: 5, O3: 3 });
    expect(await seatsUsed('CET-SET4')).toEqual({ O1: 7, O2: 5, O3: 3, O4: 0 });
    await expectClean({ registrations: 4000, liveItems: 4015 });
  });
});

/** Every binding attempt at campus B1 at once, in a shuffled order; the order and the outcomes. */
async function bindAtOnce(attempts: readonly { candidateId: string; accountId: string }[]) {
  const order = shuffled(attempts.length);
  const outcomes = await Promise.all(
    order.map((n) =>
      bind(via(n), {
        ...attempts[n]!,
        provinceCode: PROVINCE,
        campusId: 'B1',
        snapshot: snapshot(),
        now: T0,
      }),
    ),
  );
  // a binding's step 3 is sent without waiting (engine/binding.ts): wait for it before reading the
  // claims through another connection
  await Promise.all(engines.map((engine) => engine.idle()));
  return { order, outcomes };
}

describe('binding races (I2)', () => {
  it('a candidate bound from 50 accounts at once is bound exactly once; the 49 keep no claim', async () => {
    await loadFixture(te.engine, { campuses: [campus({ campusId: 'B1' })] });
    const candidates = Array.from({ length: 20 }, (_, c) => String(300_000 + c));
    const attempts = candidates.flatMap((candidateId, c) =>
      Array.from({ length: 50 }, (_, a) => ({ candidateId, accountId: `acc${c}x${a}` })),
    );
    const { order, outcomes } = await bindAtOnce(attempts);

    for (const candidateId of candidates) {
      const mine = order
        .map((n, k) => ({ attempt: attempts[n]!, outcome: outcomes[k]! }))
        .filter((r) => r.attempt.candidateId === candidateId);
      expect(tally(mine.map((r) => r.outcome))).toEqual({ ok: 1, CANDIDATE_ALREADY_BOUND: 49 });
      const winner = mine.find((r) => r.outcome.ok)!.attempt.accountId;
      expect((await te.engine.registration(PROVINCE, candidateId))?.accountId).toBe(winner);
      for (const { attempt } of mine) {
        const claim = await readClaim(te.engine, attempt.accountId);
        if (attempt.accountId === winner) {
          expect(claim).toMatchObject({ state: 'BOUND', provinceCode: PROVINCE, candidateId });
        } else {
          expect(claim).toBeNull();
        }
      }
    }
    await expectClean({ registrations: 20, liveItems: 0 });
  });

  it('an account bound to 50 candidates at once gets exactly one; the 49 candidates stay unregistered', async () => {
    await loadFixture(te.engine, { campuses: [campus({ campusId: 'B1' })] });
    const accounts = Array.from({ length: 20 }, (_, a) => `acc${a}`);
    const attempts = accounts.flatMap((accountId, a) =>
      Array.from({ length: 50 }, (_, c) => ({ accountId, candidateId: String(400_000 + a * 50 + c) })),
    );
    const { order, outcomes } = await bindAtOnce(attempts);

    for (const accountId of accounts) {
      const mine = order
        .map((n, k) => ({ attempt: attempts[n]!, outcome: outcomes[k]! }))
        .filter((r) => r.attempt.accountId === accountId);
      expect(tally(mine.map((r) => r.outcome))).toEqual({ ok: 1, ACCOUNT_ALREADY_BOUND: 49 });
      const winner = mine.find((r) => r.outcome.ok)!.attempt.candidateId;
      expect(await readClaim(te.engine, accountId)).toMatchObject({ state: 'BOUND', candidateId: winner });
      for (const { attempt } of mine) {
        const registration = await te.engine.registration(PROVINCE, attempt.candidateId);
        if (attempt.candidateId === winner) expect(registration?.accountId).toBe(accountId);
        else expect(registration).toBeNull();
      }
    }
    await expectClean({ registrations: 20, liveItems: 0 });
  });
});

describe('same-level race (R16, I3)', () => {
  it('CET4, CJT4 and CGT4 at once for 200 candidates: exactly one level-4 subject each; CET6 is not blocked', async () => {
    await loadFixture(te.engine, {
      campuses: [campus({ campusId: 'L1', capacity: { CET4: 500, CJT4: 500, CGT4: 500, CET6: 500 } })],
    });
    const everyone = people(200, 500_000, () => 'L1');
    await bindAll(everyone);
    const subjects: WrittenSubject[] = ['CET4', 'CJT4', 'CGT4', 'CET6'];
    const calls = everyone.flatMap((person) => subjects.map((subject) => ({ person, subject })));
    const order = shuffled(calls.length);
    const outcomes = await Promise.all(
      order.map((n) =>
        via(n).reserveWritten({
          ...ref(calls[n]!.person),
          subject: calls[n]!.subject,
          eligible: true,
          fee: 30,
          now: T0,
        }),
      ),
    );

    const bySubject: Record<string, Record<string, number>> = {};
    const levelFourWins = new Map<string, number>();
    order.forEach((n, k) => {
      const { person, subject } = calls[n]!;
      const outcome = outcomes[k]!;
      const key = outcome.ok ? 'ok' : outcome.code;
      (bySubject[subject] ??= {})[key] = (bySubject[subject]?.[key] ?? 0) + 1;
      if (outcome.ok && subject !== 'CET6')
        levelFourWins.set(person.candidateId, (levelFourWins.get(person.candidateId) ?? 0) + 1);
    });
    expect(bySubject.CET6).toEqual({ ok: 200 });
    expect([...levelFourWins.values()].every((wins) => wins === 1)).toBe(true);
    expect(levelFourWins.size).toBe(200);
    const levelFourOutcomes = outcomes.filter((_, k) => calls[order[k]!]!.subject !== 'CET6');
    expect(tally(levelFourOutcomes)).toEqual({ ok: 200, SAME_LEVEL_TAKEN: 400 });
    for (const person of everyone) {
      const registration = await te.engine.registration(PROVINCE, person.candidateId);
      const live = registration!.written.filter((item) => item.status === 'HELD').map((item) => item.subject);
      expect(live).toHaveLength(2);
      expect(live).toContain('CET6');
    }
    await expectClean({ registrations: 200, liveItems: 400 });
  });
});

describe('cancel/reserve storm (I1, counters)', () => {
  it('300 candidates reserving and cancelling on 5 written + 3 oral seats keep counters equal to live items', async () => {
    const capacity = { CET4: 5, 'CET-SET4': 3 };
    await loadFixture(te.engine, { campuses: [campus({ campusId: 'S1', capacity })] });
    const everyone = people(300, 600_000, () => 'S1');
    await bindAll(everyone);

    const net = { CET4: 0, 'CET-SET4': 0 };
    const reservedOk = { CET4: 0, 'CET-SET4': 0 };
    let storming = true;
    let samples = 0;
    const sampler = (async () => {
      while (storming) {
        const used = await seatsUsed('CET4');
        const oral = await seatsUsed('CET-SET4');
        expect(used.S1).toBeLessThanOrEqual(capacity.CET4);
        expect(oral.S1).toBeLessThanOrEqual(capacity['CET-SET4']);
        samples++;
      }
    })();
    const storm = everyone.map(async (person, n) => {
      for (let step = 0; step < 12; step++) {
        const engine = via(n + step);
        const now = T0 + step * 1000;
        const roll = Math.random();
        if (roll < 0.35) {
          const outcome = await engine.reserveWritten({
            ...ref(person),
            subject: 'CET4',
            eligible: true,
            fee: 30,
            now,
          });
          if (outcome.ok) {
            net.CET4++;
            reservedOk.CET4++;
          }
        } else if (roll < 0.55) {
          const outcome = await engine.reserveOral({
            ...ref(person),
            subject: 'CET-SET4',
            campusId: 'S1',
            fee: 50,
            now,
          });
          if (outcome.ok) {
            net['CET-SET4']++;
            reservedOk['CET-SET4']++;
          }
        } else {
          const subject = roll < 0.85 ? 'CET4' : 'CET-SET4';
          const outcome = await engine.cancel({ ...ref(person), subject, now });
          if (outcome.ok) for (const cancelled of outcome.cancelled) net[cancelled as keyof typeof net]--;
        }
      }
    });
    try {
      await Promise.all(storm);
    } finally {
      storming = false;
      await sampler;
    }

    // the storm really recycled seats (far more successful holds than seats), and nothing leaked
    expect(reservedOk.CET4).toBeGreaterThan(2 * capacity.CET4);
    expect(samples).toBeGreaterThan(0);
    expect(await seatsUsed('CET4')).toEqual({ S1: net.CET4 });
    expect(await seatsUsed('CET-SET4')).toEqual({ S1: net['CET-SET4'] });
    const held = await events('HELD');
    const cancelled = await events('CANCELLED');
    expect(held).toHaveLength(reservedOk.CET4 + reservedOk['CET-SET4']);
    expect(held.length - cancelled.length).toBe(net.CET4 + net['CET-SET4']);
    await expectClean({ registrations: 300, liveItems: net.CET4 + net['CET-SET4'] });
  });
});

describe('concurrent sweepers (I4)', () => {
  it('4 sweepers over 2,000 due holds release each hold exactly once, then delete each empty registration once', async () => {
    await loadFixture(te.engine, {
      campuses: ['X1', 'X2'].map((campusId) => campus({ campusId, capacity: { CET4: 1000 } })),
    });
    const everyone = people(2000, 700_000, (n) => (n % 2 === 0 ? 'X1' : 'X2'));
    await bindAll(everyone);
    // 20 different due seconds, so that the sweepers also race over the deadline index itself
    const holds = await Promise.all(
      everyone.map((person, n) =>
        via(n).reserveWritten({
          ...ref(person),
          subject: 'CET4',
          eligible: true,
          fee: 30,
          now: T0 + (n % 20) * 1000,
        }),
      ),
    );
    expect(tally(holds)).toEqual({ ok: 2000 });
    const holdIds = holds.map((h) => (h.ok ? h.item.holdId : -1));

    const sweepAt = T0 + 12 * HOUR_MS + 60_000;
    const sweep = (now: number) =>
      Promise.all(engines.slice(0, 4).map((engine) => expireDue(engine, PROVINCE, now, { batchSize: 50 })));
    const flatten = (results: SweepResult[]) => ({
      expired: results.flatMap((r) => r.expired),
      deleted: results.flatMap((r) => r.deleted),
    });

    const first = flatten(await sweep(sweepAt));
    expect(first.deleted).toEqual([]);
    expect(first.expired).toHaveLength(2000);
    expect(new Set(first.expired.map((e) => e.holdId))).toEqual(new Set(holdIds));
    const expiredEvents = new Map<number, number>();
    for (const data of await events('EXPIRED'))
      expiredEvents.set(Number(data.holdId), (expiredEvents.get(Number(data.holdId)) ?? 0) + 1);
    expect(expiredEvents.size).toBe(2000);
    expect([...expiredEvents.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    expect(await seatsUsed('CET4')).toEqual({ X1: 0, X2: 0 });
    const statuses = await Promise.all(
      everyone.map(async (p) => (await te.engine.registration(PROVINCE, p.candidateId))?.written[0]?.status),
    );
    expect(new Set(statuses)).toEqual(new Set(['EXPIRED']));
    await expectClean({ registrations: 2000, liveItems: 0 });

    // every released seat can be taken again (I4)
    const again = everyone.slice(0, 100);
    const resold = await Promise.all(
      again.map((person, n) =>
        via(n).reserveWritten({ ...ref(person), subject: 'CET4', eligible: true, fee: 30, now: sweepAt }),
      ),
    );
    expect(tally(resold)).toEqual({ ok: 100 });

    // 12 h later the 1,900 registrations left empty are deleted (R8) exactly once, bindings released
    const second = flatten(await sweep(sweepAt + 12 * HOUR_MS + 1000));
    expect(second.expired).toHaveLength(100);
    expect(second.deleted).toHaveLength(1900);
    expect(new Set(second.deleted.map((d) => d.candidateId)).size).toBe(1900);
    const deletedEvents = await events('DELETED');
    expect(deletedEvents).toHaveLength(1900);
    const kept = new Set(again.map((p) => p.candidateId));
    for (const person of everyone) {
      const claim = await readClaim(te.engine, person.accountId);
      if (kept.has(person.candidateId))
        expect(claim).toMatchObject({ state: 'BOUND', candidateId: person.candidateId });
      else expect(claim).toBeNull();
    }
    expect(await seatsUsed('CET4')).toEqual({ X1: 0, X2: 0 });
    await expectClean({ registrations: 100, liveItems: 0 });
  });
});
