/**
 * `npm start` (API.md "Running it"): the whole system in this process (gateway/system.ts), with
 * its configuration from the environment. SIGINT / SIGTERM stop everything gracefully, within the
 * system's time limit (issue 16 item 16): when a part hung past it (logged by name, e.g. behind a
 * Redis that died first), the process still exits, with status 1, so that a supervisor sees it.
 * Spawned with an IPC channel, it tells its parent the port it listens on.
 */
import { startSystem } from '../gateway/system.ts';

async function main(): Promise<void> {
  const system = await startSystem();
  // a parent that spawned this process with an IPC channel (the load runner, PORT=0) learns the port
  process.send?.({ type: 'listening', port: system.port });
  const shutdown = (): void => {
    void system.stop().then(
      ({ hung }) => process.exit(hung.length > 0 ? 1 : 0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

await main();
