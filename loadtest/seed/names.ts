/**
 * Plausible Chinese personal names and school names. Person names are 2-3 characters (surname
 * weighted by real frequency, a few compound surnames); some Xinjiang candidates, and a very few
 * elsewhere, get Uyghur names written with the middle dot U+00B7 (阿依古丽·买买提).
 */
import { type Rng, WeightedTable } from './rng.ts';

export const MIDDLE_DOT = '\u00b7';

const COMMON_SURNAMES: readonly (readonly [string, number])[] = [
  ['王', 71], ['李', 70], ['张', 67], ['刘', 54], ['陈', 45], ['杨', 31], ['黄', 22], ['赵', 20],
  ['吴', 18], ['周', 17], ['徐', 13], ['孙', 12], ['马', 11], ['朱', 11], ['胡', 10], ['郭', 9],
  ['何', 9], ['高', 9], ['林', 9], ['罗', 8], ['郑', 8], ['梁', 7], ['谢', 6], ['宋', 5], ['唐', 5],
  ['许', 5], ['韩', 5], ['冯', 4], ['邓', 4], ['曹', 4], ['彭', 4], ['曾', 4], ['肖', 4], ['田', 4],
  ['董', 3], ['袁', 3], ['潘', 3], ['于', 3], ['蒋', 3], ['蔡', 3], ['余', 3], ['杜', 3], ['叶', 3],
  ['程', 3], ['苏', 3], ['魏', 3], ['吕', 3], ['丁', 3], ['任', 3], ['沈', 3], ['姚', 2], ['卢', 2],
  ['姜', 2], ['崔', 2], ['钟', 2], ['谭', 2], ['陆', 2], ['汪', 2], ['范', 2], ['金', 2], ['石', 2],
  ['廖', 2], ['贾', 2], ['夏', 2], ['韦', 2], ['付', 2], ['方', 2], ['白', 2], ['邹', 2], ['孟', 2],
  ['熊', 2], ['秦', 2], ['邱', 2], ['江', 2], ['尹', 2], ['薛', 2], ['闫', 2], ['段', 2], ['雷', 2],
  ['侯', 2], ['龙', 2], ['史', 2], ['陶', 2], ['黎', 2], ['贺', 2], ['顾', 2], ['毛', 2], ['郝', 2],
  ['龚', 2], ['邵', 2], ['万', 2], ['钱', 2], ['严', 2], ['覃', 1], ['武', 1], ['戴', 1], ['莫', 1],
  ['孔', 1], ['向', 1], ['汤', 1],
  ['欧阳', 0.5], ['司马', 0.2], ['上官', 0.2], ['诸葛', 0.1], ['令狐', 0.1],
]; // prettier-ignore

const GIVEN_NAME_CHARACTERS = [
  ...'伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华文玉兰红建志宇浩然子涵轩欣怡梓萱思雨晨博诗佳琪',
  ...'嘉俊一鑫雪婷晓阳振宏凯鹏飞天鸿睿泽瑞昊铭航毅翔辰哲宁琳颖倩慧璐蕾悦彤妍菲瑶薇馨雅楠婧丹莉晶亮',
  ...'成斌健伦峰帆旭晖锐坤宸逸豪诚心安乐晴月星海林森松柏川岚梦若语可依如冰清家国新春秋立德',
];

const UYGHUR_GIVEN_NAMES = [
  '阿依古丽', '艾力', '买买提', '古丽娜尔', '迪丽娜尔', '热依拉', '努尔', '伊力哈木', '热合曼', '帕尔哈提',
  '艾克拜尔', '米热古丽', '阿迪力', '祖丽菲娅', '依明', '阿依努尔', '玛依拉', '艾尼瓦尔', '古丽米拉', '亚森',
]; // prettier-ignore
const UYGHUR_FATHER_NAMES = [
  '买买提', '阿不都', '吐尔逊', '麦麦提', '艾则孜', '热依木', '司马义', '阿布拉', '吾守尔', '艾买提',
  '玉素甫', '托乎提', '克热木', '依不拉音', '努尔东',
]; // prettier-ignore

const SURNAME_TABLE = new WeightedTable(COMMON_SURNAMES);
const MINORITY_SHARE_XINJIANG = 0.35;
const MINORITY_SHARE_ELSEWHERE = 0.003;

export function personName(rng: Rng, provinceCode: string): string {
  const minorityShare = provinceCode === '65' ? MINORITY_SHARE_XINJIANG : MINORITY_SHARE_ELSEWHERE;
  if (rng.chance(minorityShare)) {
    return `${rng.pick(UYGHUR_GIVEN_NAMES)}${MIDDLE_DOT}${rng.pick(UYGHUR_FATHER_NAMES)}`;
  }
  const surname = SURNAME_TABLE.draw(rng);
  const givenLength = surname.length === 2 || rng.chance(0.3) ? 1 : 2;
  let given = '';
  for (let i = 0; i < givenLength; i++) given += rng.pick(GIVEN_NAME_CHARACTERS);
  return surname + given;
}

/**
 * The same person's name as another record wrote it: a different last character, or for a dotted
 * name sometimes the bullet U+2022 typed in place of the middle dot (a real data-entry mismatch).
 */
export function variantName(rng: Rng, name: string): string {
  if (name.includes(MIDDLE_DOT) && rng.chance(0.5)) return name.replace(MIDDLE_DOT, '\u2022');
  const last = name.at(-1)!;
  let replacement = rng.pick(GIVEN_NAME_CHARACTERS);
  while (replacement === last) replacement = rng.pick(GIVEN_NAME_CHARACTERS);
  return name.slice(0, -1) + replacement;
}

const SCHOOL_KINDS = [
  '大学', '理工大学', '师范大学', '科技大学', '工业大学', '财经大学', '医科大学', '农业大学', '交通大学',
  '外国语大学', '工程学院', '师范学院', '职业技术学院', '信息工程学院', '医学院', '商学院',
]; // prettier-ignore
const CAMPUS_NAMES = ['本部', '东校区', '南校区', '北校区', '西校区'];

const DIGITS = '零一二三四五六七八九';
function chineseOrdinal(n: number): string {
  if (n < 10) return DIGITS[n]!;
  if (n >= 100) return String(n);
  const tens = Math.floor(n / 10);
  const ones = n % 10;
  return `${tens === 1 ? '' : DIGITS[tens]!}十${ones === 0 ? '' : DIGITS[ones]!}`;
}

/** The k-th school of a province (k from 0): 河南大学, 河南理工大学, …, then 河南第二大学, … */
export function schoolName(provinceShortName: string, k: number): string {
  const kind = SCHOOL_KINDS[k % SCHOOL_KINDS.length]!;
  const round = Math.floor(k / SCHOOL_KINDS.length);
  return round === 0 ? provinceShortName + kind : `${provinceShortName}第${chineseOrdinal(round + 1)}${kind}`;
}

export function campusName(schoolName: string, campusIndex: number): string {
  return schoolName + (CAMPUS_NAMES[campusIndex] ?? `第${chineseOrdinal(campusIndex + 1)}校区`);
}
