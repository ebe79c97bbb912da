// The stack's processes: started detached (each its own process group, output appended to its log file) so they
// outlive the `npm run stack -- up` that started them, and stopped by pid from whichever process asks, as
// `down` does. A process is described by a spec that can start it again (a restart in a fault test, or a
// supervisor's): the same command, environment and log.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';

export interface ProcSpec {
  name: string;
  cmd: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  log: string;
  /** Run as this user (PostgreSQL's server refuses root): through setpriv, which execs, so the pid is the server's. */
  user?: string;
}

export const alive = (pid: number | undefined): boolean => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

function command(spec: ProcSpec): [string, string[]] {
  if (!spec.user || process.getuid?.() !== 0) return [spec.cmd, spec.args];
  return ['setpriv', ['--reuid', spec.user, '--regid', spec.user, '--init-groups', '--', spec.cmd, ...spec.args]];
}

/** Starts `spec` detached; resolves with its pid once it has been spawned. */
export function launch(spec: ProcSpec): Promise<number> {
  const fd = openSync(spec.log, 'a');
  const [cmd, args] = command(spec);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.once('error', (err) => {
      closeSync(fd);
      reject(new Error(`${spec.name}: ${err.message}`));
    });
    child.once('spawn', () => {
      closeSync(fd);
      child.unref();
      resolve(child.pid!);
    });
  });
}

/** Runs a one-shot job (the compose jobs) to its end; rejects with the tail of its log when it fails. */
export function runJob(spec: ProcSpec, timeoutMs: number): Promise<void> {
  const fd = openSync(spec.log, 'a');
  const [cmd, args] = command(spec);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', fd, fd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => reject(new Error(`${spec.name}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      closeSync(fd);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${spec.name} failed (${signal ? `killed by ${signal}${signal === 'SIGKILL' ? `, after ${timeoutMs} ms` : ''}` : `exit ${code}`}):\n${tail(spec.log)}`,
          ),
        );
    });
  });
}

/** The last lines of a log file, for an error message. */
export function tail(file: string, lines = 25): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Signals the process group of `pid` and waits for `pid` to be gone; SIGKILL after `graceMs`. Resolves at once
 * when it is not running.
 */
export async function stop(pid: number | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000) {
  if (!alive(pid)) return;
  const send = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid!, s);
    } catch {
      try {
        process.kill(pid!, s);
      } catch {
        /* gone */
      }
    }
  };
  send(signal);
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      send('SIGKILL');
      await waitGone(pid!, 5_000);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitGone(pid: number, ms: number) {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Polls `check` until it returns true; throws `what` (and the log's tail) on timeout or when `pid` dies. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; pid?: number; log?: string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    const died = opts.pid !== undefined && !alive(opts.pid);
    if (died || Date.now() > deadline)
      throw new Error(
        `${what}: ${died ? 'the process exited' : `not within ${opts.timeoutMs / 1000} s`}${opts.log ? `\n${tail(opts.log)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
