// Runs `temporal server start-dev` as a child process: the embedded Temporal for `npm start` and the test setup.
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SearchAttributeKey } from './register-search-attributes.js';

export interface DevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  /** Web UI URL, when started with a UI port. */
  uiUrl?: string;
  /** pid of the wrapper shell; it leads the process group that holds the server. */
  pid: number;
  /** Stops the server; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal) once the server has exited. */
  exited: Promise<number | null>;
}

export interface StartDevServerOptions {
  cliPath: string;
  ip?: string;
  port: number;
  /** undefined: --headless. */
  uiPort?: number;
  /** SQLite file; its directory is created if missing. undefined: in-memory, lost at exit. */
  dbFilename?: string;
  namespace?: string;
  searchAttributes?: readonly SearchAttributeKey[];
  uiCodecEndpoint?: string;
  dynamicConfig?: Record<string, unknown>;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

/**
 * The CLI's names for the SDK's search attribute types, as `temporal server start-dev --search-attribute KEY=TYPE`
 * takes them (see its --help; docs/temporal.md, "Search attributes").
 */
export const CLI_SEARCH_ATTRIBUTE_TYPES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

// The server must die with this Node process, even on SIGKILL, or it is orphaned holding its ports and the
// SQLite file (docs/temporal.md, "Dev server"). The wrapper keeps our stdin pipe on fd 3 and
// runs the server in the background; a watcher blocks on fd 3 and SIGTERMs the server at EOF, which comes when
// we close the pipe (stop()) or when this process dies in any way. `wait` makes the wrapper exit only after
// the server has. The watcher's stdout/stderr go to /dev/null so that our output pipes close with the server.
const WRAPPER =
  'exec 3<&0; "$@" </dev/null 3<&- & pid=$!; (cat <&3; kill -TERM $pid 2>/dev/null) >/dev/null 2>&1 & wait $pid';

const STOP_GRACE_MS = 10_000;

/**
 * Dynamic config every embedded dev server gets. The dev server runs one history shard, and its default of 20
 * transfer-queue reads per second puts every workflow and activity task on a 50 ms grid: a no-op workflow took
 * 50 ms and each hand-off hop another 50 (measured with `npm run bench`; the limiter is the server's
 * history.transferProcessorMaxPollRPS). With 1,000 a no-op takes about 8 ms. Idle polling is unchanged.
 * Eager activity execution hands an activity on the workflow's own task queue (sendLinkSms) back in the workflow
 * task's completion response, one round trip through matching fewer; production servers allow it by default.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, unknown> = {
  'history.transferProcessorMaxPollRPS': 1000,
  'system.enableActivityEagerExecution': true,
};
const TAIL_LINES = 40;

export async function startDevServer(opts: StartDevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const address = `${ip}:${opts.port}`;
  const log = opts.log ?? (() => {});
  if (opts.dbFilename) await mkdir(dirname(opts.dbFilename), { recursive: true });

  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(opts.port),
    ...(opts.uiPort === undefined ? ['--headless'] : ['--ui-port', String(opts.uiPort)]),
    ...(opts.dbFilename ? ['--db-filename', opts.dbFilename] : []),
    ...(opts.namespace ? ['--namespace', opts.namespace] : []), // `default` always exists; naming it is harmless
    '--log-level',
    'warn',
    ...(opts.searchAttributes ?? []).flatMap((k) => [
      '--search-attribute',
      `${k.name}=${CLI_SEARCH_ATTRIBUTE_TYPES[k.type]}`,
    ]),
    ...(opts.uiCodecEndpoint ? ['--ui-codec-endpoint', opts.uiCodecEndpoint] : []),
    // Values must be JSON: a string needs its quotes (docs/temporal.md, "Dev server").
    ...Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...opts.dynamicConfig }).flatMap(([k, v]) => [
      '--dynamic-config-value',
      `${k}=${JSON.stringify(v)}`,
    ]),
  ];
  const commandLine = [opts.cliPath, ...args].map(shellQuote).join(' ');

  const started = Date.now();
  // detached: its own process group, so a terminal's Ctrl-C reaches only us and we stop it in order; and so
  // stop() can SIGKILL the whole group if the server ignores SIGTERM.
  const child = spawn('bash', ['-c', WRAPPER, 'temporal-dev-server', opts.cliPath, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdin.on('error', () => {}); // EPIPE once the wrapper is gone
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    stream.on('end', () => partial && onLine(partial));
  }
  function onLine(line: string): void {
    if (!line.trim()) return;
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    if (!stopping) log(`temporal: ${line}`); // shutdown chatter (errors about cancelled contexts) is noise
  }

  let exitCode: number | null | undefined;
  // 'close' rather than 'exit': it also waits for the output pipes, which only the wrapper and the server hold.
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve((exitCode = code)));
  });
  child.once('exit', () => child.stdin.end()); // lets the watcher go when the server exits by itself

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (exitCode !== undefined) return;
      child.stdin.end(); // the watcher SIGTERMs the server
      const kill = setTimeout(() => killGroup(child.pid, 'SIGKILL'), STOP_GRACE_MS);
      await exited.catch(() => undefined);
      clearTimeout(kill);
    })());

  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const notReady = await Promise.race([
    waitUntilServing(ip, opts.port, started + timeoutMs, () => exitCode !== undefined).then((why) =>
      why && exitCode === undefined ? `${why}, after ${timeoutMs} ms` : why,
    ),
    exited.then(
      (code) => `exited with code ${code} before it was ready`,
      (err: Error) => `could not be spawned (${err.message})`,
    ),
  ]);
  if (notReady !== undefined) {
    const output = tail.join('\n') || '(none)'; // before stop() adds its shutdown chatter
    await stop();
    throw new Error(`Temporal dev server ${notReady}.\nCommand: ${commandLine}\nLast output:\n${output}`);
  }

  const uiUrl = opts.uiPort === undefined ? undefined : `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${opts.uiPort}`;
  log(
    `Temporal dev server ready at ${address} in ${((Date.now() - started) / 1000).toFixed(1)} s${uiUrl ? `, UI ${uiUrl}` : ''}`,
  );
  return { address, uiUrl, pid: child.pid!, stop, exited };
}

/**
 * Resolves with undefined once the server answers its gRPC health check, else with why not. Probes the TCP port
 * first: connecting before the port is open costs ~1.3 s of grpc reconnect backoff (docs/temporal.md, "Dev server").
 */
async function waitUntilServing(
  host: string,
  port: number,
  deadline: number,
  gone: () => boolean,
): Promise<string | undefined> {
  let lastError = 'port not open';
  while (Date.now() < deadline && !gone()) {
    if (await portOpen(host, port)) {
      let connection: Connection | undefined;
      try {
        const connectTimeout = Math.max(1, Math.min(5000, deadline - Date.now()));
        connection = await Connection.connect({ address: `${host}:${port}`, connectTimeout });
        const { status } = await connection.healthService.check({});
        if (status === 1 /* SERVING */) return undefined;
        lastError = `health status ${status}`;
      } catch (err) {
        lastError = (err as Error).message;
      } finally {
        await connection?.close().catch(() => undefined);
      }
    }
    await sleep(50);
  }
  return `was not ready in time (last check: ${lastError})`;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid) process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
