/**
 * Rule tests against real Redis: oral registration needs the written subject (R18), campuses that
 * keep their students for the oral exam (R19), per-campus oral opening times (R20) and the seat
 * colours (R21). Every test runs in a namespace of its own and ends with the invariant checker.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CandidateRef } from '../../engine/engine.ts';
import { seatColor, type OralSubject } from '../../engine/subjects.ts';
import {
  HOUR_MS,
  T0,
  bindOrThrow,
  closeCheckingInvariants,
  campus,
  loadFixture,
  newTestEngine,
  seatOf,
  streamEvents,
  type StreamEvent,
  type TestEngine,
} from '../support/engine.ts';

const ORAL = { CET4: 10, CET6: 10, 'CET-SET4': 10, 'CET-SET6': 10 };

let t: TestEngine;

beforeEach(async () => {
  t = await newTestEngine();
  await loadFixture(t.engine, {
    campuses: [
      // open to everyone from T0
      campus({ campusId: 'C1', capacity: ORAL }),
      // R19: keeps its own students for the oral exam; open to everyone from T0
      campus({ campusId: 'CF', capacity: ORAL, studentsMayTakeOralElsewhere: false }),
      // R20: own students from T0, the rest of the province two hours later
      campus({
        campusId: 'CL',
        capacity: ORAL,
        oralOpens: { ownSchoolAt: T0, provinceWideAt: T0 + 2 * HOUR_MS },
      }),
      // R20: own students only, never the rest of the province
      campus({ campusId: 'CN', capacity: ORAL, oralOpens: { ownSchoolAt: T0, provinceWideAt: null } }),
      // R20: own students from T0 + 1h, the rest from T0 + 3h
      campus({
        campusId: 'CE',
        capacity: ORAL,
        oralOpens: { ownSchoolAt: T0 + HOUR_MS, provinceWideAt: T0 + 3 * HOUR_MS },
      }),
      // written only: no oral seats at all
      campus({ campusId: 'CX', capacity: { CET4: 10 } }),
      // one oral seat
      campus({ campusId: 'C1S', capacity: { CET4: 10, 'CET-SET4': 1 } }),
      // R21: four written seats
      campus({ campusId: 'C4', capacity: { CET4: 4, 'CET-SET4': 4 } }),
    ],
  });
});

afterEach(async () => {
  expect(await closeCheckingInvariants(t)).toEqual([]);
});

async function eventsOf(type: string): Promise<StreamEvent[]> {
  const events = await streamEvents(t.redis, t.engine.keys.province('11').stream);
  return events.filter((event) => event.type === type);
}

const seat = (campusId: string, subject: string) => seatOf(t.engine, campusId, subject);

/** A candidate of `campusId` with CET4 held at T0. */
async function withCet4(candidateId: string, campusId: string): Promise<CandidateRef> {
  const ref = await bindOrThrow(t.engine, { candidateId, campusId });
  const held = await t.engine.reserveWritten({ ...ref, subject: 'CET4', eligible: true, fee: 30, now: T0 });
  if (!held.ok) throw new Error(held.code);
  return ref;
}

function oral(ref: CandidateRef, campusId: string, now: number, subject: OralSubject = 'CET-SET4') {
  return t.engine.reserveOral({ ...ref, subject, campusId, fee: 50, now });
}

async function listed(writtenCampusId: string, now: number): Promise<string[]> {
  return (await t.engine.oralCampuses('11', 'CET-SET4', writtenCampusId, now)).map((c) => c.campusId);
}

describe('REL4: a retry of the same oral request finds its hold', () => {
  it('the same request tag answers the same oral hold; another tag is ALREADY_REGISTERED', async () => {
    const ref = await withCet4('c1', 'C1');
    const hold = (requestTag: string, now: number) =>
      t.engine.reserveOral({ ...ref, subject: 'CET-SET4', campusId: 'C1', fee: 50, now, requestTag });
    const first = await hold('oral-tag-012345', T0);
    if (!first.ok) throw new Error(first.code);
    expect(await hold('oral-tag-012345', T0 + HOUR_MS)).toEqual({ ...first, replayed: true });
    expect(await hold('oral-tag-other01', T0)).toMatchObject({ ok: false, code: 'ALREADY_REGISTERED' });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 1 });
    expect(await eventsOf('HELD')).toHaveLength(2); // CET4 and CET-SET4, once each
  });
});

