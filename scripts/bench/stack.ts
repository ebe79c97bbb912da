// npm run bench -- --stack [--quick] [--watches N] [--shares N] [--out FILE] [--run-dir DIR]: the scale figure, on
// docker-compose.yml's topology run natively (scripts/stack/stack.ts: PostgreSQL, Temporal server with mutual TLS,
// the Onetime Secret emulator as its own process, 2 replicas of src/main.ts, each with its sandbox Twilio).
//
//  1. Shares with 1 replica (replica 2 stopped), then with 2 (started again, requests round robin): p50 of
//     sequential hand-offs after a warm-up, and completions per second with 32 in flight. A share is POST /v1/shares
//     (generated secret, SMS link, its own Idempotency-Key; 429/503 are "deferred" and retried after Retry-After)
//     until its link SMS was sent, read from the replicas' sandbox outboxes (see SHARE_METHOD). After each stage
//     its hand-offs are burned through the agent API, so the next stage does not carry their watches.
//  2. Watch capacity: N watched hand-offs (default 10,000; --quick 500) started through both replicas, filled until
//     each link SMS was sent (the hand-off is then awaiting_view, sleeping in Temporal timers), then each replica's
//     RSS against its idle RSS, and the Onetime Secret emulator's call rate while they are held. The fill has a time
//     cap; what was reached by then is reported, with why.
//
// Every stage is wrapped: a failure is recorded in the results (the error and what was measured so far) and the run
// goes on; the stack is always brought down. Results: .artifacts/bench/stack.json (--out) and a printed table, with
// the machine, the command, the load average and the other processes busy on the machine.
// The OTS budget is not what is measured: OTS_RATE_LIMIT_PER_MINUTE is set to the maximum; the poll schedule is the
// default unless OTS_POLL_INTERVALS is set, and TEMPORAL_WORKFLOW_CACHE_SIZE is passed through too (both read from
// the environment as `npm run stack` reads compose variables).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { DEFAULT_POLL_INTERVALS_TEXT, DEFAULT_WORKFLOW_CACHE_SIZE } from '../../src/config.js';
import { parseRetryAfter } from '../../src/retry-after.js';
import { alive } from '../stack/procs.js';
import { postShare as agentPostShare } from '../lib/agent.js';
import { composeVarsFrom, projectDir, type Stack, stackUp } from '../stack/stack.js';
import { percentile, round, rssMb } from './stats.js';

const SHARE_METHOD =
  'POST /v1/shares (generated secret, SMS link, own Idempotency-Key) until the link SMS is in a replica sandbox ' +
  "outbox (the Twilio fake's own timestamp, so the outbox polling interval of 100 ms does not add to the latency; it " +
  'does hold a slot up to ~100 ms longer, which lowers the rate a little). The SMS is sent by whichever replica ran ' +
  'the activity, so both outboxes are read. awaiting_view follows the SMS by one workflow task.';

const SIZES = {
  full: {
    warmup: 10,
    seq: 100,
    total: 500,
    concurrency: 32,
    watches: 10_000,
    fillCapMin: 25,
    settleS: 20,
    otsWindowS: 30,
  },
  quick: { warmup: 5, seq: 40, total: 200, concurrency: 32, watches: 500, fillCapMin: 8, settleS: 5, otsWindowS: 10 },
};
/** How many hand-offs may be started and not yet have sent their SMS while filling watches. */
const FILL_BACKLOG = 200;
/** How long the fill waits for the last hand-offs' SMS without any progress. */
const STRAGGLER_S = 90;
const GOAL = { watches: 10_000, rss_mb_per_replica_max: 1024 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

// ---------------------------------------------------------------------------------------------------------------
// The machine: load, and what else is busy on it (sampled from /proc, so the figures can be read against it).

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcRow {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

function procTable(): Map<number, ProcRow> {
  const rows = new Map<number, ProcRow>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      rows.set(Number(name), {
        pid: Number(name),
        ppid: Number(fields[1]),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        ticks: Number(fields[11]) + Number(fields[12]),
      });
    } catch {
      // gone meanwhile
    }
  }
  return rows;
}

/** `roots` and every process below them. */
function descendants(table: Map<number, ProcRow>, roots: number[]): Set<number> {
  const out = new Set(roots.filter((p) => table.has(p)));
  let grew = true;
  while (grew) {
    grew = false;
    for (const row of table.values())
      if (!out.has(row.pid) && out.has(row.ppid)) {
        out.add(row.pid);
        grew = true;
      }
  }
  return out;
}

