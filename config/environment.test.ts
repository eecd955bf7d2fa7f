/**
 * The environment is documented and read in one place each: every variable of the schema has a row
 * in the README's environment table showing its default, every row is a variable of the schema,
 * the loaders read no variable outside the schema, and no other module of the product or its tools
 * reads `process.env`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  baselineConfig,
  idKeysFromEnv,
  k6FixturesConfig,
  loadConfig,
  runtimeFromEnv,
  searchPath,
  storesFromEnv,
  systemNodeArgs,
} from './index.ts';
import { variablesOf, type Variable } from './read.ts';
import { ENVIRONMENT } from './schema.ts';

const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The README's environment rows, `| \`NAME\` | default | what |`: name → default cell. */
function readmeRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of README.split('\n')) {
    const row = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|([^|]*)\|/.exec(line);
    if (row) rows.set(row[1]!, `${rows.get(row[1]!) ?? ''} ${row[2]!.trim()}`);
  }
  return rows;
}

/** How a variable's default must appear in its row. */
function shownDefault(variable: Variable): string {
  if (variable.shown !== undefined) return variable.shown;
  if (!('default' in variable)) return 'required';
  const value = variable.default;
  if (value === '') return 'unset';
  if (typeof value === 'boolean') return value ? '`1`' : '`0`';
  return `\`${String(value)}\``;
}

const variables = Object.entries(ENVIRONMENT).flatMap(([section, schema]) =>
  variablesOf(schema).map((variable) => ({ section, ...variable })),
);

describe("the README's environment table", () => {
  const rows = readmeRows();

  it('has a row for every variable of the schema, showing its default', () => {
    const missing = variables.filter((v) => !rows.has(v.env)).map((v) => v.env);
    expect([...new Set(missing)]).toEqual([]);
    const wrong = variables
      .filter((v) => !rows.get(v.env)!.includes(shownDefault(v)))
      .map((v) => `${v.env} (${v.section}): "${shownDefault(v)}" not in "${rows.get(v.env)}"`);
    expect(wrong).toEqual([]);
  });

  it('has no row for a variable nothing reads', () => {
    const known = new Set(variables.map((v) => v.env));
    expect([...rows.keys()].filter((name) => !known.has(name))).toEqual([]);
  });
});

describe('reading the environment', () => {
  it('the loaders read only variables of the schema', () => {
    const read = new Set<string>();
    const recording = (values: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
      new Proxy(values, {
        get(target, key) {
          if (typeof key === 'string') read.add(key);
          return typeof key === 'string' ? target[key] : undefined;
        },
      });
    const key = 'ab'.repeat(32);
    const full = {
      NODE_ENV: 'production',
      ID_HMAC_KEY: key,
      ID_ENCRYPTION_KEY: key,
      ADMIN_TOKEN: 'x'.repeat(16),
    };
    for (const values of [{}, full]) {
      const env = (): NodeJS.ProcessEnv => recording({ ...values });
      const attempts = [
        () => loadConfig(env()),
        () => idKeysFromEnv({ env: env(), allowDevelopmentKeys: false }),
        () => storesFromEnv(env()),
        () => baselineConfig(env()),
        () => k6FixturesConfig(env()),
        () => runtimeFromEnv(env()),
        () => searchPath(env()),
        () => systemNodeArgs(env()),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
        } catch {
          // a refusal still shows what was read
        }
      }
    }
    const known = new Set(variables.map((v) => v.env));
    expect([...read].filter((name) => !known.has(name))).toEqual([]);
    expect(read.size).toBeGreaterThan(50);
  });

  it('no module outside config/ reads process.env (tests/ may, for their own harness settings)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/\.(ts|cjs|js)$/.test(entry.name)) {
          readFileSync(path, 'utf8')
            .split('\n')
            .forEach((line, index) => {
              if (line.includes('process.env')) offenders.push(`${relative(ROOT, path)}:${index + 1}`);
            });
        }
      }
    };
    for (const folder of ['engine', 'gateway', 'db', 'loadtest', 'scripts', 'roster', 'devstack']) {
      walk(join(ROOT, folder));
    }
    expect(offenders).toEqual([]);
  });
});
