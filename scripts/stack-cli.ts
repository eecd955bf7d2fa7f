/**
 * `npm run stack`: starts the private Redis and PostgreSQL with their data kept in `.data/`, prints
 * the two URLs (ready to paste as environment variables), and stops both on Ctrl-C / SIGTERM.
 * `npm run stack -- --cluster` starts a private Redis Cluster of 3 masters + 3 replicas instead of
 * the one Redis (issue 14 item 3) and prints its nodes as REDIS_CLUSTER_NODES; the cluster's data
 * goes when it stops (its nodes take free ports each time, which its node configs name).
 */
import { parseArgs } from 'node:util';
import { startStack } from '../devstack/index.ts';

const { values } = parseArgs({ options: { cluster: { type: 'boolean', default: false } } });
const stack = await startStack({ dataDir: '.data', cluster: values.cluster });
const redisLine = values.cluster
  ? `REDIS_CLUSTER_NODES=${stack.redisClusterNodes}`
  : `REDIS_URL=${stack.redisUrl}`;
process.stdout.write(
  `${redisLine}\nDATABASE_URL=${stack.databaseUrl}\nData in ${stack.dataDir}. Ctrl-C to stop.\n`,
);

const signal = await new Promise<NodeJS.Signals>((resolve) => {
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(name, () => resolve(name));
});
process.stderr.write(`\n${signal}: stopping the stack\n`);
await stack.stop();
process.stderr.write('stack stopped\n');
process.exit(0);
