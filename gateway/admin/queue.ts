/**
 * PUT /api/v1/admin/queue (API.md "Waiting room"): operators set each province's waiting room —
 * mode, how long before the opening the PREQUEUE opens, how long a pass lasts, and an optional cap
 * on admissions. A room's draw commitment is made when it is first set up and published at once
 * (GET /api/v1/queue/{provinceCode}); later calls change only the settings.
 */
import { isProvinceCode } from '../../engine/provinces.ts';
import { QUEUE_MODES } from '../../engine/queue.ts';
import { strictObject, Type } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { BulkOutcome, checkRow, FirstRowWins, type BulkAnswer } from './rows.ts';

export const QueueRow = strictObject({
  provinceCode: Type.String({ pattern: '^[0-9]{2}$' }),
  mode: Type.Union(QUEUE_MODES.map((mode) => Type.Literal(mode))),
  preQueueMinutes: Type.Integer({ minimum: 0, maximum: 24 * 60 }),
  passMinutes: Type.Integer({ minimum: 1, maximum: 24 * 60 }),
  maxAdmitPerMinute: Type.Union([Type.Integer({ minimum: 1, maximum: 10_000_000 }), Type.Null()]),
});

export async function putQueue(
  services: Services,
  rows: readonly unknown[],
  now: number,
): Promise<BulkAnswer> {
  const outcome = new BulkOutcome();
  const firstRow = new FirstRowWins();
  let upserted = 0;
  const commitments: Record<string, string> = {};
  for (const [index, row] of rows.entries()) {
    const checked = checkRow(QueueRow, row);
    if (!checked.ok) {
      outcome.invalid(index, checked.message);
      continue;
    }
    const settings = checked.value;
    if (!isProvinceCode(settings.provinceCode)) {
      outcome.reject(index, 'PROVINCE_NOT_FOUND', '/provinceCode: no such province');
      continue;
    }
    const earlier = firstRow.claim(settings.provinceCode, index);
    if (earlier !== undefined) {
      outcome.invalid(index, `/provinceCode: the same province as row ${earlier}`);
      continue;
    }
    const room = await services.queue.setup(settings, now);
    commitments[settings.provinceCode] = room.commitment;
    upserted++;
  }
  return outcome.answer(upserted, { lotteryCommitments: commitments });
}
