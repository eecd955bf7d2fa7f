/**
 * docker-compose.yml, as Compose itself resolves it (`docker compose config --format json`, with
 * the `load` and `extra` profiles so that every service is listed): the services are there, Redis
 * runs with the durability flags of ARCHITECTURE.md, PostgreSQL with synchronous_commit, the
 * gateway waits for healthy stores and checks /readyz, the k6 command names a scenario file that
 * exists in the mounted folder and waits for the fixtures to complete, and every `npm run X` the
 * file uses is a script of package.json. Needs no Docker engine, only the client: skipped (with
 * the reason printed) where there is no Compose. Compose v1 (`docker-compose`, which prints only
 * YAML) is accepted too, its output converted by the PyYAML it runs on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const FILE = join(ROOT, 'docker-compose.yml');
const PROFILES = ['--profile', 'load', '--profile', 'extra'];

type Json = Record<string, unknown>;
interface Volume {
  source: string;
  target: string;
  readOnly: boolean;
}

const TEST_ADMIN_TOKEN = 'compose-test-admin-token-0123456789';

const works = (cmd: string, args: string[]): boolean =>
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;

/** The resolved configuration, or why it cannot be had here. */
function resolveConfig(): { config: Json; how: string } | { skip: string } {
  // no default admin token ships in the file: Compose needs one from the environment
  const env = { ...process.env, COMPOSE_PROFILES: '', ADMIN_TOKEN: TEST_ADMIN_TOKEN };
  if (works('docker', ['compose', 'version'])) {
    const out = execFileSync('docker', ['compose', '-f', FILE, ...PROFILES, 'config', '--format', 'json'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    return { config: JSON.parse(out) as Json, how: 'docker compose config --format json' };
  }
  if (works('docker-compose', ['version'])) {
    const yaml = execFileSync('docker-compose', ['-f', FILE, ...PROFILES, 'config'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    const toJson = spawnSync(
      'python3',
      ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
      {
        input: yaml,
        encoding: 'utf8',
      },
    );
    if (toJson.status !== 0)
      return { skip: 'docker-compose (v1) found but python3 + PyYAML could not read its output' };
    return { config: JSON.parse(toJson.stdout) as Json, how: 'docker-compose config (v1, YAML → JSON)' };
  }
  return {
    skip: works('docker', ['--version'])
      ? 'the docker client has no Compose plugin (`docker compose`), and there is no docker-compose'
      : 'no docker client on this machine',
  };
}

const resolved = resolveConfig();
const skipReason = 'skip' in resolved ? resolved.skip : undefined;
if (skipReason) console.log(`tests/compose.test.ts skipped: ${skipReason}`);
const config = 'config' in resolved ? resolved.config : {};
const services = (config.services ?? {}) as Record<string, Json>;

/** A command / entrypoint / healthcheck test as argv (Compose may keep a string as written). */
function argv(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? value.trim().split(/\s+/) : [];
}

function volumes(service: Json): Volume[] {
  return ((service.volumes ?? []) as unknown[]).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = ''] = v.split(':');
      return { source, target, readOnly: mode.split(',').includes('ro') };
    }
    const o = v as Json;
    const text = (value: unknown): string => (typeof value === 'string' ? value : '');
    return { source: text(o.source), target: text(o.target), readOnly: o.read_only === true };
  });
}

const dependsOn = (service: Json): Record<string, { condition?: string }> =>
  (service.depends_on ?? {}) as Record<string, { condition?: string }>;

