/**
 * What the system acknowledged to the simulated candidates, checked again after the run (issue 14
 * item 3, P9: "killing a master mid-surge loses 0 acknowledged operations"). A candidate's flow
 * (flow.ts) notes each write the gateway answered with success: the saved registration (201), a
 * written or oral hold (201), a confirmed payment (the payment's status PAID). After the surge,
 * every noted write is read back through the public API with the candidate's own token; one that
 * is no longer there — the registration gone, the hold missing or no longer HELD/PAID, the order not
 * PAID, or the session itself refused — is an acknowledged operation lost.
 *
 * Kept per candidate (a token and a few strings), not per request: 3,000 candidates are a few
 * hundred kilobytes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AcknowledgedCheck } from '../report/types.ts';

export type AcknowledgedKind = keyof AcknowledgedCheck['lostByKind'];

interface Noted {
  registration: boolean;
  readonly written: Set<string>;
  /** subject → campusId */
  readonly oral: Map<string, string>;
  readonly paidOrders: Set<string>;
}

const LIVE = new Set(['HELD', 'PAID']);
const EXAMPLES = 10;
/** A read answered 503 (shed, or a store still failing over) is asked again this many times, a second apart. */
const READ_TRIES = 10;

interface Read {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
  readonly body: any;
}

/** GET with the candidate's token, outside the run's recorder (the check is not part of the surge). */
async function read(base: string, path: string, token: string): Promise<Read> {
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    try {
      const answer = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      status = answer.status;
      if (status !== 503 || attempt >= READ_TRIES)
        return { status, body: await answer.json().catch(() => null) };
      await answer.body?.cancel();
    } catch (error) {
      if (attempt >= READ_TRIES) throw error;
    }
    await sleep(1_000);
  }
}

interface ItemView {
  readonly subject: string;
  readonly campusId?: string;
  readonly status: string;
}

export class AcknowledgedLedger {
  private readonly byToken = new Map<string, Noted>();

  private of(token: string): Noted {
    let noted = this.byToken.get(token);
    if (!noted) {
      noted = { registration: false, written: new Set(), oral: new Map(), paidOrders: new Set() };
      this.byToken.set(token, noted);
    }
    return noted;
  }

  registration(token: string): void {
    this.of(token).registration = true;
  }

  written(token: string, subject: string): void {
    this.of(token).written.add(subject);
  }

  oral(token: string, subject: string, campusId: string): void {
    this.of(token).oral.set(subject, campusId);
  }

  paid(token: string, orderId: string): void {
    this.of(token).paidOrders.add(orderId);
  }

  get size(): number {
    let n = 0;
    for (const noted of this.byToken.values()) {
      n += Number(noted.registration) + noted.written.size + noted.oral.size + noted.paidOrders.size;
    }
    return n;
  }

  /** Reads every noted write back (`concurrency` candidates at a time) and counts what is gone. */
  async check(base: string, concurrency = 16): Promise<AcknowledgedCheck> {
    const lostByKind: Record<AcknowledgedKind, number> = { registration: 0, written: 0, oral: 0, payment: 0 };
    const examples: string[] = [];
    let checked = 0;
    const lose = (kind: AcknowledgedKind, what: string): void => {
      lostByKind[kind]++;
      if (examples.length < EXAMPLES) examples.push(`${kind} ${what}`);
    };
    const entries = [...this.byToken.entries()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length) {
        const [token, noted] = entries[next++]!;
        checked += Number(noted.registration) + noted.written.size + noted.oral.size + noted.paidOrders.size;
        const view = await read(base, '/api/v1/registration', token);
        const registration = view.status === 200 ? view.body?.registration : null;
        const why = view.status === 200 ? '' : ` (GET /registration answered ${view.status})`;
        if (noted.registration && !registration) lose('registration', `gone${why}`);
        const items = (list: unknown): ItemView[] => (Array.isArray(list) ? (list as ItemView[]) : []);
        const written = items(registration?.written);
        for (const subject of noted.written) {
          const item = written.find((w) => w.subject === subject);
          if (!item || !LIVE.has(item.status))
            lose('written', `${subject} ${item?.status ?? 'missing'}${why}`);
        }
        const oral = items(registration?.oral);
        for (const [subject, campusId] of noted.oral) {
          const item = oral.find((o) => o.subject === subject);
          if (!item || item.campusId !== campusId || !LIVE.has(item.status)) {
            lose(
              'oral',
              `${subject} at ${campusId}: ${item ? `${item.status} at ${item.campusId}` : 'missing'}${why}`,
            );
          }
        }
        for (const orderId of noted.paidOrders) {
          const status = await read(base, `/api/v1/payments/${encodeURIComponent(orderId)}`, token);
          if (status.body?.status !== 'PAID')
            lose('payment', `${orderId} ${status.body?.status ?? status.status}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const lost = lostByKind.registration + lostByKind.written + lostByKind.oral + lostByKind.payment;
    return { checked, lost, lostByKind, examples };
  }
}
