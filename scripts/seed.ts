/**
 * Seed CLI: writes a deterministic world to a directory.
 *
 *   npm run seed -- --candidates 1000 --provinces 31 --seed 42 --out .data/seed [--now 2025-09-10T01:00:00Z]
 *
 * Outputs world.json, roster.csv, cet4_scores.csv (see loadtest/seed/write.ts) and prints counts and
 * the elapsed time. The same arguments always give byte-identical files.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_NOW, DEFAULT_SEED, generateWorld } from '../loadtest/seed/generate.ts';
import { writeSeedFiles } from '../loadtest/seed/write.ts';

function integerArg(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(value)) throw new RangeError(`--${name} must be an integer, got "${raw}"`);
  return value;
}

function instantArg(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_NOW;
  const value = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (Number.isNaN(value)) throw new RangeError(`--now must be epoch ms or an ISO date, got "${raw}"`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      candidates: { type: 'string', default: '1000' },
      provinces: { type: 'string' },
      seed: { type: 'string' },
      now: { type: 'string' },
      out: { type: 'string', default: '.data/seed' },
    },
    strict: true,
  });
  const started = performance.now();
  const generated = generateWorld({
    candidates: integerArg('candidates', values.candidates, 1000),
    provinces: integerArg('provinces', values.provinces, 31),
    seed: integerArg('seed', values.seed, DEFAULT_SEED),
    now: instantArg(values.now),
  });
  const counts = await writeSeedFiles(values.out, generated);
  const elapsedMs = Math.round(performance.now() - started);
  const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;
  console.log(
    [
      `seed ${generated.options.seed}, now ${new Date(generated.options.now).toISOString()} -> ${values.out}`,
      `provinces ${counts.provinces}, schools ${counts.schools}, campuses ${counts.campuses}`,
      `candidates ${counts.candidates} (roster.csv ${mib(counts.rosterBytes)})`,
      `cet4 scores ${counts.cet4Scores} (cet4_scores.csv ${mib(counts.cet4ScoresBytes)})`,
      `elapsed ${(elapsedMs / 1000).toFixed(2)} s, peak RSS ${mib(process.resourceUsage().maxRSS * 1024)}`,
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
