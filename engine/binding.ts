/**
 * The account↔candidate binding (R5–R8, I2) across two shards. The candidate side lives with the
 * province (`{pNN}`), the account side with the account (`{aN}`): on Redis Cluster they cannot
 * share a hash tag, so one script cannot decide both. The protocol:
 *   1. claimAccount  (account shard)  claim the account for (province, candidate, fresh token);
 *                                     an existing claim is settled first (below);
 *   2. bindCandidate (province shard) bind the candidate to (account, token) unless it is bound;
 *                                     refuses a fenced token;
 *   3. finalizeClaim (account shard)  on success, not waited for; on refusal, releaseClaim
 *                                     (compensation).
 * At every instant a candidate names at most one account (one record per candidate) and an
 * account names at most one candidate (one claim per account); a claim counts only while the
 * province side confirms it with the same token. A claim left pending by a crashed caller is
 * recovered after `claimStaleMs`: resolveBind either finds the bind done (finalize) or fences its
 * token so that a late step 2 can never land (then release). Registrations deleted by R8 leave a
 * stale "bound" claim only until the sweeper's release, or the next access, removes it.
 */
import { randomBytes } from 'node:crypto';
import type { Outcome } from './codes.ts';
import type { CandidateRef, Engine } from './engine.ts';
import { dueBucketOf } from './keys.ts';
import { decodeRegistration, encodeSnapshot, type RegistrationView, type Snapshot } from './views.ts';

/** What the hot reservation path needs of a binding: fixed once bound (I2, R7). */
export interface BoundRef extends CandidateRef {
  readonly eligibleSubjects: readonly string[];
  /**
   * When the binding was saved: which binding these eligible subjects belong to. A registration
   * deleted (R8) and bound anew has another, so a hold made from a stale copy is refused.
   */
  readonly savedAt: number;
}

export interface AccountClaim {
  readonly state: 'PENDING' | 'BOUND';
  readonly provinceCode: string;
  readonly candidateId: string;
  readonly token: string;
  readonly claimedAt: number;
}

export function parseClaim(raw: string): AccountClaim {
  const [state, provinceCode, candidateId, token, claimedAt] = raw.split('|');
  if (!provinceCode || !candidateId || !token || claimedAt === undefined)
    throw new Error(`bad claim: ${raw}`);
  return {
    state: state === 'B' ? 'BOUND' : 'PENDING',
    provinceCode,
    candidateId,
    token,
    claimedAt: Number(claimedAt),
  };
}

export type BindCode =
  | 'REGISTRATION_NOT_OPEN'
  | 'REGISTRATION_CLOSED'
  | 'ACCOUNT_ALREADY_BOUND'
  | 'CANDIDATE_ALREADY_BOUND'
  | 'BIND_ABORTED'
  | 'QUEUE_PASS_REQUIRED';

export interface BindInput extends CandidateRef {
  /** The candidate's written campus (R15), from the school record. */
  readonly campusId: string;
  readonly snapshot: Snapshot;
  readonly now: number;
}

type Settled = 'BOUND' | 'IN_PROGRESS' | 'RELEASED';

export async function readClaim(engine: Engine, accountId: string): Promise<AccountClaim | null> {
  const raw = await engine.redis.hget(engine.keys.account(accountId).claims, accountId);
  return raw === null ? null : parseClaim(raw);
}

/** The province-side record of the claimed candidate, if it is bound to this claim. */
async function confirmedRecord(engine: Engine, accountId: string, claim: AccountClaim): Promise<unknown> {
  const record = await engine.storedRecord(claim.provinceCode, claim.candidateId);
  return record !== null && record.a === accountId && record.k === claim.token ? record : null;
}

export async function finalizeClaim(engine: Engine, accountId: string, token: string): Promise<void> {
  await engine.run('finalizeClaim', [engine.keys.account(accountId).claims], [accountId, token]);
}

export async function releaseClaim(engine: Engine, accountId: string, token: string): Promise<boolean> {
  const answer = await engine.run(
    'releaseClaim',
    [engine.keys.account(accountId).claims],
    [accountId, token],
  );
  return answer.ok && answer.released === true;
}

