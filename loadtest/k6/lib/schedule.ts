/**
 * Pure schedule helpers shared by the k6 scenarios and the Node fixture script
 * (`scripts/k6-fixtures.ts`): no k6 and no Node imports, like ../../profiles.ts.
 */
import { startOf, type SurgeProfile } from '../../profiles.ts';

/**
 * Seconds from the profile's start at which each spike begins: the start of every segment whose
 * rate rises after a flat or falling stretch. For `oralOpenings` these are the campus openings
 * (60, 360, 660, … s); rescaling the profile moves them with it.
 */
export function spikeStarts(profile: SurgeProfile): number[] {
  const pts = profile.points;
  const t0 = startOf(profile);
  const starts: number[] = [];
  for (let i = 0; i + 1 < pts.length; i++) {
    const rising = pts[i + 1]!.ratePerSecond > pts[i]!.ratePerSecond;
    const prevRising = i > 0 && pts[i]!.ratePerSecond > pts[i - 1]!.ratePerSecond;
    if (rising && !prevRising) starts.push(pts[i]!.atSeconds - t0);
  }
  return starts;
}

/** Index of the last opening at or before `elapsedS`, or -1 before the first one. */
export function openedIndex(openings: readonly number[], elapsedS: number): number {
  let k = -1;
  for (let i = 0; i < openings.length; i++) if (openings[i]! <= elapsedS) k = i;
  return k;
}
