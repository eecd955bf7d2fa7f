/**
 * `npm run reconcile [--repair] [--province 11,12]`: compares Redis with PostgreSQL (db/reconcile.ts
 * through gateway/operations.ts) on REDIS_URL / DATABASE_URL / KEY_NAMESPACE, prints every
 * difference (one JSON line each) and a summary, and exits 1 while drift remains (0 when none).
 * Dead-letter streams with entries are printed as alerts ({"alert":true,…}) without counting as
 * drift. `--repair` first re-delivers the events still in the streams but not in PostgreSQL through
 * the writer's code path, then rebuilds from Redis what is still different. Run it on a drained
 * system: entries the writer has not reached yet count as drift.
 */
import { loadConfig } from '../config/index.ts';
import { reconcileStores } from '../gateway/operations.ts';

async function main(argv: readonly string[]): Promise<number> {
  const repair = argv.includes('--repair');
  const at = argv.indexOf('--province');
  const provinces = at >= 0 ? (argv[at + 1] ?? '').split(',').filter(Boolean) : undefined;
  const report = await reconcileStores(loadConfig(), {
    repair,
    ...(provinces === undefined ? {} : { provinces }),
  });
  for (const difference of report.differences) process.stdout.write(`${JSON.stringify(difference)}\n`);
  for (const alert of report.alerts) process.stdout.write(`${JSON.stringify({ alert: true, ...alert })}\n`);
  const byKind: Record<string, number> = {};
  for (const d of report.differences) byKind[d.kind] = (byKind[d.kind] ?? 0) + 1;
  process.stdout.write(
    `${JSON.stringify({ drift: report.differences.length, byKind, deadLetterStreams: report.alerts.length, redeliveredEvents: report.redeliveredEvents, rebuiltRows: report.rebuiltRows })}\n`,
  );
  return report.differences.length === 0 ? 0 : 1;
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  process.stderr.write(`reconcile failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(2);
}
