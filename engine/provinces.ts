/**
 * The 31 mainland provinces by GB/T 2260 code: the engine's province shards ({pNN}). Processes
 * that must visit every shard (the sweeper, the writer, reconcile) iterate this list.
 */
export const PROVINCE_CODES = [
  '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37', '41',
  '42', '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62', '63', '64', '65',
] as const;

export type ProvinceCode = (typeof PROVINCE_CODES)[number];

export function isProvinceCode(value: unknown): value is ProvinceCode {
  return typeof value === 'string' && (PROVINCE_CODES as readonly string[]).includes(value);
}