/** A process's name and the first argument that is not an option, never its whole command line (it may hold keys). */
function shortCommand(pid: number, comm: string): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const arg = argv.slice(1).find((a) => !a.startsWith('-') && a !== 'tsx');
    return `${basename(argv[0] ?? comm)}${arg ? ` ${basename(arg).slice(0, 40)}` : ''}`;
  } catch {
    return comm;
  }
}

/** The processes that used the most CPU over `ms`, outside `exclude` and its descendants (this run's own). */
async function busyElsewhere(exclude: number[], ms = 2_000) {
  const before = procTable();
  await sleep(ms);
  const after = procTable();
  const ours = descendants(after, exclude);
  const rows = [...after.values()]
    .filter((r) => !ours.has(r.pid) && before.has(r.pid))
    .map((r) => ({ pid: r.pid, r, pct: ((r.ticks - before.get(r.pid)!.ticks) / CLK_TCK / (ms / 1000)) * 100 }))
    .filter((x) => x.pct >= 5)
    .sort((a, b) => b.pct - a.pct)
    .slice(0, 6);
  return {
    cpu_pct_of_one_core_total: round(rows.reduce((n, x) => n + x.pct, 0)),
    top: rows.map((x) => ({ pid: x.pid, command: shortCommand(x.pid, x.r.comm), cpu_pct_of_one_core: round(x.pct) })),
  };
}

const load = () => loadavg().map((l) => round(l, 2));

/**
 * Pressure stall information (Linux /proc/pressure): the share of the last minute in which some runnable task
 * waited for a CPU, or for I/O. Tells a CPU-starved machine from a slow disk.
 */
function pressure(): { cpu_some_avg60_pct?: number; io_some_avg60_pct?: number } {
  const read = (what: string) => {
    try {
      const m = /^some .*avg60=([\d.]+)/m.exec(readFileSync(`/proc/pressure/${what}`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  };
  return { cpu_some_avg60_pct: read('cpu'), io_some_avg60_pct: read('io') };
}

/** CPU seconds used so far by each of the stack's processes (with their children: PostgreSQL's backends). */
function stackCpu(stack: Stack): Record<string, number> {
  const table = procTable();
  const s = stack.state;
  const named: [string, number | undefined][] = [
    ...s.replicas.map((r, i): [string, number | undefined] => [`replica-${i + 1}`, r.pid]),
    ['temporal-server', s.temporal.pid],
    ['postgresql', s.postgres.pid],
    ['ots-emulator', s.ots.pid],
    ['temporal-ui', s.ui.pid],
  ];
  const out: Record<string, number> = {};
  for (const [name, pid] of named) {
    if (!pid) continue;
    let ticks = 0;
    for (const p of descendants(table, [pid])) ticks += table.get(p)?.ticks ?? 0;
    out[name] = ticks / CLK_TCK;
  }
  out.bench = (table.get(process.pid)?.ticks ?? 0) / CLK_TCK;
  return out;
}

/** CPU seconds the stack's own processes (not the bench, not the UI) used between two stackCpu readings. */
function stackCpuSeconds(a: Record<string, number>, b: Record<string, number>): number {
  return Object.entries(b)
    .filter(([k]) => k !== 'bench' && k !== 'temporal-ui')
    .reduce((sum, [k, v]) => sum + (v >= (a[k] ?? 0) ? v - (a[k] ?? 0) : v), 0);
}

/**
 * How many receipt checks watches that reached awaiting_view at `starts` (ms) have due in [fromMs, toMs) by the
 * poll schedule (seconds, the last repeating): the workflow's own timers (workflows/poll-schedule.ts), without the
 * check at expiry (24 h away here).
 */
export function checksDue(starts: number[], schedule: number[], fromMs: number, toMs: number): number {
  let due = 0;
  for (const start of starts) {
    let t = start;
    for (let k = 0; t < toMs; k++) {
      t += (schedule[Math.min(k, schedule.length - 1)] ?? 60) * 1000;
      if (t >= fromMs && t < toMs) due++;
    }
  }
  return due;
}

/** CPU used between two stackCpu readings, in % of one core. A process restarted in between counts from 0. */
function cpuPct(a: Record<string, number>, b: Record<string, number>, seconds: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(b).map(([k, v]) => {
      const used = v >= (a[k] ?? 0) ? v - (a[k] ?? 0) : v;
      return [k, round((used / seconds) * 100)];
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The agent API and the replicas' outboxes.

interface Counters {
  deferred: number;
  errors: number;
  lastError?: string;
}

/** POST /v1/shares as an agent does (scripts/lib/agent.ts): 429 and 503 deferred and sent again with the same key. */
async function postShare(base: string, token: string, to: string, key: string, c: Counters): Promise<string> {
  const body = { ticketId: 'T-BENCH-STACK', secret: { generate: true }, link: { channel: 'sms', to } };
  const r = await agentPostShare(base, token, body, { idempotencyKey: key, maxWaitMs: 600_000 });
  c.deferred += r.deferred;
  if (r.status === 202) return (r.body as { shareId: string }).shareId;
  throw new Error(`POST /v1/shares answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
}

/** Burns hand-offs through the agent API (POST /v1/shares/:id/burn), `concurrency` at a time. */
async function burnAll(bases: string[], token: string, ids: string[], concurrency = 8) {
  const started = performance.now();
  let next = 0;
  let burned = 0;
  let failed = 0;
  let lastError: string | undefined;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const i = next++;
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await request(`${bases[i % bases.length]}/v1/shares/${ids[i]}/burn`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}` },
              headersTimeout: 60_000,
            });
            const text = await res.body.text();
            if ((res.statusCode === 429 || res.statusCode === 503) && attempt < 10) {
              await sleep(parseRetryAfter(res.headers['retry-after']) ?? 1_000);
              continue;
            }
            // 409: already over (opened, expired or burned): nothing is left watching either way.
            if (res.statusCode === 200 || res.statusCode === 202 || res.statusCode === 409) burned++;
            else {
              failed++;
              lastError = `${res.statusCode}: ${text.slice(0, 160)}`;
            }
          } catch (err) {
            failed++;
            lastError = (err as Error).message;
          }
          break;
        }
      }
    }),
  );
  return { burned, failed, seconds: round((performance.now() - started) / 1000), ...(lastError ? { lastError } : {}) };
}