describe.skipIf(skipReason !== undefined)(
  `docker-compose.yml (${'how' in resolved ? resolved.how : 'skipped'})`,
  () => {
    it('has the stores, the app services and the load-test services', () => {
      for (const name of ['redis', 'postgres', 'gateway', 'writer', 'sweeper', 'fixtures', 'k6']) {
        expect(services, name).toHaveProperty(name);
      }
      expect(argv(services.gateway!.command)).toEqual(['npm', 'start']);
      expect(argv(services.writer!.command)).toEqual(['npm', 'run', 'writer']);
    });

    it('runs Redis with AOF fsync always and noeviction, PostgreSQL with synchronous_commit=on', () => {
      const redis = argv(services.redis!.command).join(' ');
      expect(redis).toContain('--appendonly yes');
      expect(redis).toContain('--appendfsync always');
      expect(redis).toContain('--maxmemory-policy noeviction');
      expect(volumes(services.redis!).some((v) => v.target === '/data')).toBe(true);
      expect(argv(services.redis!.healthcheck && (services.redis!.healthcheck as Json).test)).toContain(
        'ping',
      );
      expect(argv(services.postgres!.command).join(' ')).toContain('synchronous_commit=on');
      expect(argv((services.postgres!.healthcheck as Json).test).join(' ')).toContain('pg_isready');
    });

    it('starts the gateway on healthy stores in TEST_MODE, healthy once /readyz answers', () => {
      const gateway = services.gateway!;
      expect(dependsOn(gateway).redis?.condition).toBe('service_healthy');
      expect(dependsOn(gateway).postgres?.condition).toBe('service_healthy');
      const env = gateway.environment as Record<string, string>;
      expect(env.TEST_MODE).toBe('1');
      expect(env.REDIS_URL).toMatch(/^redis:\/\/redis:/);
      expect(env.DATABASE_URL).toMatch(/^postgres(ql)?:\/\/.*@postgres:/);
      expect(String(env.ADMIN_TOKEN).length).toBeGreaterThanOrEqual(16);
      // the one the environment gave: the file has none of its own
      expect(env.ADMIN_TOKEN).toBe(TEST_ADMIN_TOKEN);
      expect(argv((gateway.healthcheck as Json).test).join(' ')).toContain('/readyz');
    });

    it('runs k6 on a scenario that exists, after the fixtures completed', () => {
      const k6 = services.k6!;
      expect(String(k6.image)).toMatch(/^grafana\/k6/);
      const script = argv(k6.command).find((a) => a.endsWith('.ts'));
      expect(script, 'k6 command names a .ts scenario').toBeDefined();
      const mount = volumes(k6).find((v) => script!.startsWith(`${v.target}/`));
      expect(mount, `a volume mounts ${script}`).toBeDefined();
      expect(mount!.readOnly).toBe(true);
      const onHost = join(mount!.source, script!.slice(mount!.target.length + 1));
      expect(relative(ROOT, onHost).startsWith('..'), `${onHost} is inside the repository`).toBe(false);
      expect(existsSync(onHost), `${onHost} exists`).toBe(true);
      expect(dependsOn(k6).fixtures?.condition).toBe('service_completed_successfully');
      expect((k6.environment as Record<string, string>).BASE_URL).toBe('http://gateway:8080');
      const fixtures = argv(services.fixtures!.command);
      const fixtureScript = fixtures.find((a) => a.endsWith('.ts'));
      expect(fixtureScript && existsSync(join(ROOT, fixtureScript)), `${fixtureScript} exists`).toBe(true);
    });

    it('uses only npm scripts that package.json has', () => {
      const scripts = Object.keys(
        (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Json }).scripts,
      );
      const used = new Set<string>();
      const scan = (words: string[]): void => {
        for (let i = 0; i + 1 < words.length; i++) {
          if (words[i] !== 'npm') continue;
          if (words[i + 1] === 'start' || words[i + 1] === 'test') used.add(words[i + 1]!);
          if ((words[i + 1] === 'run' || words[i + 1] === 'run-script') && words[i + 2])
            used.add(words[i + 2]!);
        }
      };
      for (const service of Object.values(services)) {
        scan(argv(service.command));
        scan(argv(service.entrypoint));
        if (service.healthcheck) scan(argv((service.healthcheck as Json).test));
      }
      // and anything written in the file itself (comments included)
      for (const m of readFileSync(FILE, 'utf8').matchAll(/npm run ([\w:.-]+)/g)) used.add(m[1]!);
      expect(used.size).toBeGreaterThan(0);
      for (const name of used) expect(scripts, `npm script "${name}"`).toContain(name);
    });

    it('ships no default admin token: without ADMIN_TOKEN in the environment it refuses, naming it (issue 16 item 17)', () => {
      const env: NodeJS.ProcessEnv = { ...process.env, COMPOSE_PROFILES: '' };
      delete env.ADMIN_TOKEN;
      const [cmd, args] = works('docker', ['compose', 'version'])
        ? ['docker', ['compose', '-f', FILE, 'config']]
        : ['docker-compose', ['-f', FILE, 'config']];
      const refused = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('ADMIN_TOKEN');
    });
  },
);