/** Brings an existing claim to a settled state: confirmed bound, still in progress, or gone. */
async function settleClaim(
  engine: Engine,
  accountId: string,
  claim: AccountClaim,
  now: number,
): Promise<Settled> {
  if ((await confirmedRecord(engine, accountId, claim)) !== null) {
    if (claim.state === 'PENDING') await finalizeClaim(engine, accountId, claim.token);
    return 'BOUND';
  }
  if (claim.state === 'BOUND') {
    // the registration was deleted (R8) and the sweeper has not released the claim yet
    await releaseClaim(engine, accountId, claim.token);
    return 'RELEASED';
  }
  if (now - claim.claimedAt < engine.claimStaleMs) return 'IN_PROGRESS';
  const keys = engine.keys.province(claim.provinceCode);
  const answer = await engine.run(
    'resolveBind',
    [keys.registrations(claim.candidateId), keys.fence],
    [claim.candidateId, accountId, claim.token, now],
  );
  if (answer.ok && answer.outcome === 'BOUND') {
    await finalizeClaim(engine, accountId, claim.token);
    return 'BOUND';
  }
  await releaseClaim(engine, accountId, claim.token);
  return 'RELEASED';
}

/** Step 2's KEYS and ARGV (bindCandidate-10.lua) for a bind attempt holding `token`. */
export function bindCandidateCall(
  engine: Engine,
  input: BindInput,
  token: string,
): { keys: string[]; args: (string | number)[] } {
  const keys = engine.keys.province(input.provinceCode);
  const emptyDeadline = input.now + engine.emptyMs;
  const due = dueBucketOf(emptyDeadline);
  return {
    keys: [
      keys.registrations(input.candidateId),
      keys.calendar,
      keys.fence,
      keys.dueSet,
      keys.dueList(due.member),
      keys.stream,
      keys.queue.room,
      keys.queue.tickets,
      keys.queue.accounts,
      keys.queue.slots,
    ],
    args: [
      input.candidateId,
      input.accountId,
      token,
      input.now,
      input.campusId,
      encodeSnapshot(input.snapshot),
      emptyDeadline,
      due.member,
      due.score,
      engine.queueIdleMs,
    ],
  };
}

/** R6: "save and continue". */
export async function bind(
  engine: Engine,
  input: BindInput,
): Promise<Outcome<{ registration: RegistrationView; replay: boolean }, BindCode>> {
  const token = randomBytes(6).toString('base64url');
  const claims = engine.keys.account(input.accountId).claims;
  let claimed = false;
  for (let attempt = 0; attempt < 3 && !claimed; attempt++) {
    const answer = await engine.run(
      'claimAccount',
      [claims],
      [input.accountId, input.provinceCode, input.candidateId, token, input.now],
    );
    if (!answer.ok) throw new Error('claimAccount cannot refuse');
    if (answer.claimed === true) {
      claimed = true;
      break;
    }
    const existing = parseClaim(String(answer.existing));
    const settled = await settleClaim(engine, input.accountId, existing, input.now);
    if (settled !== 'RELEASED') {
      const sameCandidate =
        existing.provinceCode === input.provinceCode && existing.candidateId === input.candidateId;
      return {
        ok: false,
        code: 'ACCOUNT_ALREADY_BOUND',
        details: { sameCandidate, inProgress: settled === 'IN_PROGRESS' },
      };
    }
  }
  if (!claimed) return { ok: false, code: 'ACCOUNT_ALREADY_BOUND', details: { contended: true } };

  // A lost connection here leaves the outcome unknown and the claim pending: settleClaim recovers it.
  const call = bindCandidateCall(engine, input, token);
  const answer = await engine.run('bindCandidate', call.keys, call.args);
  if (!answer.ok) {
    await releaseClaim(engine, input.accountId, token);
    return engine.refusal(answer, [
      'REGISTRATION_NOT_OPEN',
      'REGISTRATION_CLOSED',
      'CANDIDATE_ALREADY_BOUND',
      'BIND_ABORTED',
      'QUEUE_PASS_REQUIRED',
    ] as const);
  }
  // Step 3 is not waited for: a pending claim that the province side confirms with its token
  // already counts (I2: boundCandidate, settleClaim, the invariant checker), and one left pending by
  // a lost connection is finalized by the next settleClaim. The answer is one round trip sooner;
  // engine.idle() waits for it (a closing connection, a test reading the claims elsewhere).
  engine.background(finalizeClaim(engine, input.accountId, token));
  return {
    ok: true,
    registration: decodeRegistration(input.provinceCode, answer.record),
    replay: answer.replay === true,
  };
}

/** The candidate an account is bound to, confirmed by the province side; null if none. */
export async function boundCandidate(
  engine: Engine,
  accountId: string,
): Promise<(CandidateRef & { registration: RegistrationView }) | null> {
  const claim = await readClaim(engine, accountId);
  if (!claim) return null;
  const record = await confirmedRecord(engine, accountId, claim);
  if (record === null) return null;
  return {
    accountId,
    provinceCode: claim.provinceCode,
    candidateId: claim.candidateId,
    registration: decodeRegistration(claim.provinceCode, record),
  };
}
