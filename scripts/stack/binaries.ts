// What the stack runs, built or installed on first use and reused afterwards:
// - the Temporal server, temporal-sql-tool and the Temporal UI server, from the Go module proxy with the machine's
//   Go, at the versions of docker-compose.yml's images (test/unit/compose.test.ts checks they agree), each in
//   the git-ignored .cache/stack/bin (all three commands are named `server`, so each is built into its own GOBIN);
// - the server module's PostgreSQL schema files (the admin-tools image's /etc/temporal/schema) and the UI server's
//   config template (the ui image's config/docker.yaml), from the module cache;
// - PostgreSQL and netcat (the compose jobs' scripts call `nc`) from Debian's packages, when missing;
// - the temporal CLI the namespace job runs, the one `npm start` uses (src/temporal/cli.ts).
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTemporalCli } from '../../src/temporal/cli.js';

export const TEMPORAL_SERVER_VERSION = 'v1.30.1';
export const TEMPORAL_UI_VERSION = 'v2.45.3';

const GO_BINARIES = {
  'temporal-server': { pkg: 'go.temporal.io/server/cmd/server', version: TEMPORAL_SERVER_VERSION },
  'temporal-sql-tool': { pkg: 'go.temporal.io/server/cmd/tools/sql', version: TEMPORAL_SERVER_VERSION },
  'temporal-ui-server': { pkg: 'github.com/temporalio/ui-server/v2/cmd/server', version: TEMPORAL_UI_VERSION },
} as const;
export type GoBinary = keyof typeof GO_BINARIES;

/** Why the stack cannot run here (no Go, no network to the module proxy, no apt): tests skip with this. */
export class StackUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackUnavailableError';
  }
}

export interface Binaries {
  /** Folder with temporal-server, temporal-sql-tool, temporal-ui-server (and nothing else). */
  binDir: string;
  bin: Record<GoBinary, string>;
  /** The temporal CLI's folder, for PATH. */
  cliDir: string;
  /** …/schema/postgresql/v12, as in the admin-tools image. */
  schemaDir: string;
  /** ui-server's config/docker.yaml: the template the ui image renders. */
  uiConfigTemplate: string;
  /** PostgreSQL's bin folder (initdb, postgres, pg_isready). */
  pgBinDir: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim().slice(-2000) || err.message}`));
      else resolve(String(stdout));
    });
  });
}

const hasCommand = (name: string) =>
  run('sh', ['-c', `command -v ${name}`]).then(
    () => true,
    () => false,
  );

/** apt-get install, as root or through `sudo -n`; `update` once if the package lists are stale. */
async function aptInstall(packages: string[], say: (s: string) => void): Promise<void> {
  if (!(await hasCommand('apt-get')))
    throw new StackUnavailableError(`${packages.join(', ')} missing and no apt-get to install them`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const apt = (args: string[]) =>
    sudo.length
      ? run(sudo[0]!, [...sudo.slice(1), 'apt-get', ...args])
      : run('apt-get', args, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
  say(`installing ${packages.join(' ')} (apt-get install -y) …`);
  try {
    await apt(['install', '-y', '-q', ...packages]);
  } catch {
    await apt(['update', '-q']).catch(() => undefined);
    await apt(['install', '-y', '-q', ...packages]).catch((err: Error) => {
      throw new StackUnavailableError(`apt-get install ${packages.join(' ')} failed: ${err.message}`);
    });
  }
}

function findPgBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

/** `go install` one binary into its own GOBIN, then moves it to `binDir/<name>`; quiet progress every 30 s. */
async function goInstall(name: GoBinary, binDir: string, cacheDir: string, say: (s: string) => void) {
  const { pkg, version } = GO_BINARIES[name];
  const gobin = join(cacheDir, 'gobin', name);
  rmSync(gobin, { recursive: true, force: true });
  mkdirSync(gobin, { recursive: true });
  say(`building ${name} (go install ${pkg}@${version}; minutes the first time, seconds once Go's caches hold it) …`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('go', ['install', `${pkg}@${version}`], {
      env: { ...process.env, GOBIN: gobin },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const tick = setInterval(
      () => say(`  … still building ${name} (${Math.round((Date.now() - started) / 1000)} s)`),
      30_000,
    );
    child.once('error', (e) => {
      clearInterval(tick);
      reject(e);
    });
    child.once('exit', (code) => {
      clearInterval(tick);
      if (code === 0) resolve();
      else reject(new StackUnavailableError(`go install ${pkg}@${version} failed (exit ${code}):\n${err.trim()}`));
    });
  });
  const built = readdirSync(gobin)[0];
  if (!built) throw new StackUnavailableError(`go install ${pkg}@${version} produced no binary`);
  renameSync(join(gobin, built), join(binDir, name));
  say(`  ${name} built in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** `go mod download` a module and return its folder in the module cache. */
async function moduleDir(module: string, version: string): Promise<string> {
  const out = await run('go', ['mod', 'download', '-json', `${module}@${version}`], {
    ...process.env,
    GOFLAGS: '-mod=mod',
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir) throw new StackUnavailableError(`go mod download ${module}@${version} gave no folder`);
  return dir;
}

export async function ensureBinaries(opts: { projectDir: string; say: (s: string) => void }): Promise<Binaries> {
  const { projectDir, say } = opts;
  const cacheDir = join(projectDir, '.cache', 'stack');
  // The versions are in the folder name: a new pin builds anew beside the old one.
  const binDir = join(cacheDir, `bin-${TEMPORAL_SERVER_VERSION}-ui-${TEMPORAL_UI_VERSION}`);
  mkdirSync(binDir, { recursive: true });
  const bin = Object.fromEntries(Object.keys(GO_BINARIES).map((n) => [n, join(binDir, n)])) as Record<GoBinary, string>;
  const missing = (Object.keys(GO_BINARIES) as GoBinary[]).filter((n) => !existsSync(bin[n]));
  if (missing.length && !(await hasCommand('go')))
    throw new StackUnavailableError(`Go is needed to build ${missing.join(', ')} (https://go.dev/dl/)`);
  // One at a time: each `go install` already uses every core.
  for (const name of missing) await goInstall(name, binDir, cacheDir, say);

  const schemaDir = join(cacheDir, `schema-${TEMPORAL_SERVER_VERSION}`, 'postgresql', 'v12');
  const uiConfigTemplate = join(cacheDir, `ui-config-${TEMPORAL_UI_VERSION}`, 'docker.yaml');
  if (!existsSync(schemaDir)) {
    const dir = await moduleDir('go.temporal.io/server', TEMPORAL_SERVER_VERSION);
    cpSync(join(dir, 'schema', 'postgresql', 'v12'), schemaDir, { recursive: true });
  }
  if (!existsSync(uiConfigTemplate)) {
    const dir = await moduleDir('github.com/temporalio/ui-server/v2', TEMPORAL_UI_VERSION);
    mkdirSync(join(uiConfigTemplate, '..'), { recursive: true });
    cpSync(join(dir, 'config', 'docker.yaml'), uiConfigTemplate);
  }

  const needed = [...(findPgBin() ? [] : ['postgresql']), ...((await hasCommand('nc')) ? [] : ['netcat-openbsd'])];
  if (needed.length) await aptInstall(needed, say);
  const pgBinDir = findPgBin();
  if (!pgBinDir) throw new StackUnavailableError('PostgreSQL is installed but /usr/lib/postgresql/*/bin is missing');

  const cli = await ensureTemporalCli({ projectDir, env: process.env, log: say });
  return { binDir, bin, cliDir: join(cli, '..'), schemaDir, uiConfigTemplate, pgBinDir };
}
