// The production topology of docker-compose.yml, natively on this machine (`npm run stack`, test/stack/,
// `npm run bench -- --stack`): PostgreSQL; the schema job (deploy/temporal/setup-postgres.sh); the Temporal server
// with mutual TLS on its frontend; the namespace and search-attribute job (deploy/temporal/create-namespace.sh);
// Temporal UI with the service as its codec server; the Onetime Secret emulator as its own process (the service's
// "live" OTS, so it outlives any replica); and N replicas of the service. Each gets its compose service's
// environment (compose-env.ts); everything listens on free loopback ports. The run's state (pids, ports, specs to
// restart each process) is kept in <runDir>/stack.json so `status` and `down` work from another process.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { makeSandboxSecrets } from '../../src/sandbox/index.js';
import { freePort } from '../../src/temporal/ports.js';
import { ensureBinaries, type Binaries } from './binaries.js';
import {
  NOT_RUN_BY_STACK,
  resolvedCompose,
  SERVER_PORT_VARIABLES,
  stackEnvironment,
  type ComposeProject,
  type StackPlaces,
} from './compose-env.js';
import { alive, launch, runJob, stop, waitFor, type ProcSpec } from './procs.js';

export const projectDir = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_RUN_DIR = join(projectDir, '.cache', 'stack', 'run');

export interface StackOptions {
  runDir?: string;
  replicas?: number;
  /**
   * docker-compose.yml's interpolation variables (deploy/.env.example), as `docker compose` reads them from the
   * shell: OTS_POLL_INTERVALS, OTS_RATE_LIMIT_PER_MINUTE, LOG_LEVEL, TEMPORAL_LOG_LEVEL, …
   */
  composeVars?: Record<string, string>;
  say?: (line: string) => void;
}

interface ReplicaState {
  index: number;
  url: string;
  pid?: number;
  spec: ProcSpec;
}

export interface StackState {
  runDir: string;
  startedAt: string;
  places: StackPlaces & { otsPort: number };
  agentToken: string;
  codecToken: string;
  ots: { baseUrl: string; controlUrl: string; username: string; apiKey: string; pid?: number; spec: ProcSpec };
  postgres: { pid?: number; spec: ProcSpec };
  temporal: { address: string; pid?: number; spec: ProcSpec };
  ui: { url: string; pid?: number; spec: ProcSpec };
  replicas: ReplicaState[];
  /** Environment for a temporal CLI or SDK client of this stack (mutual TLS): address and certificate paths. */
  clientTls: { address: string; serverName: string; ca: string; cert: string; key: string };
}

/** What `npm run stack -- status --json` prints: how other tools drive the stack. */
export interface StackStatus {
  replicas: { url: string; pid: number | null; alive: boolean }[];
  agentToken: string;
  temporal: { address: string; pid: number | null; alive: boolean; tls: StackState['clientTls'] };
  ui: string;
  ots: string;
  postgres: { port: number; pid: number | null; alive: boolean };
  runDir: string;
}

const STATE_FILE = 'stack.json';