describe('R18 oral registration needs the written subject', () => {
  it('refuses an oral subject when the written hold is past its pay-by, even before the sweep (R22)', async () => {
    const ref = await withCet4('c9', 'C1');
    const written = (await t.engine.registration('11', 'c9'))!.written[0]!;
    const payBy = written.payBy;
    expect(await oral(ref, 'C1', payBy, 'CET-SET4')).toEqual({
      ok: false,
      code: 'WRITTEN_REQUIRED',
      details: { subject: 'CET4' },
    });
    // one millisecond earlier it was still good
    expect((await oral(ref, 'C1', payBy - 1, 'CET-SET4')).ok).toBe(true);
  });

  it('refuses an oral subject without its written subject: WRITTEN_REQUIRED, nothing changed', async () => {
    const ref = await bindOrThrow(t.engine, { candidateId: 'c1', campusId: 'C1' });
    expect(await oral(ref, 'C1', T0)).toEqual({
      ok: false,
      code: 'WRITTEN_REQUIRED',
      details: { subject: 'CET4' },
    });
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.oral).toEqual([]);
    expect(registration?.deleteAt).toBe(T0 + 12 * HOUR_MS);
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
    expect(await eventsOf('HELD')).toEqual([]);
  });

  it('holds the oral seat once the written subject of the same language and level is held', async () => {
    const ref = await withCet4('c1', 'C1');
    const outcome = await oral(ref, 'C1', T0 + 7);
    if (!outcome.ok) throw new Error(outcome.code);
    expect(outcome.item).toEqual({
      subject: 'CET-SET4',
      kind: 'ORAL',
      campusId: 'C1',
      status: 'HELD',
      heldAt: T0 + 7,
      payBy: T0 + 7 + 12 * HOUR_MS,
      holdId: outcome.item.holdId,
      fee: 50,
      requiresWritten: 'CET4',
      settledAt: null,
    });
    expect(outcome).toMatchObject({ remaining: 9, capacity: 10 });
    const registration = await t.engine.registration('11', 'c1');
    expect(registration?.oral).toEqual([outcome.item]);
    expect(registration?.amountDue).toBe(80);
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 1, remaining: 9 });
    expect((await eventsOf('HELD')).map((e) => [e.data.subject, e.data.kind, e.data.campusId])).toEqual([
      ['CET4', 'WRITTEN', 'C1'],
      ['CET-SET4', 'ORAL', 'C1'],
    ]);
  });

  it('wants the written subject of the same level: CET-SET6 is refused with only CET4', async () => {
    const ref = await withCet4('c1', 'C1');
    expect(await oral(ref, 'C1', T0, 'CET-SET6')).toEqual({
      ok: false,
      code: 'WRITTEN_REQUIRED',
      details: { subject: 'CET6' },
    });
  });

  it('refuses again once the written subject was cancelled', async () => {
    const ref = await withCet4('c1', 'C1');
    await t.engine.cancel({ ...ref, subject: 'CET4', now: T0 + 1 });
    expect(await oral(ref, 'C1', T0 + 2)).toEqual({
      ok: false,
      code: 'WRITTEN_REQUIRED',
      details: { subject: 'CET4' },
    });
  });

  it('refuses ALREADY_REGISTERED on a repeat, at any campus', async () => {
    const ref = await withCet4('c1', 'C1');
    expect((await oral(ref, 'C1', T0)).ok).toBe(true);
    expect(await oral(ref, 'C1', T0 + 1)).toEqual({ ok: false, code: 'ALREADY_REGISTERED' });
    expect(await oral(ref, 'CF', T0 + 1)).toEqual({ ok: false, code: 'ALREADY_REGISTERED' });
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 1 });
    expect(await seat('CF', 'CET-SET4')).toMatchObject({ used: 0 });
  });

  it('refuses NO_REGISTRATION, CAMPUS_NOT_FOUND, SUBJECT_NOT_OFFERED and SOLD_OUT', async () => {
    const ref = await withCet4('c1', 'C1');
    expect(await oral({ ...ref, accountId: 'intruder' }, 'C1', T0)).toEqual({
      ok: false,
      code: 'NO_REGISTRATION',
    });
    expect(await oral(ref, 'NOPE', T0)).toEqual({ ok: false, code: 'CAMPUS_NOT_FOUND' });
    expect(await oral(ref, 'CX', T0)).toEqual({ ok: false, code: 'SUBJECT_NOT_OFFERED' });

    const first = await withCet4('c2', 'C1');
    expect((await oral(first, 'C1S', T0)).ok).toBe(true);
    expect(await oral(ref, 'C1S', T0 + 1)).toEqual({ ok: false, code: 'SOLD_OUT' });
    expect(await seat('C1S', 'CET-SET4')).toMatchObject({ used: 1, remaining: 0, color: 'RED' });
    expect((await t.engine.registration('11', 'c1'))?.oral).toEqual([]);
  });
});

