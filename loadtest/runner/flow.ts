/**
 * One simulated candidate walking the whole flow over HTTP (API.md), as its behaviour says
 * (loadtest/profiles.ts): log in (captcha + password; skipped with preseeded sessions), accept the
 * agreement (R2), query eligibility (R3, R4), maybe apply for the CET6 review (R9–R13), wait for the
 * opening if early (R5), save the registration (R6), take a written seat (R15–R17), race for an oral
 * seat (R18–R21), then pay through the provider simulator (R22, R23) — or abandon, or refresh, or
 * retry with the same Idempotency-Key, or hammer one campus as a bot does. With a waiting room, the
 * candidate takes a ticket once it knows its province and waits for its turn (queue.ts) before it
 * saves; a gated write answered 403 QUEUE_PASS_REQUIRED sends it back to the line.
 *
 * Returns the candidate's outcome. A replay with the same Idempotency-Key that does not return the
 * first answer is a contract violation, reported through `onViolation`.
 */
import { randomUUID } from 'node:crypto';
import type { Behaviour } from '../profiles.ts';
import type { AcknowledgedLedger } from './acknowledged.ts';
import type { Answer, SurgeClient } from './client.ts';
import { waitForPass, type QueueContext } from './queue.ts';
import type { SurgeCandidate } from './world.ts';
import { SURGE_PASSWORD } from './world.ts';

