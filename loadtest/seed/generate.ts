/**
 * A deterministic world: the same options give the same World and the same rows, byte for byte.
 * The roster and score history are generators over candidate numbers; each candidate is rebuilt
 * from (seed, number), so a million rows never sit in memory and every iteration is identical.
 */
import type { Cet4Score, RosterEntry, World } from '../../engine/world.ts';
import { CandidateFactory, type SeededCandidate } from './candidates.ts';
import { PROVINCES } from '../../engine/provinces.ts';
import { buildWorld } from './world.ts';

export const DEFAULT_SEED = 42;
/** 2025-09-10 09:00 in Beijing: an autumn registration for the December sitting. */
export const DEFAULT_NOW = Date.UTC(2025, 8, 10, 1, 0, 0);
export const MAX_CANDIDATES = 50_000_000;

export interface GenerateOptions {
  readonly seed?: number;
  /** The first n provinces in GB/T 2260 code order (1 = Beijing only); 1..31, default 31. */
  readonly provinces?: number;
  readonly candidates: number;
  /** Epoch ms: the earliest registration opening; no CET4 sitting on or after it is in the history. */
  readonly now?: number;
}

export interface GeneratedWorld {
  readonly world: World;
  readonly options: Required<GenerateOptions>;
  readonly candidateCount: number;
  /** Candidates 1..n in order; candidateId is the number in decimal. */
  roster(): Iterable<RosterEntry>;
  /** Score records grouped by candidate, candidates in order. Items also carry `kind` (planted cases). */
  cet4Scores(): Iterable<Cet4Score>;
  /** Both at once, for writers that want a single pass. */
  candidates(): Iterable<SeededCandidate>;
  /** Random access to candidate 1..n, identical to what the iterators yield. */
  candidate(candidateNumber: number): SeededCandidate;
}

function checkOptions(options: GenerateOptions): Required<GenerateOptions> {
  const seed = options.seed ?? DEFAULT_SEED;
  const provinces = options.provinces ?? PROVINCES.length;
  const now = options.now ?? DEFAULT_NOW;
  const { candidates } = options;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError('seed must be a non-negative safe integer');
  if (!Number.isInteger(provinces) || provinces < 1 || provinces > PROVINCES.length) {
    throw new RangeError(`provinces must be 1..${PROVINCES.length}`);
  }
  if (!Number.isInteger(candidates) || candidates < 0 || candidates > MAX_CANDIDATES) {
    throw new RangeError(`candidates must be 0..${MAX_CANDIDATES}`);
  }
  if (!Number.isSafeInteger(now) || now < Date.UTC(2006, 0, 1))
    throw new RangeError('now must be epoch ms after 2006');
  return { seed, provinces, candidates, now };
}

export function generateWorld(options: GenerateOptions): GeneratedWorld {
  const checked = checkOptions(options);
  const layout = buildWorld(checked);
  const factory = new CandidateFactory(layout, checked.seed, checked.now);

  function* candidates(): Generator<SeededCandidate> {
    for (let n = 1; n <= factory.count; n++) yield factory.candidate(n);
  }
  return {
    world: layout.world,
    options: checked,
    candidateCount: factory.count,
    *roster() {
      for (const c of candidates()) yield c.entry;
    },
    *cet4Scores() {
      for (const c of candidates()) yield* c.scores;
    },
    candidates,
    candidate: (candidateNumber) => factory.candidate(candidateNumber),
  };
}