/**
 * The replicas' sandbox outboxes, read together on an interval: when each number got its SMS, by the Twilio fake's
 * clock (this machine's). The outbox only grows while a replica lives; a restarted replica starts an empty one.
 */
class Outboxes {
  readonly sentAt = new Map<string, number>();
  private readonly consumed: number[];
  private readonly pids: (number | undefined)[];
  private readonly waiters = new Map<string, (at: number) => void>();
  private running = false;
  private loop?: Promise<void>;
  intervalMs = 100;
  lastError?: string;

  constructor(
    private readonly stack: Stack,
    private readonly token: string,
  ) {
    this.consumed = stack.state.replicas.map(() => 0);
    this.pids = stack.state.replicas.map((r) => r.pid);
  }

  get sent(): number {
    return this.sentAt.size;
  }

  async refresh(): Promise<void> {
    await Promise.all(
      this.stack.state.replicas.map(async (r, i) => {
        if (!alive(r.pid)) return;
        if (r.pid !== this.pids[i]) {
          this.pids[i] = r.pid; // restarted: a new, empty outbox
          this.consumed[i] = 0;
        }
        try {
          const res = await request(`${r.url}/sandbox/outbox`, {
            headers: { authorization: `Bearer ${this.token}` },
            headersTimeout: 30_000,
            bodyTimeout: 30_000,
          });
          if (res.statusCode !== 200) {
            this.lastError = `outbox of replica ${i + 1}: ${res.statusCode}`;
            await res.body.dump();
            return;
          }
          const list = (await res.body.json()) as { to: string; at: string }[];
          for (const m of list.slice(this.consumed[i])) {
            const at = Date.parse(m.at);
            if (!this.sentAt.has(m.to)) this.sentAt.set(m.to, at);
            this.waiters.get(m.to)?.(at);
          }
          this.consumed[i] = list.length;
        } catch (err) {
          this.lastError = `outbox of replica ${i + 1}: ${(err as Error).message}`;
        }
      }),
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t = Date.now();
        await this.refresh();
        await sleep(Math.max(10, this.intervalMs - (Date.now() - t)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** When `to` got its SMS (ms since epoch). */
  wait(to: string, timeoutMs: number): Promise<number> {
    const known = this.sentAt.get(to);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolveAt, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(to);
        reject(
          new Error(`no SMS to ${to} within ${timeoutMs / 1000} s${this.lastError ? ` (${this.lastError})` : ''}`),
        );
      }, timeoutMs);
      this.waiters.set(to, (at) => {
        clearTimeout(timer);
        this.waiters.delete(to);
        resolveAt(at);
      });
    });
  }
}

