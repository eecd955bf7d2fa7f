/**
 * Reading the gateway's answers in tests: a refusal is compared by its status and error code
 * (API.md's error body), a mix of answers by one word each.
 */

interface Answer {
  readonly status: number;
  readonly body?: unknown;
}

const errorCodeOf = (answer: Answer): string | undefined =>
  (answer.body as { error?: { code?: string } } | null | undefined)?.error?.code;

/** [status, error code]: what a refusal is compared by (the code is undefined on success). */
export function statusAndCode(answer: Answer): [number, string | undefined] {
  return [answer.status, errorCodeOf(answer)];
}

/** One word for an answer: its status when it succeeded ('201'), else status and code ('409 SOLD_OUT'). */
export function outcome(answer: Answer): string {
  return answer.status < 300 ? String(answer.status) : `${answer.status} ${errorCodeOf(answer)}`;
}
