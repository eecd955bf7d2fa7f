/**
 * One candidate's opening walk through the engine, without HTTP: bind, race for a written seat,
 * 40 % of CET4 holders race for an oral seat, 70 % of holders order and pay. Shared by the
 * engine-level surge (engineSurge.ts) and the shards benchmark (shards.ts), so both drive the very
 * same mix of scripts. It only calls the engine: timing and counting belong to the caller's hooks.
 */
import { bind, type Engine } from '../../engine/index.ts';
import { maskIdNumber } from '../../engine/idNumber.ts';
import { isWrittenSubject, type WrittenSubject } from '../../engine/subjects.ts';
import type { RosterEntry, World } from '../../engine/world.ts';

export type WalkOp = 'bind' | 'written' | 'oral' | 'order' | 'pay';

export interface WalkHooks {
  /** Runs one engine call (the caller may time it); must return what `work` returns. */
  readonly timed: <T>(op: WalkOp, work: () => Promise<T>) => Promise<T>;
  /** An outcome, `op:CODE` (`bind:OK`, `written:SOLD_OUT`, `pay:PAID` …). */
  readonly count: (outcome: string) => void;
}

/** The opening minute of the last province to open, after every campus's own-school oral opening. */
export function openingNowOf(world: World): number {
  const lastOpening = Math.max(...world.calendar.map((c) => c.registrationOpensAt));
  return Math.max(lastOpening, ...world.campuses.map((c) => c.oralOpens.ownSchoolAt)) + 60_000;
}

/** Walks one roster entry at `now` (within the opening minute): 1 to 5 engine calls; false when the bind was refused. */
export async function walkCandidate(
  engine: Engine,
  entry: RosterEntry,
  fees: World['fees'],
  now: number,
  hooks: WalkHooks,
): Promise<boolean> {
  const { timed, count } = hooks;
  const ref = {
    accountId: `acc${entry.candidateId}`,
    provinceCode: entry.provinceCode,
    candidateId: entry.candidateId,
  };
  const bound = await timed('bind', () =>
    bind(engine, {
      ...ref,
      campusId: entry.campusId,
      now,
      snapshot: {
        name: entry.name,
        idType: entry.idType,
        idMasked: maskIdNumber(entry.idNumber),
        schoolId: entry.schoolId,
        grade: entry.grade,
        eligibleSubjects: entry.eligibleSubjects,
      },
    }),
  );
  count(`bind:${bound.ok ? 'OK' : bound.code}`);
  if (!bound.ok) return false;
  const subject: WrittenSubject = entry.eligibleSubjects.includes('CET4')
    ? 'CET4'
    : entry.eligibleSubjects[0]!;
  const written = await timed('written', () =>
    engine.reserveWritten({
      ...ref,
      subject,
      eligible: isWrittenSubject(subject),
      fee: fees[subject] ?? 30,
      now,
    }),
  );
  count(`written:${written.ok ? 'OK' : written.code}`);
  if (written.ok && subject === 'CET4' && Math.random() < 0.4) {
    const oral = await timed('oral', () =>
      engine.reserveOral({
        ...ref,
        subject: 'CET-SET4',
        campusId: entry.campusId,
        fee: fees['CET-SET4'] ?? 50,
        now,
      }),
    );
    count(`oral:${oral.ok ? 'OK' : oral.code}`);
  }
  if (written.ok && Math.random() < 0.7) {
    const order = await timed('order', () => engine.createOrder({ ...ref, method: 'ALIPAY', now }));
    if (order.ok) {
      const paid = await timed('pay', () =>
        engine.confirmPayment({
          orderId: order.order.orderId,
          now: now + 5_000,
          providerTx: `tx-${order.order.orderId}`,
        }),
      );
      count(`pay:${paid.ok ? paid.order.status : paid.code}`);
    }
  }
  return true;
}