/** Phone numbers unique to this run: +1555, 3 digits of the run, 6 of a counter (E.164: 13 digits). */
function numbers() {
  const run = String(100 + Math.floor(Math.random() * 900));
  let n = 0;
  return () => `+1555${run}${String(n++).padStart(6, '0')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The stages.

type Measured = Record<string, unknown>;

/** Runs a stage; a failure becomes `{ error, ...what it had measured }` and the run goes on. */
async function stage(name: string, fn: (partial: Measured) => Promise<void>): Promise<Measured> {
  const partial: Measured = {};
  const t = performance.now();
  try {
    await fn(partial);
    partial.stage_s = round((performance.now() - t) / 1000);
  } catch (err) {
    partial.stage_s = round((performance.now() - t) / 1000);
    const error = (err as Error).message;
    say(`${name} failed: ${error.split('\n')[0]}`);
    return { error, ...partial };
  }
  return partial;
}

async function shareStage(
  stack: Stack,
  outboxes: Outboxes,
  next: () => string,
  n: (typeof SIZES)['full'],
  out: Measured,
  replicas: number,
) {
  const bases = stack.state.replicas.slice(0, replicas).map((r) => r.url);
  const token = stack.state.agentToken;
  const run = randomBytes(3).toString('hex');
  const c: Counters = { deferred: 0, errors: 0 };
  const ids: string[] = [];
  let k = 0;
  outboxes.intervalMs = 100;
  outboxes.start();
  const cpu0 = stackCpu(stack);
  const t0 = performance.now();
  out.replicas = replicas;
  out.method = SHARE_METHOD;
  /** One hand-off: its latency (POST sent → SMS sent) and when its SMS was sent. */
  const one = async (): Promise<{ ms: number; at: number }> => {
    const i = k++;
    const to = next();
    const started = Date.now();
    const id = await postShare(bases[i % bases.length]!, token, to, `bench-stack-${run}-${i}`, c);
    ids.push(id);
    const at = await outboxes.wait(to, 120_000);
    return { ms: at - started, at };
  };
  const guarded = async () => {
    try {
      return await one();
    } catch (err) {
      c.errors++;
      c.lastError = (err as Error).message;
      return undefined;
    }
  };
  try {
    for (let i = 0; i < n.warmup; i++) await guarded();
    const lat: number[] = [];
    for (let i = 0; i < n.seq; i++) {
      const r = await guarded();
      if (r) lat.push(r.ms);
      if (c.errors > n.seq / 2) throw new Error(`too many failed hand-offs: last ${c.lastError}`);
    }
    out.sequential = {
      runs: lat.length,
      p50_ms: round(percentile(lat, 50)),
      p95_ms: round(percentile(lat, 95)),
      max_ms: round(Math.max(...lat)),
    };
    say(`shares, ${replicas} replica(s): sequential p50 ${round(percentile(lat, 50))} ms (${lat.length} runs)`);

    const errorsBefore = c.errors;
    const deferredBefore = c.deferred;
    let started = 0;
    let done = 0;
    let lastAt = 0;
    const firstPost = Date.now();
    const wall = performance.now();
    await Promise.all(
      Array.from({ length: n.concurrency }, async () => {
        while (started < n.total) {
          started++;
          const r = await guarded();
          if (r) {
            done++;
            lastAt = Math.max(lastAt, r.at);
          }
        }
      }),
    );
    const spanS = (lastAt - firstPost) / 1000;
    out.throughput = {
      total: n.total,
      concurrency: n.concurrency,
      completed: done,
      failed: c.errors - errorsBefore,
      deferred: c.deferred - deferredBefore,
      per_s: done > 0 ? round(done / spanS) : 0,
      span_s: round(spanS),
      wall_s: round((performance.now() - wall) / 1000),
    };
    say(`shares, ${replicas} replica(s): ${(out.throughput as any).per_s}/s at ${n.concurrency} in flight`);
  } finally {
    const seconds = (performance.now() - t0) / 1000;
    out.cpu_pct_of_one_core = cpuPct(cpu0, stackCpu(stack), seconds);
    out.load = load();
    out.pressure = pressure();
    out.counters = { ...c };
    await outboxes.stop();
    // Their watches would otherwise poll on through the next stage.
    out.cleanup = await burnAll(bases, token, ids);
    say(`shares, ${replicas} replica(s): burned ${ids.length} hand-offs in ${(out.cleanup as any).seconds} s`);
  }
}

async function watchStage(
  stack: Stack,
  outboxes: Outboxes,
  next: () => string,
  n: (typeof SIZES)['full'] & { watches: number },
  cacheSize: { value: number; from: string },
  schedule: number[],
  out: Measured,
) {
  const replicas = stack.state.replicas;
  const bases = replicas.map((r) => r.url);
  const token = stack.state.agentToken;
  const run = randomBytes(3).toString('hex');
  const c: Counters = { deferred: 0, errors: 0 };
  const rss = () => replicas.map((r) => (alive(r.pid) ? round(rssMb(r.pid!)) : NaN));
  out.target = n.watches;
  out.cache = cacheSize;
  out.goal = GOAL;
  // Idle: the share stages' hand-offs were burned; give the workers a moment to let them go.
  await sleep(5_000);
  const idleCpu0 = stackCpu(stack);
  await sleep(5_000);
  const idleCpuPerS = stackCpuSeconds(idleCpu0, stackCpu(stack)) / 5;
  out.rss_idle_mb = rss();
  out.idle_stack_cpu_pct_of_one_core = round(idleCpuPerS * 100);
  say(`watches: idle RSS ${(out.rss_idle_mb as number[]).join(' / ')} MB; filling ${n.watches} …`);

  const ots = async () =>
    (await (await request(`${stack.state.ots.controlUrl}/stats`)).body.json()) as {
      apiRequests: number;
      secretsCreated: number;
    };
  const ots0 = await ots();
  const sentBefore = outboxes.sent;
  const held = () => outboxes.sent - sentBefore;
  outboxes.intervalMs = 2_000;
  outboxes.start();
  const peak = replicas.map(() => 0);
  const progress: { t_s: number; held: number; rss_mb: number[]; load1: number }[] = [];
  const cpu0 = stackCpu(stack);
  const t0 = performance.now();
  const capMs = n.fillCapMin * 60_000;
  let posted = 0;
  const stageNumbers: string[] = [];
  let stopped: string | undefined;
  const partialFill = () => {
    const s = (performance.now() - t0) / 1000;
    out.reached = held();
    out.posted = posted;
    out.fill_s = round(s);
    out.fill_per_s = round(held() / s, 2);
    out.rss_peak_mb = [...peak];
    out.counters = { ...c };
  };
  // The monitor: progress, peak RSS, and whether to stop.
  let monitoring = true;
  const monitor = (async () => {
    let lastLog = 0;
    while (monitoring) {
      await sleep(1_000);
      const now = rss();
      now.forEach((v, i) => (peak[i] = Math.max(peak[i]!, Number.isFinite(v) ? v : 0)));
      const s = (performance.now() - t0) / 1000;
      if (s - lastLog >= 15) {
        lastLog = s;
        progress.push({ t_s: round(s, 0), held: held(), rss_mb: now, load1: load()[0]! });
        say(
          `watches: ${held()}/${n.watches} held, ${posted} posted, ${round(held() / s, 1)}/s, RSS ${now.join(' / ')} MB, load ${load()[0]}`,
        );
      }
      partialFill();
      const dead = replicas.findIndex((r) => !alive(r.pid));
      if (dead >= 0) stopped ??= `replica ${dead + 1} exited (log: ${replicas[dead]!.spec.log})`;
      else if (performance.now() - t0 > capMs)
        stopped ??= `the ${n.fillCapMin}-minute cap for filling was reached at ${held()} of ${n.watches}`;
      else if (c.errors > 50 && c.errors > posted / 10)
        stopped ??= `too many failed POST /v1/shares (${c.errors}; last: ${c.lastError})`;
      if (held() >= n.watches) monitoring = false;
    }
  })();
  try {
    // The producers: round robin, at most FILL_BACKLOG started and not yet with their SMS sent.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (posted < n.watches && !stopped) {
          if (posted - c.errors - held() >= FILL_BACKLOG) {
            await sleep(200);
            continue;
          }
          const i = posted++;
          try {
            const to = next();
            stageNumbers.push(to);
            await postShare(bases[i % bases.length]!, token, to, `bench-watch-${run}-${i}`, c);
          } catch (err) {
            c.errors++;
            c.lastError = (err as Error).message;
          }
        }
      }),
    );
    // Then until every started hand-off has sent its SMS, or the cap, or no progress for STRAGGLER_S (a hand-off
    // whose SMS activity is being retried under load; it is reported, not waited for).
    let last = held();
    let lastProgress = performance.now();
    while (held() < posted - c.errors && !stopped) {
      await sleep(500);
      if (held() !== last) [last, lastProgress] = [held(), performance.now()];
      else if (performance.now() - lastProgress > STRAGGLER_S * 1000)
        stopped = `${posted - c.errors - held()} started hand-offs had not sent their SMS ${STRAGGLER_S} s after the last one did`;
    }
  } finally {
    monitoring = false;
    await monitor;
    await outboxes.stop();
    await outboxes.refresh();
    partialFill();
    out.progress = progress;
    out.cpu_pct_of_one_core_while_filling = cpuPct(cpu0, stackCpu(stack), (performance.now() - t0) / 1000);
    out.load_after_fill = load();
    out.pressure_after_fill = pressure();
  }
  if (stopped) out.stopped_because = stopped;
  if (held() < n.watches && held() > 0)
    out.estimate_min_for_target_at_this_rate = round(n.watches / (out.fill_per_s as number) / 60, 0);
  say(`watches: ${held()} held after ${out.fill_s} s${stopped ? ` (stopped: ${stopped})` : ''}`);

  // Held: let their first receipt checks run, then read memory and the Onetime Secret calls over a window.
  await sleep(n.settleS * 1000);
  out.rss_after_mb = rss();
  const before = await ots();
  const w0 = performance.now();
  const w0Ms = Date.now();
  const cpuW0 = stackCpu(stack);
  await sleep(n.otsWindowS * 1000);
  const after = await ots();
  const cpuW1 = stackCpu(stack);
  const windowS = (performance.now() - w0) / 1000;
  // What holding them costs: the stack's CPU over the window, less its idle rate, per receipt check due in it.
  const starts = stageNumbers.map((to) => outboxes.sentAt.get(to)).filter((t): t is number => t !== undefined);
  const due = checksDue(starts, schedule, w0Ms, Date.now());
  const cpuS = stackCpuSeconds(cpuW0, cpuW1);
  out.held_window = {
    window_s: round(windowS),
    receipt_checks_due: due,
    stack_cpu_pct_of_one_core: round((cpuS / windowS) * 100),
    cpu_pct_by_process: cpuPct(cpuW0, cpuW1, windowS),
    // Checks due by the schedule, not checks made: under a backlog the workers catch up on older ones too.
    cpu_ms_per_check_due_above_idle: due > 0 ? round(((cpuS - idleCpuPerS * windowS) * 1000) / due) : null,
  };
  out.rss_after_window_mb = rss();
  const idle = out.rss_idle_mb as number[];
  const afterRss = out.rss_after_mb as number[];
  const grown = afterRss.reduce((a, v, i) => a + (v - idle[i]!), 0);
  out.kb_per_watch = round((grown * 1024) / Math.max(1, held()));
  out.ots = {
    window_s: round(windowS),
    api_requests: after.apiRequests - before.apiRequests,
    per_minute: round(((after.apiRequests - before.apiRequests) / windowS) * 60, 1),
    per_watch_hour: round((after.apiRequests - before.apiRequests) / Math.max(1, held()) / (windowS / 3600), 3),
    secrets_created_in_stage: after.secretsCreated - ots0.secretsCreated,
  };
  const maxRss = Math.max(...afterRss, ...(out.rss_peak_mb as number[]), ...(out.rss_after_window_mb as number[]));
  out.met = {
    watches: held() >= GOAL.watches,
    rss_under_1gb: maxRss < GOAL.rss_mb_per_replica_max,
  };
  say(
    `watches: RSS ${afterRss.join(' / ')} MB (idle ${idle.join(' / ')}), ${(out.ots as any).per_minute} OTS calls/min`,
  );
}

// ---------------------------------------------------------------------------------------------------------------

function cacheSetting(stack: Stack): { value: number; from: string } {
  const v = stack.state.replicas[0]?.spec.env.TEMPORAL_WORKFLOW_CACHE_SIZE;
  return v
    ? { value: Number(v), from: 'TEMPORAL_WORKFLOW_CACHE_SIZE' }
    : { value: DEFAULT_WORKFLOW_CACHE_SIZE, from: 'default (src/config.ts DEFAULT_WORKFLOW_CACHE_SIZE)' };
}

function table(r: any): string[] {
  const rows: [string, string, string][] = [];
  const shares = (name: string, s: any) => {
    if (s?.sequential)
      rows.push([
        `share, ${name}`,
        `p50 ${s.sequential.p50_ms} ms, p95 ${s.sequential.p95_ms} ms (${s.sequential.runs} sequential)`,
        s.throughput
          ? `${s.throughput.per_s}/s at ${s.throughput.concurrency} in flight (${s.throughput.completed}/${s.throughput.total}, ${s.throughput.deferred} deferred, ${s.throughput.failed} failed)`
          : '–',
      ]);
    if (s?.error) rows.push([`share, ${name}`, `FAILED: ${String(s.error).split('\n')[0]!.slice(0, 100)}`, '']);
  };
  shares('1 replica', r.stages.shares_1_replica);
  shares('2 replicas', r.stages.shares_2_replicas);
  const a = r.stages.shares_1_replica?.throughput?.per_s;
  const b = r.stages.shares_2_replicas?.throughput?.per_s;
  if (a && b) rows.push(['share, 2 / 1 replicas', `rate ${round(b / a, 2)}x`, '']);
  const w = r.stages.watch_capacity;
  if (w?.reached !== undefined) {
    rows.push([
      'watches held',
      `${w.reached} of ${w.target} in ${w.fill_s} s (${w.fill_per_s}/s)${w.stopped_because ? `; stopped: ${w.stopped_because}` : ''}`,
      `cache ${w.cache.value} per replica (${w.cache.from.split(' ')[0]})`,
    ]);
    if (w.rss_after_mb)
      rows.push([
        'RSS per replica',
        `idle ${w.rss_idle_mb.join(' / ')} MB → held ${w.rss_after_mb.join(' / ')} MB (peak ${w.rss_peak_mb.join(' / ')})`,
        `${w.kb_per_watch} KB per watch; goal < ${GOAL.rss_mb_per_replica_max} MB: ${w.met.rss_under_1gb ? 'met' : 'NOT met'}`,
      ]);
    if (w.estimate_min_for_target_at_this_rate)
      rows.push(['  at this fill rate', `${w.target} would take ${w.estimate_min_for_target_at_this_rate} min`, '']);
    if (w.held_window)
      rows.push([
        'holding them',
        `stack CPU ${w.held_window.stack_cpu_pct_of_one_core} % of a core (idle ${w.idle_stack_cpu_pct_of_one_core} %)`,
        `${w.held_window.receipt_checks_due} receipt checks due in ${w.held_window.window_s} s: ${w.held_window.cpu_ms_per_check_due_above_idle ?? '–'} CPU ms per check due`,
      ]);
    if (w.ots)
      rows.push([
        'OTS calls while held',
        `${w.ots.api_requests} in ${w.ots.window_s} s (${w.ots.per_minute}/min)`,
        `${w.ots.per_watch_hour} per watch-hour`,
      ]);
  }
  if (w?.error) rows.push(['watches', `FAILED: ${String(w.error).split('\n')[0]!.slice(0, 100)}`, '']);
  for (const [key, st] of Object.entries<any>(r.stages))
    if (st.skipped) rows.push([key.replaceAll('_', ' '), `skipped: ${st.skipped}`, '']);
  if (r.stack_error) rows.push(['stack', `FAILED: ${String(r.stack_error).split('\n')[0]!.slice(0, 120)}`, '']);
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  const m = r.machine;
  return [
    '',
    `ots-handoff scale (stack, 2 replicas)${r.quick ? ' (quick)' : ''} — ${m.cores} cores, ${m.memory_gb} GB, Node ${m.node}, ${r.date}`,
    `  load average ${r.load.start.join(' ')} → ${r.load.end.join(' ')}, CPU pressure ${r.pressure.start.cpu_some_avg60_pct ?? '?'} → ${r.pressure.end.cpu_some_avg60_pct ?? '?'} %; busy elsewhere at start: ${r.elsewhere_at_start.cpu_pct_of_one_core_total} % of a core (${r.elsewhere_at_start.top.map((p: any) => `${p.command} ${p.cpu_pct_of_one_core} %`).join(', ') || 'nothing'})`,
    ...rows.map(([x, y, z]) => `  ${x.padEnd(w0)}  ${y.padEnd(w1)}  ${z}`),
    `  ${r.command}: ${r.wall_s} s`,
    '',
  ];
}

/** `npm run bench -- --stack …`: runs the stages, writes the JSON, prints the table; the exit code. */
export async function runStackBench(argv: string[]): Promise<number> {
  try {
    return await stackBench(argv);
  } catch (err) {
    say(`failed: ${(err as Error).message}`);
    return 2;
  }
}

async function stackBench(argv: string[]): Promise<number> {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      stack: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      watches: { type: 'string' },
      shares: { type: 'string' },
      out: { type: 'string' },
      'run-dir': { type: 'string' },
    },
  });
  const quick = args.quick!;
  const base = quick ? SIZES.quick : SIZES.full;
  const whole = (name: string, v: string | undefined, min: number, max: number) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!/^\d+$/.test(v) || x < min || x > max)
      throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
    return x;
  };
  const shares = whole('shares', args.shares, 10, 100_000);
  const n = {
    ...base,
    ...(shares !== undefined
      ? { total: shares, seq: Math.min(base.seq, Math.ceil(shares / 5)), warmup: Math.min(base.warmup, 3) }
      : {}),
    watches: whole('watches', args.watches, 1, 1_000_000) ?? base.watches,
  };
  const outFile = resolve(args.out ?? join(projectDir, '.artifacts', 'bench', 'stack.json'));
  const runDir = resolve(args['run-dir'] ?? join(projectDir, '.cache', 'stack', 'bench-run'));
  const command = `npm run bench -- ${argv.join(' ')}`;
  const wall = performance.now();
  const composeVars: Record<string, string> = { ...composeVarsFrom(process.env), OTS_RATE_LIMIT_PER_MINUTE: '100000' };
  const results: any = {
    date: new Date().toISOString(),
    command,
    quick,
    sizes: n,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memory_gb: round(totalmem() / 2 ** 30, 1),
      free_gb_at_start: round(freemem() / 2 ** 30, 1),
      node: process.version,
      platform: process.platform,
    },
    load: { start: load() },
    pressure: { start: pressure() },
    elsewhere_at_start: await busyElsewhere([process.pid]),
    stack: {
      replicas: 2,
      run_dir: runDir,
      compose_vars: composeVars,
      poll_intervals: composeVars.OTS_POLL_INTERVALS || DEFAULT_POLL_INTERVALS_TEXT,
    },
    stages: {},
  };
  say(
    `${command}: load ${results.load.start.join(' ')}, ${results.elsewhere_at_start.cpu_pct_of_one_core_total} % of a core busy elsewhere`,
  );

  let stack: Stack | undefined;
  // Chained, so that every caller waits for a take-down already under way.
  let downing = Promise.resolve();
  const down = () =>
    (downing = downing.then(async () => {
      if (!stack) return;
      const s = stack;
      stack = undefined;
      say('bringing the stack down …');
      await s.down().catch((err: Error) => say(`stack down: ${err.message}`));
    }));
  // A signal takes the stack down at once; the stage under way then fails on its own, the rest are skipped, and what
  // was measured is still written. A second signal exits without waiting.
  let aborted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (aborted) process.exit(130);
    aborted = signal;
    say(`${signal}: bringing the stack down, then writing what was measured`);
    void down();
  };
  const run = async (key: string, name: string, fn: (out: Measured) => Promise<void>) => {
    results.stages[key] = aborted ? { skipped: `${aborted} received` } : await stage(name, fn);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const t = performance.now();
    try {
      stack = await stackUp({
        runDir,
        replicas: 2,
        composeVars,
        say: (line) => process.stderr.write(`[stack] ${line}\n`),
      });
    } catch (err) {
      results.stack_error = (err as Error).message;
      throw err;
    }
    results.stack.up_s = round((performance.now() - t) / 1000);
    results.stack.cache = cacheSetting(stack);
    const s = stack;
    const outboxes = new Outboxes(s, s.state.agentToken);
    const next = numbers();

    await run('shares_1_replica', 'shares, 1 replica', async (out) => {
      await s.stopReplica(1);
      await shareStage(s, outboxes, next, n, out, 1);
    });
    await run('shares_2_replicas', 'shares, 2 replicas', async (out) => {
      if (!alive(s.replica(1).pid)) await s.startReplica(1);
      if (!alive(s.replica(0).pid)) await s.startReplica(0);
      await shareStage(s, outboxes, next, n, out, 2);
    });
    await run('watch_capacity', 'watch capacity', async (out) => {
      for (const i of [0, 1]) if (!alive(s.replica(i).pid)) await s.startReplica(i);
      const schedule = String(results.stack.poll_intervals).split(',').map(Number);
      await watchStage(s, outboxes, next, n, results.stack.cache, schedule, out);
    });
  } catch (err) {
    say(`failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await down();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    results.load.end = load();
    results.pressure.end = pressure();
    results.elsewhere_at_end = await busyElsewhere([process.pid]);
    results.wall_s = round((performance.now() - wall) / 1000);
    if (aborted) results.aborted = aborted;
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
    for (const line of table(results)) console.log(line);
    say(`wrote ${outFile}`);
  }
  if (aborted) return 130;
  const failed = results.stack_error || Object.values(results.stages).some((st: any) => st.error);
  return failed ? 1 : 0;
}
