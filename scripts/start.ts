/**
 * `npm start` (API.md "Running it"): the whole system in this process (gateway/system.ts), with
 * its configuration from the environment. SIGINT / SIGTERM stop everything gracefully.
 */
import { startSystem } from '../gateway/system.ts';

async function main(): Promise<void> {
  const system = await startSystem();
  const shutdown = (): void => {
    void system.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

await main();