describe('R19 a written campus may keep its students for the oral exam', () => {
  it('refuses another campus with EXTERNAL_ORAL_NOT_ALLOWED and allows the own campus', async () => {
    const ref = await withCet4('c1', 'CF');
    for (const other of ['C1', 'CL', 'CE']) {
      expect(await oral(ref, other, T0 + 4 * HOUR_MS)).toEqual({
        ok: false,
        code: 'EXTERNAL_ORAL_NOT_ALLOWED',
      });
    }
    expect(await seat('C1', 'CET-SET4')).toMatchObject({ used: 0 });
    const own = await oral(ref, 'CF', T0 + 4 * HOUR_MS);
    expect(own.ok && own.item.campusId).toBe('CF');
    expect(await seat('CF', 'CET-SET4')).toMatchObject({ used: 1 });
  });

  it('lists only the own campus for its students, while others may still choose it', async () => {
    expect(await listed('CF', T0 + 4 * HOUR_MS)).toEqual(['CF']);
    expect(await listed('C1', T0 + 4 * HOUR_MS)).toContain('CF');
    const outsider = await withCet4('c2', 'C1');
    expect((await oral(outsider, 'CF', T0)).ok).toBe(true);
  });
});

describe('R20 each campus opens its oral seats at its own time', () => {
  it('opens a campus to its own students at ownSchoolAt and to others at provinceWideAt', async () => {
    const own = await withCet4('c1', 'CL');
    const other = await withCet4('c2', 'C1');
    expect((await oral(own, 'CL', T0 + HOUR_MS)).ok).toBe(true);
    for (const now of [T0 + HOUR_MS, T0 + 2 * HOUR_MS - 1]) {
      expect(await oral(other, 'CL', now)).toEqual({
        ok: false,
        code: 'CAMPUS_NOT_OPEN',
        details: { opensAt: T0 + 2 * HOUR_MS },
      });
    }
    expect(await seat('CL', 'CET-SET4')).toMatchObject({ used: 1 });
    expect((await oral(other, 'CL', T0 + 2 * HOUR_MS)).ok).toBe(true);
    expect(await seat('CL', 'CET-SET4')).toMatchObject({ used: 2 });
  });

  it('never opens a campus without provinceWideAt to other candidates', async () => {
    const own = await withCet4('c1', 'CN');
    // days later, with a written hold of that day (an older one would be past its pay-by, R22)
    const later = T0 + 6 * 24 * HOUR_MS;
    const other = await bindOrThrow(t.engine, { candidateId: 'c2', campusId: 'C1' });
    const held = await t.engine.reserveWritten({
      ...other,
      subject: 'CET4',
      eligible: true,
      fee: 30,
      now: later - 1,
    });
    if (!held.ok) throw new Error(held.code);
    expect(await oral(other, 'CN', later)).toEqual({
      ok: false,
      code: 'CAMPUS_NOT_OPEN',
      details: { opensAt: null },
    });
    expect((await oral(own, 'CN', T0)).ok).toBe(true);
  });

  it('makes own students wait for ownSchoolAt too', async () => {
    const own = await withCet4('c1', 'CE');
    expect(await oral(own, 'CE', T0 + HOUR_MS - 1)).toEqual({
      ok: false,
      code: 'CAMPUS_NOT_OPEN',
      details: { opensAt: T0 + HOUR_MS },
    });
    expect((await oral(own, 'CE', T0 + HOUR_MS)).ok).toBe(true);
  });

  it('lists only the campuses open for that candidate at that time', async () => {
    expect(await listed('C1', T0)).toEqual(['C1', 'C1S', 'C4', 'CF']);
    expect(await listed('C1', T0 + 2 * HOUR_MS)).toEqual(['C1', 'C1S', 'C4', 'CF', 'CL']);
    expect(await listed('C1', T0 + 3 * HOUR_MS)).toEqual(['C1', 'C1S', 'C4', 'CE', 'CF', 'CL']);
    expect(await listed('CN', T0)).toEqual(['C1', 'C1S', 'C4', 'CF', 'CN']);
    expect(await listed('CE', T0)).toEqual(['C1', 'C1S', 'C4', 'CF']);
    expect(await listed('CE', T0 + HOUR_MS)).toEqual(['C1', 'C1S', 'C4', 'CE', 'CF']);
    expect(await listed('CL', T0)).toEqual(['C1', 'C1S', 'C4', 'CF', 'CL']);

    const [entry] = await t.engine.oralCampuses('11', 'CET-SET4', 'CE', T0 + HOUR_MS);
    expect(entry).toEqual({
      campusId: 'C1',
      subject: 'CET-SET4',
      capacity: 10,
      used: 0,
      remaining: 10,
      color: 'GREEN',
      name: 'Campus C1',
      opensAt: T0,
    });
    const ownEntry = (await t.engine.oralCampuses('11', 'CET-SET4', 'CE', T0 + HOUR_MS)).find(
      (c) => c.campusId === 'CE',
    );
    expect(ownEntry?.opensAt).toBe(T0 + HOUR_MS);
  });
});