export interface FlowContext {
  readonly client: SurgeClient;
  /** performance.now() at which registration opens (R5): early candidates wait for it. */
  readonly opensAtPerfMs: number;
  /** Share of candidates holding a written seat who also race for an oral seat. */
  readonly oralShare: number;
  /** The campus bots hammer (the province's most wanted oral campus). */
  readonly botCampusId: string | null;
  readonly random: () => number;
  /** The province's waiting room, when the run has one: candidates take a ticket and wait. */
  readonly queue?: QueueContext;
  /** Notes every write acknowledged to the candidate, to be read back after the run (acknowledged.ts). */
  readonly acknowledged?: AcknowledgedLedger;
  /**
   * Waits that hold no request (for the opening, for a turn in the line): the generator does not
   * count a candidate parked in one as walking (run.ts runArrivals). Default: just the wait.
   */
  readonly park?: <T>(wait: Promise<T>) => Promise<T>;
  /** A seat (written or oral) was acknowledged: the phases' unit of work. */
  readonly reserved?: () => void;
  onViolation(message: string): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const ORAL_OF: Readonly<Record<string, string>> = { CET4: 'CET-SET4', CET6: 'CET-SET6' };

/** Written subject a candidate goes for: CET4 when eligible, else CET6, else the first offered. */
function writtenSubjectOf(eligible: readonly string[]): string | null {
  if (eligible.includes('CET4')) return 'CET4';
  if (eligible.includes('CET6')) return 'CET6';
  return eligible[0] ?? null;
}

function sameAnswer(a: Answer, b: Answer): boolean {
  return a.status === b.status && JSON.stringify(a.body) === JSON.stringify(b.body);
}

export async function walkCandidate(
  ctx: FlowContext,
  candidate: SurgeCandidate,
  behaviour: Behaviour,
): Promise<string> {
  const { client } = ctx;
  const key = (): string => randomUUID();
  let token = candidate.token;
  if (token === null) {
    const captcha = await client.call('captcha', 'GET', '/api/v1/captcha');
    if (captcha.status !== 200) return 'failed:captcha';
    const session = await client.call('login', 'POST', '/api/v1/sessions', {
      body: {
        login: candidate.phone,
        password: SURGE_PASSWORD,
        captchaId: captcha.body.captchaId,
        captchaAnswer: captcha.body.testAnswer,
      },
      // a login shed with 503 is retried with its key: the retry gets the first answer, whatever
      // became of the captcha (API.md: every state-changing POST takes an Idempotency-Key); at an
      // opening a person keeps trying for a while
      idempotencyKey: key(),
    });
    if (session.status !== 200) return 'failed:login';
    token = String(session.body.token);
    const agreed = await client.call('agreement', 'POST', '/api/v1/agreement', {
      token,
      body: { accepted: true },
      idempotencyKey: key(),
    });
    if (agreed.status !== 200) return 'failed:agreement';
  }
  const { idType, idNumber, name } = candidate.entry;
  const identity = { idType, idNumber, name };
  const eligibility = await client.call('eligibility', 'POST', '/api/v1/eligibility/query', {
    token,
    body: identity,
  });
  if (eligibility.status !== 200) return 'failed:eligibility';

  if (behaviour === 'cet6Reviewer' && eligibility.body.cet6Review?.offered && candidate.ticket) {
    await client.call('cet6Review', 'POST', '/api/v1/cet6-review', {
      token,
      body: { ticketNumber: candidate.ticket, confirm: true, ...identity },
      idempotencyKey: key(),
      refusals: ['REVIEW_NO_MATCH', 'REVIEW_EXISTS'],
    });
  }

  const provinceCode = String(eligibility.body.candidate?.provinceCode ?? '');
  /** Waits for a turn in the waiting room; null when the candidate may go on. */
  const takeTurn = async (): Promise<string | null> => {
    if (!ctx.queue) return null;
    const waiting = waitForPass(ctx.queue, token, provinceCode, behaviour, key());
    const passed = await (ctx.park ? ctx.park(waiting) : waiting);
    if (passed === 'admitted' || passed === 'notActive') return null;
    return passed === 'abandoned' ? 'abandonedInQueue' : `failed:queue:${passed}`;
  };
  /** A gated write: sent again (with a new key) after a turn in the line when it needs a pass. */
  const gated = async (send: (idempotencyKey: string) => Promise<Answer>): Promise<Answer | string> => {
    for (let attempt = 0; ; attempt++) {
      const answer = await send(key());
      if (answer.code !== 'QUEUE_PASS_REQUIRED' || !ctx.queue || attempt >= 2) return answer;
      const left = await takeTurn();
      if (left !== null) return left;
    }
  };

  const turn = await takeTurn();
  if (turn !== null) return turn;
  const early = ctx.opensAtPerfMs - performance.now();
  if (early > 0) {
    const opening = sleep(early + ctx.random() * 300);
    await (ctx.park ? ctx.park(opening) : opening);
  }

  const saved = await gated((idempotencyKey) =>
    client.call('bind', 'POST', '/api/v1/registration', {
      token,
      body: { ...identity, confirm: true },
      idempotencyKey,
    }),
  );
  if (typeof saved === 'string') return saved;
  if (saved.status !== 201) return `failed:bind`;
  ctx.acknowledged?.registration(token);
  const subject = writtenSubjectOf(eligibility.body.eligibleSubjects ?? []);
  if (subject === null) return 'nothingEligible';

  if (behaviour === 'refresh') {
    for (let i = 0; i < 3; i++) {
      await client.call('refresh', 'GET', '/api/v1/registration', { token });
      const oral = ORAL_OF[subject];
      if (oral) await client.call('refresh', 'GET', `/api/v1/oral/campuses?subject=${oral}`, { token });
    }
  }

  let writtenKey = key();
  const writtenRefusals = ['SOLD_OUT', 'SAME_LEVEL_TAKEN', 'ALREADY_REGISTERED'];
  const written = await gated((idempotencyKey) => {
    writtenKey = idempotencyKey;
    return client.call('written', 'POST', '/api/v1/registration/written', {
      token,
      body: { subject },
      idempotencyKey,
      refusals: writtenRefusals,
    });
  });
  if (typeof written === 'string') return written;
  if (behaviour === 'retrySameKey') {
    const replay = await client.call('written', 'POST', '/api/v1/registration/written', {
      token,
      body: { subject },
      idempotencyKey: writtenKey,
      refusals: writtenRefusals,
    });
    if (replay.status !== 409 && !sameAnswer(written, replay)) {
      ctx.onViolation(
        `idempotency: a replay of ${subject} with the same key answered ${replay.status}, first ${written.status}`,
      );
    }
  }
  if (written.status !== 201) return written.code === 'SOLD_OUT' ? 'writtenSoldOut' : `failed:written`;
  ctx.acknowledged?.written(token, subject);
  ctx.reserved?.();

  let oralHeld = false;
  const oralSubject = ORAL_OF[subject];
  if (oralSubject && (behaviour === 'botHammeringOneCampus' || ctx.random() < ctx.oralShare)) {
    oralHeld = await raceForOral(ctx, token, candidate, oralSubject, behaviour === 'botHammeringOneCampus');
  }

  if (behaviour === 'abandon') return oralHeld ? 'abandonedWithOral' : 'abandoned';
  const order = await client.call('order', 'POST', '/api/v1/payments', {
    token,
    body: { method: 'ALIPAY' },
    idempotencyKey: key(),
  });
  if (order.status !== 201) return 'failed:order';
  // a late payer pays after the hold deadline: the order stays PENDING in this run, its items
  // expire 12 h later (R22) and a payment arriving then ends LATE_REFUND (R23; tests/persistence)
  if (behaviour === 'latePayer') return 'latePayer';
  let paid = await client.callUrl('pay', String(order.body.payUrl), { result: 'SUCCESS' });
  // 502 NOT_ACKNOWLEDGED: the gateway shed the provider's every delivery of the notification (its
  // 503s under load); the person pays again a moment later, which re-delivers the same trade (the
  // gateway counts it once), as a real provider keeps re-notifying for hours
  for (let again = 0; paid.status === 502 && again < 2; again++) {
    await sleep(1_000 + ctx.random() * 1_000);
    paid = await client.callUrl('pay', String(order.body.payUrl), { result: 'SUCCESS' });
  }
  if (paid.status !== 200) return 'failed:pay';
  const status = await client.call(
    'paymentStatus',
    'GET',
    `/api/v1/payments/${encodeURIComponent(order.body.orderId)}`,
    {
      token,
    },
  );
  if (status.body?.status !== 'PAID') return `failed:paymentStatus`;
  ctx.acknowledged?.paid(token, String(order.body.orderId));
  return oralHeld ? 'paidWithOral' : 'paid';
}

/** Own campus first, then the campuses with the most seats left; up to three tries (R18–R21). */
async function raceForOral(
  ctx: FlowContext,
  token: string,
  candidate: SurgeCandidate,
  subject: string,
  bot: boolean,
): Promise<boolean> {
  const { client } = ctx;
  const refusals = ['SOLD_OUT', 'CAMPUS_NOT_OPEN', 'EXTERNAL_ORAL_NOT_ALLOWED', 'ALREADY_REGISTERED'];
  if (bot && ctx.botCampusId) {
    // a script firing far above a human rate, never waiting for Retry-After (P7: 429s)
    const shots = await Promise.all(
      Array.from({ length: 20 }, () =>
        client.call('botOral', 'POST', '/api/v1/registration/oral', {
          token,
          body: { subject, campusId: ctx.botCampusId },
          refusals,
          noRetry: true,
        }),
      ),
    );
    const held = shots.some((s) => s.status === 201);
    if (held) {
      ctx.acknowledged?.oral(token, subject, ctx.botCampusId);
      ctx.reserved?.();
    }
    return held;
  }
  const listed = await client.call('oralCampuses', 'GET', `/api/v1/oral/campuses?subject=${subject}`, {
    token,
  });
  if (listed.status !== 200 || !Array.isArray(listed.body)) return false;
  const open = (listed.body as { campusId: string; remaining: number }[]).filter((c) => c.remaining > 0);
  const own = open.find((c) => c.campusId === candidate.entry.campusId);
  const others = open.filter((c) => c !== own).sort((a, b) => b.remaining - a.remaining);
  const choices = [...(own ? [own] : []), ...others].slice(0, 3);
  for (const choice of choices) {
    const taken = await client.call('oral', 'POST', '/api/v1/registration/oral', {
      token,
      body: { subject, campusId: choice.campusId },
      idempotencyKey: randomUUID(),
      refusals,
    });
    if (taken.status === 201) {
      ctx.acknowledged?.oral(token, subject, choice.campusId);
      ctx.reserved?.();
      return true;
    }
    if (taken.code === 'EXTERNAL_ORAL_NOT_ALLOWED' || taken.code === 'WRITTEN_REQUIRED') return false;
  }
  return false;
}