export function readState(runDir = DEFAULT_RUN_DIR): StackState | undefined {
  const file = join(runDir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

export class Stack {
  readonly say: (line: string) => void;
  constructor(
    readonly state: StackState,
    say?: (line: string) => void,
  ) {
    this.say = say ?? (() => {});
  }

  save(): void {
    const file = join(this.state.runDir, STATE_FILE);
    writeFileSync(file, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
  }

  status(): StackStatus {
    const s = this.state;
    const pid = (p?: number) => ({ pid: p ?? null, alive: alive(p) });
    return {
      replicas: s.replicas.map((r) => ({ url: r.url, ...pid(r.pid) })),
      agentToken: s.agentToken,
      temporal: { address: s.temporal.address, ...pid(s.temporal.pid), tls: s.clientTls },
      ui: s.ui.url,
      ots: s.ots.baseUrl,
      postgres: { port: s.places.pgPort, ...pid(s.postgres.pid) },
      runDir: s.runDir,
    };
  }

  /** Starts one process of the stack and waits until `ready` says so (or it dies, or `timeoutMs` passes). */
  async #start(
    proc: { pid?: number; spec: ProcSpec },
    what: string,
    ready: () => Promise<boolean>,
    timeoutMs: number,
  ): Promise<void> {
    proc.pid = await launch(proc.spec);
    this.save();
    await waitFor(what, ready, { timeoutMs, pid: proc.pid, log: proc.spec.log });
  }

  /** Stops one process of the stack (SIGKILL after `graceMs`) and forgets its pid. */
  async #stop(proc: { pid?: number }, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
    await stop(proc.pid, signal, graceMs);
    proc.pid = undefined;
    this.save();
  }

  startPostgres(): Promise<void> {
    return this.#start(this.state.postgres, 'PostgreSQL accepting connections', () => pgReady(this.state), 60_000);
  }
  /** Fast shutdown (SIGINT): open transactions are rolled back, connections cut, as when the database goes away. */
  stopPostgres(): Promise<void> {
    return this.#stop(this.state.postgres, 'SIGINT', 30_000);
  }

  startTemporal(): Promise<void> {
    const port = this.state.places.frontendPort;
    return this.#start(this.state.temporal, 'the Temporal frontend accepting connections', () => tcpOpen(port), 90_000);
  }
  stopTemporal(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.#stop(this.state.temporal, signal, 30_000);
  }

  startOts(): Promise<void> {
    const o = this.state.ots;
    return this.#start(o, 'the OTS emulator', () => httpOk(`${o.controlUrl}/stats`), 60_000);
  }

  startUi(): Promise<void> {
    const u = this.state.ui;
    // An API route, not the static page: it answers only once the UI reaches Temporal (over mutual TLS).
    return this.#start(u, 'Temporal UI reaching Temporal', () => httpOk(`${u.url}/api/v1/namespaces`), 60_000);
  }

  replica(i: number): ReplicaState {
    const r = this.state.replicas[i];
    if (!r) throw new Error(`no replica ${i}`);
    return r;
  }
  async startReplica(i: number): Promise<void> {
    const r = this.replica(i);
    if (alive(r.pid)) throw new Error(`replica ${i + 1} is running (pid ${r.pid})`);
    await this.#start(r, `replica ${i + 1} ready (${r.url}/readyz)`, () => httpOk(`${r.url}/readyz`), 120_000);
  }
  stopReplica(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.#stop(this.replica(i), signal, 40_000);
  }

  /** Stops every process it started, the service first and PostgreSQL last. */
  async down(): Promise<void> {
    const s = this.state;
    await Promise.all(s.replicas.map((_, i) => this.stopReplica(i)));
    await this.#stop(s.ui);
    await this.#stop(s.ots);
    await this.stopTemporal();
    await this.stopPostgres();
  }
}

const tcpOpen = async (port: number) => {
  const { connect } = await import('node:net');
  return new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
};

const httpOk = async (url: string) => {
  const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  await res.body.dump();
  return res.statusCode === 200;
};

async function pgReady(state: StackState): Promise<boolean> {
  const pgBin = state.postgres.spec.cmd.replace(/\/postgres$/, '');
  return new Promise((resolve) => {
    execFile(
      join(pgBin, 'pg_isready'),
      ['-h', '127.0.0.1', '-p', String(state.places.pgPort), '-d', 'postgres', '-t', '2'],
      (err) => resolve(!err),
    );
  });
}

/** A free loopback port from 20000 to 32767. */
async function freeLowPort(): Promise<number> {
  const { createServer } = await import('node:net');
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/**
 * Compose interpolation variables that hold secrets or reach live services: the stack makes its own or forces the
 * sandbox (SET_BY_STACK), so they are never taken from the caller's shell, nor written into a bench's results.
 */
const NOT_FROM_THE_SHELL =
  /^(PUBLIC_BASE_URL|AGENT_API_TOKENS|SEAL_KEY|PAYLOAD_KEYS|CODEC_TOKENS|METRICS_TOKENS|OTEL_.*|POSTGRES_PASSWORD|OTS_(USERNAME|API_KEY|BASE_URL)|TWILIO_.*|DEEPGRAM_.*|NOTES_WEBHOOK_.*)$/;

/**
 * The compose interpolation variables named in deploy/.env.example, from `env` (as docker compose reads them),
 * except secrets and live-service settings (NOT_FROM_THE_SHELL).
 */
export function composeVarsFrom(env: NodeJS.ProcessEnv): Record<string, string> {
  const example = readFileSync(join(projectDir, 'deploy', '.env.example'), 'utf8');
  const names = [...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
  return Object.fromEntries(
    names.filter((n) => env[n] !== undefined && !NOT_FROM_THE_SHELL.test(n)).map((n) => [n, env[n]!]),
  );
}

/** Brings the whole topology up; on failure stops what it had started and rethrows. */
export async function stackUp(opts: StackOptions = {}): Promise<Stack> {
  const say = opts.say ?? ((line: string) => process.stderr.write(`[stack] ${line}\n`));
  const runDir = resolve(opts.runDir ?? DEFAULT_RUN_DIR);
  const previous = readState(runDir);
  if (previous) {
    const st = new Stack(previous).status();
    // Any process of it, not only the replicas: the run folder (PostgreSQL's data among it) is about to be removed.
    if (
      [...st.replicas, st.temporal, st.postgres].some((p) => p.alive) ||
      alive(previous.ots.pid) ||
      alive(previous.ui.pid)
    )
      throw new Error(`a stack is still running from ${runDir}: npm run stack -- down`);
  }
  const started = Date.now();
  const bins = await ensureBinaries({ projectDir, say });
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  chmodSync(runDir, 0o755);

  const replicaCount = opts.replicas ?? 2;
  const ports = async (n: number) => {
    const out: number[] = [];
    while (out.length < n) {
      const p = await freePort();
      if (!out.includes(p)) out.push(p);
    }
    return out;
  };
  const [pgPort, uiPort, otsPort, ...replicaPorts] = await ports(3 + replicaCount);
  // Below 32768: the server keeps its membership ports in a smallint column (cluster_membership.rpc_port in the
  // PostgreSQL schema), and the OS hands out free ports from 32768 up.
  const serverPorts: Record<string, number> = {};
  for (const v of SERVER_PORT_VARIABLES) {
    let p: number;
    do p = await freeLowPort();
    while ([pgPort, uiPort, otsPort, ...replicaPorts, ...Object.values(serverPorts)].includes(p));
    serverPorts[v] = p;
  }
  const certsDir = join(runDir, 'certs');
  const places: StackState['places'] = {
    pgPort: pgPort!,
    frontendPort: serverPorts.FRONTEND_GRPC_PORT!,
    uiPort: uiPort!,
    otsPort: otsPort!,
    certsDir,
    codecBaseUrl: `http://127.0.0.1:${replicaPorts[0]}`,
    schemaDir: bins.schemaDir,
  };

  // The run's PKI: deploy/temporal/make-certs.sh, the script the compose README step runs.
  await runJob(
    {
      name: 'make-certs',
      cmd: 'sh',
      args: [
        join(projectDir, 'deploy/temporal/make-certs.sh'),
        certsDir,
        `ots-handoff stack CA ${randomBytes(4).toString('hex')}`,
      ],
      env: { PATH: process.env.PATH! },
      cwd: runDir,
      log: join(runDir, 'logs', 'make-certs.log'),
    },
    60_000,
  );

  const project = await resolvedCompose(opts.composeVars ?? {});
  for (const service of Object.keys(project.services))
    if (NOT_RUN_BY_STACK[service]) say(`${service}: not run here (${NOT_RUN_BY_STACK[service]})`);
  const state = planStack({ runDir, places, serverPorts, replicaPorts, bins, project });
  const stack = new Stack(state, say);
  stack.save();
  // One sandbox Twilio account for the fleet, as one real account would be: a replica's fake texts the link and
  // signs its status callbacks with the account's token, and they go to the replica the request came in at.
  const sandboxAccount = JSON.stringify(makeSandboxSecrets());
  for (const r of state.replicas) {
    const dir = r.spec.env.DATA_DIR!;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'sandbox-secrets.json'), sandboxAccount, { mode: 0o600 });
  }
  const env = stackEnvironment(project, 'postgresql', places, {});
  try {
    say(`PostgreSQL on 127.0.0.1:${pgPort} …`);
    initPostgres(state, bins, env.POSTGRES_USER!, env.POSTGRES_PASSWORD!);
    await stack.startPostgres();
    say('schema job (deploy/temporal/setup-postgres.sh) …');
    await runJob(jobSpec(state, bins, project, 'temporal-admin-tools', 'setup-postgres.sh'), 180_000);
    say(`Temporal server on ${state.temporal.address} (mutual TLS) …`);
    await stack.startTemporal();
    say('namespace job (deploy/temporal/create-namespace.sh) …');
    await runJob(jobSpec(state, bins, project, 'temporal-create-namespace', 'create-namespace.sh'), 180_000);
    say(`Onetime Secret emulator on 127.0.0.1:${otsPort} …`);
    await stack.startOts();
    say(`${replicaCount} replicas of ots-handoff …`);
    await Promise.all(state.replicas.map((_, i) => stack.startReplica(i)));
    say(`Temporal UI on ${state.ui.url} …`);
    await stack.startUi();
  } catch (err) {
    say(`start-up failed: stopping what was started`);
    await stack.down().catch(() => undefined);
    throw err;
  }
  say(`stack up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return stack;
}

function initPostgres(state: StackState, bins: Binaries, user: string, password: string): void {
  const data = join(state.runDir, 'pgdata');
  const pwfile = join(state.runDir, 'pg-password');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  const sockets = join(state.runDir, 'pgsock');
  mkdirSync(sockets, { recursive: true });
  const asPostgres = process.getuid?.() === 0;
  // initdb and postgres refuse to run as root: their folders belong to the postgres user.
  if (asPostgres) execFileSync('chown', ['-R', 'postgres:postgres', data, sockets, pwfile]);
  const args = ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C'];
  const cmd = asPostgres
    ? [
        'setpriv',
        ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups', '--', join(bins.pgBinDir, 'initdb'), ...args],
      ]
    : [join(bins.pgBinDir, 'initdb'), args];
  try {
    execFileSync(cmd[0] as string, cmd[1] as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`initdb failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
  rmSync(pwfile, { force: true });
}

export function jobSpec(
  state: StackState,
  bins: Binaries,
  project: ComposeProject,
  service: 'temporal-admin-tools' | 'temporal-create-namespace',
  script: string,
): ProcSpec {
  const schema = service === 'temporal-admin-tools';
  const added: Record<string, string> = schema ? { SCHEMA_DIR: bins.schemaDir } : {};
  const set: Record<string, string> = schema ? { DB_PORT: String(state.places.pgPort) } : {};
  return {
    name: service,
    cmd: 'sh',
    args: [join(projectDir, 'deploy/temporal', script)],
    env: {
      PATH: `${bins.binDir}:${bins.cliDir}:${process.env.PATH}`,
      HOME: process.env.HOME ?? '/tmp',
      ...stackEnvironment(project, service, state.places, { set, added }),
    },
    cwd: state.runDir,
    log: join(state.runDir, 'logs', `${service}.log`),
  };
}

/**
 * Every process of the stack as a spec (command, environment, folder, log), with no process started: `stackUp`
 * runs these, test/unit/compose.test.ts compares their environments with docker-compose.yml's. Makes the server's
 * and the UI's working folders under `runDir`.
 */
export function planStack(a: {
  runDir: string;
  places: StackState['places'];
  serverPorts: Record<string, number>;
  replicaPorts: number[];
  bins: Binaries;
  project: ComposeProject;
}): StackState {
  const { runDir, places, bins, project } = a;
  const logs = join(runDir, 'logs');
  const sysEnv = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp' };

  // The server's working folder: its config template reads config/dynamicconfig/… relative to it, where compose
  // mounts deploy/temporal/dynamicconfig.
  const temporalDir = join(runDir, 'temporal');
  mkdirSync(join(temporalDir, 'config'), { recursive: true });
  symlinkSync(join(projectDir, 'deploy/temporal/dynamicconfig'), join(temporalDir, 'config', 'dynamicconfig'));
  const temporalEnv = stackEnvironment(project, 'temporal', places, {
    set: { DB_PORT: String(places.pgPort) },
    added: Object.fromEntries(Object.entries(a.serverPorts).map(([k, v]) => [k, String(v)])),
  });

  // The UI server: the ui image's own template (config/docker.yaml) beside a base.yaml that binds it to loopback
  // (the template has no host setting, and the server then listens on every interface).
  const uiDir = join(runDir, 'ui');
  mkdirSync(join(uiDir, 'config'), { recursive: true });
  copyFileSync(bins.uiConfigTemplate, join(uiDir, 'config', 'docker.yaml'));
  writeFileSync(join(uiDir, 'config', 'base.yaml'), 'host: 127.0.0.1\n');
  const uiEnv = stackEnvironment(project, 'temporal-ui', places, {
    added: { TEMPORAL_UI_PORT: String(places.uiPort) },
  });

  const otsUsername = 'stack@example.com';
  const otsApiKey = randomBytes(20).toString('hex');
  const otsBase = `http://127.0.0.1:${places.otsPort}`;
  const agentToken = `agent-${randomBytes(16).toString('hex')}`;
  const codecToken = `codec-${randomBytes(16).toString('hex')}`;
  const shared = {
    TWILIO_ACCOUNT_SID: '',
    TWILIO_AUTH_TOKEN: '',
    TWILIO_FROM: '',
    DEEPGRAM_API_KEY: '',
    NOTES_WEBHOOK_URL: '',
    NOTES_WEBHOOK_SECRET: '',
    AGENT_API_TOKENS: agentToken,
    CODEC_TOKENS: codecToken,
    SEAL_KEY: randomBytes(32).toString('base64'),
    PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    OTS_USERNAME: otsUsername,
    OTS_API_KEY: otsApiKey,
    OTS_BASE_URL: `${otsBase}/sandbox/ots`,
  };
  const replicas: ReplicaState[] = a.replicaPorts.map((port, index) => {
    const url = `http://127.0.0.1:${port}`;
    const env = stackEnvironment(project, 'ots-handoff', places, {
      set: { ...shared, PORT: String(port), PUBLIC_BASE_URL: url },
      added: { DATA_DIR: join(runDir, `replica-${index + 1}`) },
    });
    return {
      index,
      url,
      spec: {
        name: `replica-${index + 1}`,
        cmd: process.execPath,
        args: ['--import', 'tsx', 'src/main.ts'],
        env: { ...sysEnv, ...env },
        cwd: projectDir,
        log: join(logs, `replica-${index + 1}.log`),
      },
    };
  });
  const certs = places.certsDir;
  return {
    runDir,
    startedAt: new Date().toISOString(),
    places,
    agentToken,
    codecToken,
    ots: {
      baseUrl: `${otsBase}/sandbox/ots`,
      controlUrl: `${otsBase}/_control`,
      username: otsUsername,
      apiKey: otsApiKey,
      spec: {
        name: 'ots-emulator',
        cmd: process.execPath,
        args: [
          '--import',
          'tsx',
          'scripts/stack/ots-emulator.ts',
          '--port',
          String(places.otsPort),
          '--username',
          otsUsername,
          '--state',
          join(runDir, 'ots-emulator.sealed.json'),
        ],
        // In the environment, out of `ps`: the account's key, and the key its state file is sealed with.
        env: { ...sysEnv, OTS_EMULATOR_API_KEY: otsApiKey, OTS_EMULATOR_SEAL_KEY: randomBytes(32).toString('base64') },
        cwd: projectDir,
        log: join(logs, 'ots-emulator.log'),
      },
    },
    postgres: {
      spec: {
        name: 'postgresql',
        cmd: join(bins.pgBinDir, 'postgres'),
        args: [
          '-D',
          join(runDir, 'pgdata'),
          '-p',
          String(places.pgPort),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `unix_socket_directories=${join(runDir, 'pgsock')}`,
        ],
        env: { PATH: process.env.PATH!, LANG: 'C' },
        cwd: runDir,
        log: join(logs, 'postgresql.log'),
        user: 'postgres',
      },
    },
    temporal: {
      address: `127.0.0.1:${places.frontendPort}`,
      spec: {
        name: 'temporal-server',
        cmd: bins.bin['temporal-server'],
        args: ['start'],
        env: { ...sysEnv, ...temporalEnv },
        cwd: temporalDir,
        log: join(logs, 'temporal-server.log'),
      },
    },
    ui: {
      url: `http://127.0.0.1:${places.uiPort}`,
      spec: {
        name: 'temporal-ui',
        cmd: bins.bin['temporal-ui-server'],
        args: ['--root', uiDir, '--env', 'docker', 'start'],
        env: { ...sysEnv, ...uiEnv },
        cwd: uiDir,
        log: join(logs, 'temporal-ui.log'),
      },
    },
    replicas,
    clientTls: {
      address: `127.0.0.1:${places.frontendPort}`,
      serverName: 'temporal',
      ca: join(certs, 'ca.pem'),
      cert: join(certs, 'admin.pem'),
      key: join(certs, 'admin-key.pem'),
    },
  };
}
