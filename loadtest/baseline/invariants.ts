/**
 * The baseline's invariants (DOMAIN.md I1–I3), checked from its tables after a run, so that a
 * speed ratio is only ever reported for a baseline that stayed correct. Read-only.
 */
import { query, type Pool } from '../../db/pool.ts';

export interface BaselineInvariantReport {
  readonly ok: boolean;
  readonly violations: string[];
  readonly checked: Record<string, number>;
}

const LIVE = `status IN ('HELD', 'PAID')`;

export async function checkBaselineInvariants(pool: Pool): Promise<BaselineInvariantReport> {
  const violations: string[] = [];

  // I1 (R17): taken never exceeds capacity, and taken is exactly the live holds there.
  const seats = await query<{
    campus_id: string;
    subject: string;
    capacity: number;
    taken: number;
    live: number;
  }>(
    pool,
    `SELECT cap.campus_id, cap.subject, cap.capacity, cap.taken, count(i.item_id)::int AS live
     FROM baseline.capacity cap
     LEFT JOIN baseline.items i ON i.campus_id = cap.campus_id AND i.subject = cap.subject AND i.${LIVE}
     GROUP BY cap.campus_id, cap.subject, cap.capacity, cap.taken`,
  );
  for (const seat of seats) {
    const where = `${seat.campus_id}|${seat.subject}`;
    if (seat.taken > seat.capacity)
      violations.push(`I1 ${where}: taken ${seat.taken} > capacity ${seat.capacity}`);
    if (seat.taken < 0) violations.push(`I1 ${where}: taken ${seat.taken} < 0`);
    if (seat.taken !== seat.live)
      violations.push(`I1 ${where}: taken ${seat.taken} but ${seat.live} live items`);
    if (seat.live > seat.capacity)
      violations.push(`I1 ${where}: ${seat.live} live items > capacity ${seat.capacity}`);
  }

  // I2 (R6): one account <-> one candidate, both ways (the UNIQUE constraints say so; verify).
  const bindings = await query<{ side: string; id: string; n: number }>(
    pool,
    `SELECT 'account' AS side, account_id AS id, count(*)::int AS n FROM baseline.bindings
       GROUP BY account_id HAVING count(*) > 1
     UNION ALL
     SELECT 'candidate', candidate_id, count(*)::int FROM baseline.bindings
       GROUP BY candidate_id HAVING count(*) > 1`,
  );
  for (const row of bindings) violations.push(`I2 ${row.side} ${row.id} bound ${row.n} times`);

  // I3 (R16, R18, R15): one live written subject per level, one live item per subject, an oral
  // item only beside its live written item, a written item only at the candidate's own campus.
  const items = await query<{ problem: string; candidate_id: string; detail: string }>(
    pool,
    `SELECT 'two live written subjects of level' AS problem, candidate_id, level::text AS detail
       FROM baseline.items WHERE kind = 'written' AND ${LIVE}
       GROUP BY candidate_id, level HAVING count(*) > 1
     UNION ALL
     SELECT 'subject live twice', candidate_id, subject
       FROM baseline.items WHERE ${LIVE} GROUP BY candidate_id, subject HAVING count(*) > 1
     UNION ALL
     SELECT 'oral without its written subject', o.candidate_id, o.subject
       FROM baseline.items o WHERE o.kind = 'oral' AND o.${LIVE} AND NOT EXISTS (
         SELECT 1 FROM baseline.items w WHERE w.candidate_id = o.candidate_id
           AND w.subject = o.requires_subject AND w.kind = 'written' AND w.${LIVE})
     UNION ALL
     SELECT 'written away from the own campus', i.candidate_id, i.subject
       FROM baseline.items i JOIN baseline.candidates c USING (candidate_id)
       WHERE i.kind = 'written' AND i.${LIVE} AND i.campus_id <> c.campus_id`,
  );
  for (const row of items) violations.push(`I3 candidate ${row.candidate_id}: ${row.problem} ${row.detail}`);

  const [counts] = await query<{ bindings: number; live_items: number; candidates: number }>(
    pool,
    `SELECT (SELECT count(*) FROM baseline.bindings)::int AS bindings,
            (SELECT count(*) FROM baseline.items WHERE ${LIVE})::int AS live_items,
            (SELECT count(*) FROM baseline.candidates)::int AS candidates`,
  );
  return {
    ok: violations.length === 0,
    violations,
    checked: {
      seatCounters: seats.length,
      bindings: counts?.bindings ?? 0,
      liveItems: counts?.live_items ?? 0,
      candidates: counts?.candidates ?? 0,
    },
  };
}
