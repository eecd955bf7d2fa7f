/**
 * Integer arithmetic for spreading things out deterministically: apportioning a total over weights
 * (candidates over provinces, schools, campuses), and permuting 0..n-1 without storing it (so that
 * candidate numbers are not grouped by province and identity numbers are not grouped by school).
 */

/**
 * Splits `total` into integers proportional to `weights` (largest remainder, ties to the lower
 * index), after first giving every share `minimumEach` when the total allows it.
 */
export function apportion(total: number, weights: readonly number[], minimumEach = 0): number[] {
  if (!Number.isInteger(total) || total < 0) throw new RangeError('total must be a non-negative integer');
  if (weights.length === 0) {
    if (total > 0) throw new RangeError('cannot apportion a positive total over no weights');
    return [];
  }
  const floor = total >= minimumEach * weights.length ? minimumEach : 0;
  const rest = total - floor * weights.length;
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (sum > 0 ? (rest * w) / sum : rest / weights.length));
  const shares = exact.map((x) => Math.floor(x));
  let missing = rest - shares.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((x, index) => ({ index, remainder: x - Math.floor(x) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (let k = 0; missing > 0; k = (k + 1) % byRemainder.length, missing--) {
    shares[byRemainder[k]!.index]! += 1;
  }
  return shares.map((s) => s + floor);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A bijection of 0..size-1: index -> (multiplier * index + offset) mod size. The multiplier sits
 * near size / golden ratio, so consecutive indices land far apart and any prefix of indices is
 * spread evenly over the range (a Weyl sequence).
 */
export class AffinePermutation {
  private readonly multiplier: number;
  private readonly offset: number;

  constructor(
    readonly size: number,
    offsetSeed: number,
  ) {
    if (!Number.isInteger(size) || size < 0)
      throw new RangeError('permutation size must be a natural number');
    let multiplier = Math.max(1, Math.round(size * 0.6180339887498949));
    while (size > 1 && gcd(multiplier, size) !== 1) multiplier++;
    this.multiplier = multiplier;
    this.offset = size > 0 ? offsetSeed % size : 0;
    // apply() must stay exact in doubles (about size < 1.2e8).
    if (size > 0 && multiplier * (size - 1) + this.offset > Number.MAX_SAFE_INTEGER) {
      throw new RangeError('permutation size too large for exact arithmetic');
    }
  }

  apply(index: number): number {
    return (this.multiplier * index + this.offset) % this.size;
  }
}
