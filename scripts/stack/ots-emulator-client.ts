// For a parent process (npm run stack, tests): spawns the OTS emulator's own process (scripts/stack/ots-emulator.ts),
// waits for its one JSON line on stdout, and talks to its control API (src/sandbox/ots-emulator/control.ts).
// The API key and the state file's seal key reach the child through its environment, not its command line (`ps`).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { z } from 'zod';
import type { InjectedFault, OtsEmulatorStats, SecretListing } from '../../src/sandbox/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = fileURLToPath(new URL('./ots-emulator.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
/** What is kept of the child's stderr (without a log file) for error messages. */
const STDERR_KEEP = 8_000;

export interface OtsEmulatorProcessOptions {
  /** 0 (the default): a free port. */
  port?: number;
  /** A loopback address or localhost (default 127.0.0.1). */
  host?: string;
  /** The one account the emulator accepts (the replicas' OTS_USERNAME and OTS_API_KEY). */
  username: string;
  apiKey: string;
  /** Keep the emulator's state in this file across restarts, sealed with `sealKey`. */
  stateFile?: string;
  /** 32 bytes, base64 (openssl rand -base64 32): needed with `stateFile`; the same key opens it after a restart. */
  sealKey?: string;
  rateLimit?: { max: number; windowMs: number };
  /** Append the child's stderr here (it then owns the file: it outlives this process's pipes). */
  logFile?: string;
}

export interface OtsEmulatorControl {
  /** POST /_control/faults; resolves to the faults pending after it. */
  fault(f: InjectedFault): Promise<{ pendingFaults: number }>;
  /** Sends the answers held back by `stall` faults. */
  release(): Promise<{ released: number }>;
  /** Drops the faults not yet used up. */
  clearFaults(): Promise<{ cleared: number }>;
  stats(): Promise<OtsEmulatorStats>;
  /** Every stored receipt, oldest first, without values, passphrases or keys. */
  secrets(): Promise<SecretListing[]>;
}

export interface OtsEmulatorProcess {
  /** OTS_BASE_URL for the replicas: http://127.0.0.1:PORT/sandbox/ots. */
  baseUrl: string;
  pid: number;
  /** http://127.0.0.1:PORT/_control */
  controlUrl: string;
  control: OtsEmulatorControl;
  /** Settles when the process has exited, however. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (the emulator writes its state and exits 0), SIGKILL if it is still there after 5 s. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The line the emulator prints once listening: exactly these two fields. */
const readyLine = z.strictObject({ baseUrl: z.url(), pid: z.int().positive() });

export async function spawnOtsEmulator(opts: OtsEmulatorProcessOptions): Promise<OtsEmulatorProcess> {
  if (opts.stateFile !== undefined && !opts.sealKey)
    throw new TypeError('spawnOtsEmulator: a stateFile needs the sealKey it is sealed with');
  const args = ['--import', 'tsx', ENTRY, '--port', String(opts.port ?? 0), '--username', opts.username];
  if (opts.host !== undefined) args.push('--host', opts.host);
  if (opts.stateFile !== undefined) args.push('--state', opts.stateFile);
  if (opts.rateLimit) args.push('--rate-limit', `${opts.rateLimit.max}/${opts.rateLimit.windowMs}`);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, OTS_EMULATOR_API_KEY: opts.apiKey };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  if (opts.sealKey) env.OTS_EMULATOR_SEAL_KEY = opts.sealKey;

  const logFd = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'a', 0o600);
  const logStart = opts.logFile === undefined ? 0 : statSync(opts.logFile).size;
  const child = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', logFd ?? 'pipe'],
  });
  if (logFd !== undefined) closeSync(logFd);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEEP);
  });
  const errorText = () =>
    opts.logFile === undefined
      ? stderr
      : readFileSync(opts.logFile, 'utf8').slice(logStart).slice(-STDERR_KEEP) + ` (from ${opts.logFile})`;

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A process that could not be spawned at all emits no 'exit'.
    child.once('error', () => child.pid === undefined && resolve({ code: null, signal: null }));
  });
  let gone = false;
  void exited.then(() => (gone = true));

  let ready: z.infer<typeof readyLine>;
  try {
    ready = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`no ready line within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
      child.once('error', (err) => reject(err));
      void exited.then(({ code, signal }) =>
        reject(new Error(`it exited (${signal ?? `code ${code}`}) before it was listening`)),
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume(); // nothing more is expected; never let a full pipe block the child
        try {
          resolve(readyLine.parse(JSON.parse(out.slice(0, nl))));
        } catch {
          reject(new Error(`its first line is not {"baseUrl","pid"}: ${out.slice(0, Math.min(nl, 200))}`));
        }
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the OTS emulator did not start: ${(err as Error).message}\n${errorText()}`, { cause: err });
  }

  const controlUrl = `${new URL(ready.baseUrl).origin}/_control`;
  const call = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await request(`${controlUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${controlUrl}${path}: HTTP ${res.statusCode} ${text}`);
    return JSON.parse(text) as T;
  };

  return {
    baseUrl: ready.baseUrl,
    pid: ready.pid,
    controlUrl,
    control: {
      fault: (f) => call('POST', '/faults', f),
      release: () => call('POST', '/release'),
      clearFaults: () => call('POST', '/clear-faults'),
      stats: () => call('GET', '/stats'),
      secrets: () => call('GET', '/secrets'),
    },
    exited,
    async stop() {
      if (!gone) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}
