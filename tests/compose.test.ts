/**
 * docker-compose.yml, as Compose itself resolves it (`docker compose config --format json`, with
 * the `load`, `extra` and `cluster` profiles so that every service is listed): the services are
 * there, Redis runs with the durability flags of ARCHITECTURE.md, PostgreSQL with
 * synchronous_commit, the gateway waits for healthy stores and checks /readyz, the k6 command names
 * a scenario file that exists in the mounted folder and waits for the fixtures to complete, and
 * every `npm run X` the file uses is a script of package.json. The `cluster` profile (issue 14 item
 * 5) leaves the default services alone and adds six Redis nodes with the same durability, their
 * cluster creation (one replica per master), two gateways and two writers on the cluster with one
 * sweeper among them, HAProxy in front of both gateways (deploy/haproxy.cfg: WebSocket upgrades,
 * /readyz checks; `haproxy -c` where a haproxy binary exists) and k6 through it. Needs no Docker
 * engine, only the client: skipped (with the reason printed) where there is no Compose. Compose v1
 * (`docker-compose`, which prints only YAML and every service whatever its profile) is accepted
 * too, its output converted by the PyYAML it runs on.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const FILE = join(ROOT, 'docker-compose.yml');
const PROFILES = ['--profile', 'load', '--profile', 'extra', '--profile', 'cluster'];

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

/**
 * The repository file that a read-only volume (a bind mount of the file or of a folder holding it)
 * puts at `inContainer`; asserts that it is mounted read-only, lies inside the repository and exists.
 */
function mountedFile(service: Json, inContainer: string): string {
  const mount = volumes(service).find(
    (v) => v.target === inContainer || inContainer.startsWith(`${v.target}/`),
  );
  expect(mount, `a volume mounts ${inContainer}`).toBeDefined();
  expect(mount!.readOnly, `${inContainer} is mounted read-only`).toBe(true);
  const onHost = join(mount!.source, inContainer.slice(mount!.target.length + 1));
  expect(relative(ROOT, onHost).startsWith('..'), `${onHost} is inside the repository`).toBe(false);
  expect(existsSync(onHost), `${onHost} exists`).toBe(true);
  return onHost;
}

const profilesOf = (service: Json): string[] => ((service.profiles ?? []) as unknown[]).map(String);
const envOf = (service: Json): Record<string, string> =>
  (service.environment ?? {}) as Record<string, string>;

/** Published ports as [host address, container port] (Compose v1 prints strings, v2 objects). */
function publishedPorts(service: Json): { hostIp: string; target: number }[] {
  return ((service.ports ?? []) as unknown[]).map((p) => {
    if (typeof p === 'string') {
      const parts = p.split('/')[0]!.split(':');
      return { hostIp: parts.length === 3 ? parts[0]! : '', target: Number(parts.at(-1)) };
    }
    const o = p as Json;
    return { hostIp: typeof o.host_ip === 'string' ? o.host_ip : '', target: Number(o.target) };
  });
}

/** A Redis node's settings: the `key value` lines of the config file it is started with, then its `--key value` arguments. */
function redisSettings(service: Json): Map<string, string> {
  const args = argv(service.command);
  const settings = new Map<string, string>();
  const file = args.find((a) => a.endsWith('.conf'));
  if (file) {
    for (const line of readFileSync(mountedFile(service, file), 'utf8').split('\n')) {
      const m = /^\s*([a-z][\w-]*)\s+(.*?)\s*$/i.exec(line);
      if (m) settings.set(m[1]!.toLowerCase(), m[2]!);
    }
  }
  for (let i = 1; i + 1 < args.length; i++) {
    if (args[i]!.startsWith('--')) settings.set(args[i]!.slice(2).toLowerCase(), args[i + 1]!);
  }
  return settings;
}

/** haproxy.cfg as sections (`frontend api` → its lines), comments dropped and blanks squeezed. */
function haproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim().replace(/\s+/g, ' ');
    if (line === '') continue;
    if (/^\S/.test(raw)) sections.set(line, (current = []));
    else current.push(line);
  }
  return sections;
}

/** `host:port` of each `server` line of a section. */
const serversOf = (lines: readonly string[]): string[] =>
  lines.flatMap((l) => /^server \S+ (\S+:\d+)/.exec(l)?.[1] ?? []).sort();

