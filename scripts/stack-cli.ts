/**
 * `npm run stack`: starts the private Redis and PostgreSQL with their data kept in `.data/`, prints
 * the two URLs (ready to paste as environment variables), and stops both on Ctrl-C / SIGTERM.
 */
import { startStack } from '../devstack/index.ts';

const stack = await startStack({ dataDir: '.data' });
process.stdout.write(
  `REDIS_URL=${stack.redisUrl}\nDATABASE_URL=${stack.databaseUrl}\n` +
    `Data in ${stack.dataDir}. Ctrl-C to stop.\n`,
);

const signal = await new Promise<NodeJS.Signals>((resolve) => {
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(name, () => resolve(name));
});
process.stderr.write(`\n${signal}: stopping the stack\n`);
await stack.stop();
process.stderr.write('stack stopped\n');
process.exit(0);