describe('R21 remaining seats as a colour', () => {
  it('goes GREEN → YELLOW → RED at the half and at zero (capacity 4)', async () => {
    const colours: [number, string][] = [];
    const record = async () => {
      const count = await seat('C4', 'CET4');
      colours.push([count?.remaining ?? -1, count?.color ?? '']);
    };
    await record();
    const refs: CandidateRef[] = [];
    for (let n = 1; n <= 4; n++) {
      const ref = await bindOrThrow(t.engine, { candidateId: `c${n}`, campusId: 'C4' });
      refs.push(ref);
      const held = await t.engine.reserveWritten({
        ...ref,
        subject: 'CET4',
        eligible: true,
        fee: 30,
        now: T0,
      });
      expect(held.ok).toBe(true);
      await record();
    }
    expect(colours).toEqual([
      [4, 'GREEN'],
      [3, 'GREEN'],
      [2, 'YELLOW'],
      [1, 'YELLOW'],
      [0, 'RED'],
    ]);

    // a released seat turns it back
    await t.engine.cancel({ ...refs[0]!, subject: 'CET4', now: T0 + 1 });
    expect(await seat('C4', 'CET4')).toMatchObject({ remaining: 1, color: 'YELLOW' });
  });

  it('still lists a RED oral campus, which cannot be chosen', async () => {
    const first = await withCet4('c1', 'C1');
    expect((await oral(first, 'C1S', T0)).ok).toBe(true);
    const red = (await t.engine.oralCampuses('11', 'CET-SET4', 'C1', T0)).find((c) => c.campusId === 'C1S');
    expect(red).toMatchObject({ remaining: 0, color: 'RED' });
    const second = await withCet4('c2', 'C1');
    expect(await oral(second, 'C1S', T0)).toEqual({ ok: false, code: 'SOLD_OUT' });
  });

  it('seatColor: more than half GREEN, half or less YELLOW, none RED', () => {
    const cases: [number, number, string][] = [
      [4, 4, 'GREEN'],
      [3, 4, 'GREEN'],
      [2, 4, 'YELLOW'],
      [1, 4, 'YELLOW'],
      [0, 4, 'RED'],
      [1, 1, 'GREEN'],
      [0, 1, 'RED'],
      [3, 5, 'GREEN'],
      [2, 5, 'YELLOW'],
      [51, 100, 'GREEN'],
      [50, 100, 'YELLOW'],
      [0, 0, 'RED'],
      [-1, 4, 'RED'],
    ];
    expect(cases.map(([remaining, capacity]) => seatColor(remaining, capacity))).toEqual(
      cases.map(([, , colour]) => colour),
    );
  });
});
