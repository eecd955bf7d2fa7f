/**
 * The fixture files the scenarios read (written by `scripts/k6-fixtures.ts`), and their parsers.
 * k6 only allows `open()` in the init context and resolves relative paths against the script that
 * calls it, so each scenario calls `open()` itself and hands the text to these parsers inside a
 * SharedArray callback (one copy for all VUs).
 *
 * candidates.json (opening.ts): people in the roster, not yet bound (the province's window opens
 * during the test).
 *   [{ "idType": "RESIDENT_ID", "idNumber": "...", "name": "...", "phone": "13800000000",
 *      "password": "...", "ticketNumber": "..." (optional, CET6 reviewers),
 *      "provinceCode": "11" (optional), "accountExists": true (optional: the account was created
 *      beforehand, so the flow starts at the login) }, ...]
 *
 * tokens.json (reserve.ts, oral.ts, payment.ts, expiry.ts): sessions of accounts that accepted the
 * agreement and are bound to their candidate, the province's window open.
 *   [{ "token": "...", "accountId": "...", "campusId": "K6-12-C01", "provinceCode": "12",
 *      "phone": "...", "password": "...", "held": ["CET4"] }, ...]
 * Token i belongs to campus i mod K (K campuses, in the order their oral seats open), so that a
 * scenario can find the j-th candidate of campus k at index j·K + k without an index per VU.
 */

export interface Candidate {
  idType: string;
  idNumber: string;
  name: string;
  phone: string;
  password: string;
  ticketNumber?: string;
  provinceCode?: string;
  accountExists?: boolean;
}

export interface TokenEntry {
  token: string;
  accountId?: string;
  campusId: string;
  provinceCode: string;
  phone?: string;
  password?: string;
  held?: string[];
}

function parseArray(text: string, what: string): Record<string, unknown>[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error(`${what}: expected a non-empty array`);
  return parsed as Record<string, unknown>[];
}

export function parseCandidates(text: string): Candidate[] {
  const rows = parseArray(text, 'candidates file');
  const first = rows[0]!;
  for (const field of ['idType', 'idNumber', 'name', 'phone', 'password']) {
    if (typeof first[field] !== 'string') throw new Error(`candidates file: "${field}" missing`);
  }
  return rows as unknown as Candidate[];
}

export function parseTokens(text: string): TokenEntry[] {
  const rows = parseArray(text, 'tokens file');
  const first = rows[0]!;
  for (const field of ['token', 'campusId', 'provinceCode']) {
    if (typeof first[field] !== 'string') throw new Error(`tokens file: "${field}" missing`);
  }
  return rows as unknown as TokenEntry[];
}

/** Campus ids in file order of first appearance: with the i mod K layout, campus k is index k. */
export function campusOrder(tokens: ArrayLike<TokenEntry>): string[] {
  const seen: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const campusId = tokens[i]!.campusId;
    if (seen.includes(campusId)) break;
    seen.push(campusId);
  }
  return seen;
}
