/**
 * The 31 mainland provinces by GB/T 2260 code: the one province table. The engine's province
 * shards ({pNN}) are these codes, and processes that must visit every shard (the sweeper, the
 * writer, reconcile) iterate PROVINCE_CODES. The seed generator (loadtest/seed) and the capacity
 * plan read names and weights from here too.
 *
 * `weight` is each province's share of candidates: roughly the number of undergraduates enrolled
 * there (tens of thousands, early 2020s), which gives the real skew (Henan, Shandong, Guangdong,
 * Jiangsu large; Tibet, Qinghai, Ningxia small).
 */
const TABLE = [
  { code: '11', name: '北京市', shortName: '北京', weight: 60 },
  { code: '12', name: '天津市', shortName: '天津', weight: 58 },
  { code: '13', name: '河北省', shortName: '河北', weight: 180 },
  { code: '14', name: '山西省', shortName: '山西', weight: 95 },
  { code: '15', name: '内蒙古自治区', shortName: '内蒙古', weight: 50 },
  { code: '21', name: '辽宁省', shortName: '辽宁', weight: 115 },
  { code: '22', name: '吉林省', shortName: '吉林', weight: 75 },
  { code: '23', name: '黑龙江省', shortName: '黑龙江', weight: 80 },
  { code: '31', name: '上海市', shortName: '上海', weight: 55 },
  { code: '32', name: '江苏省', shortName: '江苏', weight: 210 },
  { code: '33', name: '浙江省', shortName: '浙江', weight: 125 },
  { code: '34', name: '安徽省', shortName: '安徽', weight: 150 },
  { code: '35', name: '福建省', shortName: '福建', weight: 95 },
  { code: '36', name: '江西省', shortName: '江西', weight: 130 },
  { code: '37', name: '山东省', shortName: '山东', weight: 250 },
  { code: '41', name: '河南省', shortName: '河南', weight: 270 },
  { code: '42', name: '湖北省', shortName: '湖北', weight: 175 },
  { code: '43', name: '湖南省', shortName: '湖南', weight: 165 },
  { code: '44', name: '广东省', shortName: '广东', weight: 260 },
  { code: '45', name: '广西壮族自治区', shortName: '广西', weight: 130 },
  { code: '46', name: '海南省', shortName: '海南', weight: 25 },
  { code: '50', name: '重庆市', shortName: '重庆', weight: 95 },
  { code: '51', name: '四川省', shortName: '四川', weight: 190 },
  { code: '52', name: '贵州省', shortName: '贵州', weight: 85 },
  { code: '53', name: '云南省', shortName: '云南', weight: 105 },
  { code: '54', name: '西藏自治区', shortName: '西藏', weight: 5 },
  { code: '61', name: '陕西省', shortName: '陕西', weight: 125 },
  { code: '62', name: '甘肃省', shortName: '甘肃', weight: 60 },
  { code: '63', name: '青海省', shortName: '青海', weight: 10 },
  { code: '64', name: '宁夏回族自治区', shortName: '宁夏', weight: 15 },
  { code: '65', name: '新疆维吾尔自治区', shortName: '新疆', weight: 50 },
] as const;

export type ProvinceCode = (typeof TABLE)[number]['code'];

export interface ProvinceInfo {
  readonly code: ProvinceCode;
  readonly name: string;
  /** Used in school names (河南理工大学). */
  readonly shortName: string;
  /** Share of candidates (see the module comment). */
  readonly weight: number;
}

export const PROVINCES: readonly ProvinceInfo[] = TABLE;

export const PROVINCE_CODES: readonly ProvinceCode[] = PROVINCES.map((province) => province.code);

export function isProvinceCode(value: unknown): value is ProvinceCode {
  return typeof value === 'string' && (PROVINCE_CODES as readonly string[]).includes(value);
}
