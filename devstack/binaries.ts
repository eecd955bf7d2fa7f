/**
 * The binaries the private stack runs (redis-server, redis-cli, redis-benchmark), found on PATH
 * with an error that says how to install what is missing.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { searchPath } from '../config/index.ts';

/** Finds `name` on PATH (of `env`, default this process's), or throws an Error that says how to install it. */
export function findBinary(name: string, installHint: string, env?: NodeJS.ProcessEnv): string {
  for (const dir of searchPath(env)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${name} was not found on PATH. ${installHint}`);
}

export const REDIS_INSTALL_HINT =
  'Install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (Homebrew), ' +
  'or run Redis elsewhere (e.g. `docker compose up -d redis`) and set REDIS_URL=redis://127.0.0.1:6379.';