/** `haproxy -c` runs where a haproxy binary is installed (.ci/run installs Debian's). */
const HAPROXY = works('haproxy', ['-v']);
if (!skipReason && !HAPROXY)
  console.log('tests/compose.test.ts: `haproxy -c` skipped: no haproxy binary on this machine');

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
      mountedFile(k6, script!);
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

    describe('the cluster profile (issue 14 item 5)', () => {
      const inCluster = Object.entries(services).filter(([, s]) => profilesOf(s).includes('cluster'));
      const named = (test: (service: Json) => boolean): string[] =>
        inCluster.filter(([, s]) => test(s)).map(([name]) => name);
      const redisNodes = named(
        (s) => String(s.image).startsWith('redis:') && argv(s.command)[0] === 'redis-server',
      );
      const gateways = named((s) => argv(s.command).join(' ') === 'npm start');
      const writers = named((s) => argv(s.command).join(' ') === 'npm run writer');
      const balancers = named((s) => String(s.image).startsWith('haproxy:'));
      const k6s = named((s) => String(s.image).startsWith('grafana/k6'));

      it('adds only services of its own: the default stack is what it was', () => {
        const always = Object.entries(services).filter(([, s]) => profilesOf(s).length === 0);
        expect(always.map(([name]) => name).sort()).toEqual(['gateway', 'postgres', 'redis', 'writer']);
        for (const [name, service] of inCluster) expect(profilesOf(service), name).toEqual(['cluster']);
        expect(dependsOn(services.gateway!).redis?.condition).toBe('service_healthy');
        expect(envOf(services.gateway!).REDIS_CLUSTER_NODES, 'the default gateway').toBeUndefined();
      });

      it('runs six Redis nodes in cluster mode, each with AOF fsync always, noeviction and its own /data', () => {
        expect(redisNodes).toHaveLength(6);
        const dataVolumes = new Set<string>();
        for (const name of redisNodes) {
          const node = services[name]!;
          const settings = redisSettings(node);
          expect(settings.get('cluster-enabled'), name).toBe('yes');
          expect(settings.get('appendonly'), name).toBe('yes');
          expect(settings.get('appendfsync'), name).toBe('always');
          expect(settings.get('maxmemory-policy'), name).toBe('noeviction');
          // clients are sent to a node by a name Docker's DNS resolves: its service name
          expect(settings.get('cluster-preferred-endpoint-type'), name).toBe('hostname');
          expect(settings.get('cluster-announce-hostname'), name).toBe(name);
          const data = volumes(node).find((v) => v.target === '/data');
          expect(data, `${name} keeps /data in a volume`).toBeDefined();
          dataVolumes.add(data!.source);
          expect(argv((node.healthcheck as Json).test), name).toContain('ping');
        }
        expect(dataVolumes.size, 'one data volume per node').toBe(6);
      });

      it('creates the cluster once every node is healthy: 3 masters with one replica each', () => {
        const inits = named((s) => argv(s.command).join(' ').includes('--cluster create'));
        expect(inits).toHaveLength(1);
        const init = services[inits[0]!]!;
        const script = argv(init.command).join(' ');
        expect(script).toContain('--cluster-replicas 1');
        expect(script).toContain('--cluster-yes');
        for (const node of redisNodes) {
          expect(script, `the init script names ${node}`).toContain(node);
          expect(dependsOn(init)[node]?.condition, node).toBe('service_healthy');
        }
        expect(init.restart ?? 'no').toBe('no');
      });

      it('runs two gateways and two writers on the cluster, with exactly one sweeper among them', () => {
        expect(gateways).toHaveLength(2);
        expect(writers).toHaveLength(2);
        const inits = named((s) => argv(s.command).join(' ').includes('--cluster create'));
        for (const name of [...gateways, ...writers]) {
          const env = envOf(services[name]!);
          const seeds = String(env.REDIS_CLUSTER_NODES).split(',').sort();
          expect(seeds, `${name} REDIS_CLUSTER_NODES`).toEqual(redisNodes.map((n) => `${n}:6379`).sort());
          expect(env.REDIS_URL, `${name} has no single-node REDIS_URL`).toBeUndefined();
          expect(env.DATABASE_URL, name).toMatch(/^postgres(ql)?:\/\/.*@postgres:/);
        }
        for (const name of gateways) {
          const gateway = services[name]!;
          const env = envOf(gateway);
          expect(env.TEST_MODE, name).toBe('1');
          expect(env.ADMIN_TOKEN, name).toBe(TEST_ADMIN_TOKEN);
          // the writers drain the streams; no gateway does
          expect(env.START_WRITER, name).toBe('0');
          expect(dependsOn(gateway)[inits[0]!]?.condition, name).toBe('service_completed_successfully');
          expect(dependsOn(gateway).postgres?.condition, name).toBe('service_healthy');
          expect(argv((gateway.healthcheck as Json).test).join(' '), name).toContain('/readyz');
          expect(publishedPorts(gateway), `${name}: the balancer is the way in`).toEqual([]);
        }
        for (const name of writers) {
          const after = Object.entries(dependsOn(services[name]!));
          expect(
            after.some(([s, d]) => gateways.includes(s) && d.condition === 'service_healthy'),
            `${name} starts after a gateway's migrations`,
          ).toBe(true);
        }
        const off = (value: string | undefined): boolean => value === '0' || value === 'false';
        const sweepers = named(
          (s) =>
            (argv(s.command).join(' ') === 'npm start' && !off(envOf(s).START_SWEEPER)) ||
            argv(s.command).join(' ') === 'npm run sweeper',
        );
        expect(sweepers, 'processes that sweep').toHaveLength(1);
      });

      it('puts HAProxy in front of both gateways: /readyz checks, WebSocket upgrades, tunnel timeout', () => {
        expect(balancers).toHaveLength(1);
        const lb = services[balancers[0]!]!;
        for (const name of gateways) expect(dependsOn(lb)[name]?.condition, name).toBe('service_healthy');
        expect(argv((lb.healthcheck as Json).test).join(' ')).toContain('/readyz');
        const published = publishedPorts(lb);
        expect(published.map((p) => p.target)).toEqual([8080]);
        expect(published[0]!.hostIp, 'loopback only, as the single gateway').toBe('127.0.0.1');

        const config = haproxySections(
          readFileSync(mountedFile(lb, '/usr/local/etc/haproxy/haproxy.cfg'), 'utf8'),
        );
        const all = [...config.values()].flat();
        expect(
          all.some((l) => /^timeout tunnel \d+[a-z]*$/.test(l)),
          'timeout tunnel',
        ).toBe(true);
        expect(all).toContain('mode http');
        const frontend = (port: number): string[] => {
          const found = [...config].filter(
            ([head, lines]) => head.startsWith('frontend ') && lines.some((l) => l.endsWith(`:${port}`)),
          );
          expect(found, `a frontend binds :${port}`).toHaveLength(1);
          return found[0]![1];
        };
        const backend = (name: string): string[] => {
          const lines = config.get(`backend ${name}`);
          expect(lines, `backend ${name}`).toBeDefined();
          return lines!;
        };
        const api = frontend(8080);
        const wsAcl = api.flatMap((l) => /^acl (\S+) hdr\(upgrade\) -i websocket$/i.exec(l)?.[1] ?? []);
        expect(wsAcl, 'an ACL on Upgrade: websocket').toHaveLength(1);
        const wsRule = api.find((l) => l.startsWith('use_backend ') && l.split(' ').includes(wsAcl[0]!));
        expect(wsRule, 'a use_backend for the WebSocket upgrades').toBeDefined();
        const defaultBackend = api.find((l) => l.startsWith('default_backend '))?.split(' ')[1];
        const apiBackends = [wsRule!.split(' ')[1]!, defaultBackend!];
        for (const name of apiBackends) {
          const lines = backend(name);
          expect(serversOf(lines), name).toEqual(gateways.map((g) => `${g}:8080`).sort());
          expect(lines, name).toContain('option httpchk');
          expect(lines, name).toContain('http-check send meth GET uri /readyz');
          expect(lines, name).toContain('http-check expect status 200');
        }
        // the payment-provider simulators (TEST_MODE) of both gateways, for k6's payments
        const simulators = frontend(8081)
          .find((l) => l.startsWith('default_backend '))
          ?.split(' ')[1];
        expect(serversOf(backend(simulators!))).toEqual(gateways.map((g) => `${g}:8081`).sort());
      });

      it.skipIf(!HAPROXY)('haproxy -c accepts the balancer configuration', () => {
        const file = mountedFile(services[balancers[0]!]!, '/usr/local/etc/haproxy/haproxy.cfg');
        const checked = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8', timeout: 20_000 });
        expect(checked.status, `${checked.stdout}${checked.stderr}`).toBe(0);
      });

      it('runs k6 through the balancer, after fixtures made through it', () => {
        expect(k6s).toHaveLength(1);
        const k6 = services[k6s[0]!]!;
        const script = argv(k6.command).find((a) => a.endsWith('.ts'));
        expect(script, 'k6 command names a .ts scenario').toBeDefined();
        mountedFile(k6, script!);
        const lb = balancers[0]!;
        expect(envOf(k6).BASE_URL).toBe(`http://${lb}:8080`);
        expect(envOf(k6).PAY_URL_BASE).toBe(`http://${lb}:8081`);
        expect(dependsOn(k6)[lb]?.condition).toBe('service_healthy');
        const fixtures = Object.entries(dependsOn(k6)).filter(
          ([, d]) => d.condition === 'service_completed_successfully',
        );
        expect(fixtures).toHaveLength(1);
        const fixturesService = services[fixtures[0]![0]]!;
        expect(profilesOf(fixturesService)).toEqual(['cluster']);
        expect(envOf(fixturesService).BASE_URL).toBe(`http://${lb}:8080`);
        expect(dependsOn(fixturesService)[lb]?.condition).toBe('service_healthy');
      });
    });
  },
);
