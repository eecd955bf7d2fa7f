/**
 * `npm run roster:import -- file.csv [more.csv] [--world world.json] [--stack] [options]`
 *
 * Imports school-roster and CET4-score CSVs (told apart by their header) into PostgreSQL, parsing
 * in parallel on the worker pool and loading with COPY + upsert, so a re-run changes nothing
 * (roster/importCommand.ts, roster/run.ts). With a world (--world, or a world.json beside the first
 * CSV) it first upserts the reference data into PostgreSQL and preloads what the engine needs into
 * Redis (REDIS_URL).
 *
 * Needs DATABASE_URL (and REDIS_URL, or a Redis Cluster's REDIS_CLUSTER_NODES, with a world);
 * --stack starts the private stack (devstack/, data kept in .data/) for whichever is missing, and
 * migrates it; --migrate migrates a given DATABASE_URL first.
 * ID keys come from ID_HMAC_KEY / ID_ENCRYPTION_KEY; the development keys are used only with
 * --dev-keys or --stack, with a warning.
 *
 * Exit codes: 0 done (bad rows are reported, not fatal); 1 a file or the world cannot be read, or
 * the import failed; 2 bad arguments or missing configuration.
 * Bad rows: the first 50 on the terminal, all of them in `<file>.rejects.csv` (or --rejects-dir).
 */
import { parseArgs } from 'node:util';
import { ImportFileError } from '../roster/header.ts';
import { importReport, ImportUsageError, runImportCommand } from '../roster/importCommand.ts';

const USAGE =
  'usage: npm run roster:import -- FILE.csv [FILE.csv ...] [--world world.json] [--stack] [--migrate]\n' +
  '         [--namespace cet] [--rejects-dir DIR] [--threads N] [--chunk-lines 5000] [--dev-keys] [--no-progress]';

function positiveInteger(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ImportUsageError(`--${name} must be a positive integer`);
  return value;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      world: { type: 'string' },
      stack: { type: 'boolean', default: false },
      migrate: { type: 'boolean', default: false },
      namespace: { type: 'string', default: 'cet' },
      'rejects-dir': { type: 'string' },
      threads: { type: 'string' },
      'chunk-lines': { type: 'string' },
      'dev-keys': { type: 'boolean', default: false },
      'no-progress': { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) throw new ImportUsageError('no CSV file given');
  const threads = positiveInteger('threads', values.threads);
  const linesPerChunk = positiveInteger('chunk-lines', values['chunk-lines']);
  const result = await runImportCommand({
    files: positionals,
    ...(values.world === undefined ? {} : { world: values.world }),
    stack: values.stack,
    migrate: values.migrate,
    namespace: values.namespace,
    ...(values['rejects-dir'] === undefined ? {} : { rejectsDir: values['rejects-dir'] }),
    ...(threads === undefined ? {} : { threads }),
    ...(linesPerChunk === undefined ? {} : { linesPerChunk }),
    devKeys: values['dev-keys'],
    progress: !values['no-progress'],
  });
  for (const line of importReport(result, values.namespace)) console.log(line);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ImportUsageError) {
      console.error(`roster:import: ${err.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (err instanceof ImportFileError) {
      console.error(`roster:import: ${err.message}`);
      process.exitCode = 1;
    } else if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`roster:import: ${err.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      // Never the error's detail from PostgreSQL: it can quote row values.
      console.error(`roster:import: failed: ${err instanceof Error ? err.message : String(err)}`);
      console.error('committed chunks stay; running the same command again completes the import');
      process.exitCode = 1;
    }
  },
);
