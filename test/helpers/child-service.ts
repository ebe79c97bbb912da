// The service as its own process (src/main.ts under tsx, as `npm start` runs it), so a test can SIGKILL it: worker,
// HTTP server and all. It is pointed at the run's shared Temporal dev server (TEMPORAL_ADDRESS) and at whatever
// Onetime Secret the test gives it; restarting with the same environment brings back the same service (same port,
// task queue, keys), as a supervisor would.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildService {
  url: string;
  /** Everything the process wrote to stdout and stderr so far (its log lines). */
  output(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Keys and tokens for a live-mode child: what an operator would put in the environment. */
export function childSecrets() {
  return {
    PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    SEAL_KEY: randomBytes(32).toString('base64'),
    AGENT_API_TOKENS: `agent-${randomBytes(16).toString('hex')}`,
    CODEC_TOKENS: `codec-${randomBytes(16).toString('hex')}`,
  };
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  gone: () => boolean,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (gone()) throw new Error(`the service exited while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Spawns the service and resolves once /readyz answers 200. `log` collects output across restarts. */
export async function startChildService(env: Record<string, string>, log: string[] = []): Promise<ChildService> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
    log.push(d.toString());
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let gone = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => ((gone = true), resolve(code))));
  const url = `http://127.0.0.1:${env.PORT}`;
  try {
    await until(
      'readyz',
      async () => {
        const res = await request(`${url}/readyz`);
        await res.body.dump();
        return res.statusCode === 200 ? true : undefined;
      },
      60_000,
      () => gone,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return {
    url,
    output: () => output,
    exited,
    async kill(signal) {
      if (!gone) child.kill(signal);
      return exited;
    },
  };
}
