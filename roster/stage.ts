/**
 * A checked row as the loader's staging tables take it (loader.ts ROSTER_COPY / SCORES_COPY):
 * COPY text columns in the tables' order, the ID number replaced by its HMAC (lookups), its masked
 * form (display) and its AES-GCM ciphertext (recovery). The one place that knows that order: the
 * worker uses it for file chunks and for the admin API's rows alike. Pure but for the cipher's IV.
 *
 * The columns hold an ID number only encrypted and a name only as the row's own data: never put
 * them in a message, a log or an error.
 */
import { copyBoolean, copyBytea, copyTextValue, copyTokenArray } from '../db/copyText.ts';
import { encryptId, idHmac, type IdKeys } from '../engine/idCrypto.ts';
import { maskIdNumber } from '../engine/idNumber.ts';
import type { RosterRow, ScoreRow } from './validate.ts';

/** Where the roster stage columns the admin API learns only after its lookups sit. */
export const ROSTER_STAGE_COLUMN = { candidateId: 1, provinceCode: 8 } as const;

export interface StagedRosterRow {
  readonly columns: string[];
  /** The ID number's HMAC: with the ID type, what tells one person from another. */
  readonly idHmac: Buffer;
}

export function stageRosterRow(keys: IdKeys, line: number, row: RosterRow): StagedRosterRow {
  const hmac = idHmac(keys, row.idNumber);
  return {
    idHmac: hmac,
    columns: [
      String(line),
      row.candidateId,
      row.idType,
      copyBytea(hmac),
      copyTextValue(maskIdNumber(row.idNumber)),
      copyBytea(encryptId(keys, row.idNumber)),
      copyTextValue(row.name),
      copyTextValue(row.nameNormalised),
      row.provinceCode,
      row.schoolId,
      row.campusId,
      row.grade,
      copyTokenArray(row.eligibleSubjects),
      copyBoolean(row.cet6Barred),
    ],
  };
}

export function stageScoreRow(keys: IdKeys, line: number, row: ScoreRow): string[] {
  return [
    String(line),
    row.ticketNumber,
    copyBytea(idHmac(keys, row.idNumber)),
    copyTextValue(row.name),
    copyTextValue(row.nameNormalised),
    String(row.score),
    String(row.year),
  ];
}
