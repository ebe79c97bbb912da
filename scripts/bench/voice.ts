// The voice figures of `npm run bench` (README.md, "Performance", "Voice: the passphrase over a live call"):
//  1. time from speakPassphrase's reading start to the first passphrase frame on the wire, sequential readings on
//     an otherwise idle service (in this process), with the committed clips;
//  2. outbound pacing lateness of the frames sent during those readings, and of readings run under load (3);
//  3. how many concurrent simulated calls one service process holds: the service in its own process
//     (voice-service.ts: startService as src/main.ts runs it), Twilio-like simulated callers in this process
//     (signed webhook and upgrade, 20 ms inbound μ-law frames, playback with marks), ramped up level by level;
//     RSS idle and per level, inbound frames handled, CPU, and readings through the agent API while N calls are up.
// Readings are cut short on purpose: the caller hangs up after a second or so of passphrase audio (a whole reading
// of the committed clips lasts ~32 s), so the hand-off ends on its fallback path. Only timings leave the service:
// the bench never sees a passphrase.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { request } from 'undici';
import { placeSimulatedCall, type SimulatedCall, loadSandboxSecrets } from '../../src/sandbox/index.js';
import type { RunningService, ServiceOptions } from '../../src/service.js';
import { freePort } from '../../src/temporal/ports.js';
import { loadClipSet } from '../../src/voice/clips.js';
import { callQuery } from '../../workflows/messages.js';
import { callWorkflowId } from '../../workflows/ids.js';
import { percentile, round, rssMb } from './stats.js';
import type { ChildMessage, ChildReading, ChildStats, ParentMessage } from './voice-service.js';

export interface VoiceBenchOptions {
  root: string;
  quick: boolean;
  temporalAddress: string;
  payloadKeys: string;
  work: string;
  say(line: string): void;
  /** index.ts's in-process service starter (its cleanup is index.ts's). */
  startSvc(env: Record<string, string>, extra?: Partial<ServiceOptions>): Promise<{ svc: RunningService }>;
}

/** Passphrase frames (20 ms each) the idle-run caller lets through before hanging up. */
const IDLE_HANGUP_FRAMES = 75;
/** Load-run callers hang up 1 s after the intro prompt (4.8 s in the committed set): ~290 frames a reading. */
const LOAD_SCRIPT = [{ after: 'prompt-intro-digits', afterMs: 1000, hangup: true as const }];
/** Twilio's pacing: a frame sent later than the pacer's lead (100 ms) leaves the caller's buffer dry (an underrun). */
const LEAD_MS = 100;

/** monitorEventLoopDelay's samples include its own 5 ms timer period: what is left is the delay. */
const eldMs = (ns: number) => Math.max(0, round(ns / 1e6 - 5, 2));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

function dist(values: number[], digits = 2) {
  return {
    count: values.length,
    p50: round(percentile(values, 50), digits),
    p95: round(percentile(values, 95), digits),
    p99: round(percentile(values, 99), digits),
    max: round(values.length ? Math.max(...values) : NaN, digits),
  };
}

async function postVoiceShare(base: string, token: string, callSid: string, n: number) {
  const res = await request(`${base}/v1/shares`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      ticketId: 'T-BENCH-VOICE',
      secret: { generate: true },
      link: { channel: 'sms', to: `+1555${String(8_000_000 + n).padStart(7, '0')}` },
      passphrase: 'voice',
      callSid,
    }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 202) throw new Error(`POST /v1/shares (voice) answered ${res.statusCode}: ${text}`);
}

/** Busy fraction of the whole machine from /proc/stat (other work on the box included). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

// ---- 1 + 2: readings on an idle service ------------------------------------------------------------------------

async function idleReadings(o: VoiceBenchOptions, runs: number, warmup: number) {
  const onReading = new Map<
    string,
    (r: { startedAt: number; firstFrameAt?: number; lateness: number[]; underruns: number }) => void
  >();
  const { svc } = await o.startSvc(
    { TEMPORAL_TASK_QUEUE: 'bench-voice', OTS_POLL_INTERVALS: '3600', VOICE_REPEAT_WINDOW_SECONDS: '0' },
    {
      sandbox: {
        onReading: ({ callSid, startedAt, firstFrameAt, session }) =>
          onReading.get(callSid)?.({
            startedAt,
            firstFrameAt,
            lateness: [...session.latenessSamples()],
            underruns: session.stats().pacer?.underruns ?? 0,
          }),
      },
    },
  );
  const calls = svc.sandbox!.simulatedCalls!;
  const firstFrame: number[] = [];
  const postToFirstFrame: number[] = [];
  const lateness: number[] = [];
  let underruns = 0;
  for (let i = -warmup; i < runs; i++) {
    const call = calls.place({});
    const callSid = call.callSid;
    await call.waitFor((s) => s.status === 'in-progress', 15_000);
    // As the e2e test does: the hand-off starts once the call's session knows the stream is live.
    const session = svc.temporal.client.workflow.getHandle(callWorkflowId(callSid));
    await until(
      'call session streaming',
      async () => (await session.query(callQuery).catch(() => undefined))?.state === 'streaming',
      15_000,
      25,
    );
    const read = new Promise<Parameters<NonNullable<ReturnType<typeof onReading.get>>>[0]>((resolve) =>
      onReading.set(callSid, resolve),
    );
    const posted = Date.now();
    await postVoiceShare(svc.url, svc.tokens[0]!, callSid, 100 + i);
    await until(
      'passphrase frames on the wire',
      () => (svc.voice.media.sessions().get(callSid)?.stats().pacer?.framesSent ?? 0) >= IDLE_HANGUP_FRAMES,
      30_000,
      10,
    );
    await call.hangup();
    const r = await Promise.race([read, sleep(30_000).then(() => undefined)]);
    onReading.delete(callSid);
    if (!r || r.firstFrameAt === undefined) throw new Error(`reading on ${callSid} did not report a first frame`);
    if (i < 0) continue;
    firstFrame.push(r.firstFrameAt - r.startedAt);
    postToFirstFrame.push(r.firstFrameAt - posted);
    lateness.push(...r.lateness);
    underruns += r.underruns;
  }
  await svc.stop();
  return { firstFrame, postToFirstFrame, lateness, underruns, clips: svc.voice.clips.id };
}

// ---- 3: one service process, many calls ------------------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  url: string;
  publicBaseUrl: string;
  stats(opts?: { resetEventLoop?: boolean; gc?: boolean }): Promise<ChildStats>;
  reading(callSid: string, timeoutMs: number): Promise<ChildReading | undefined>;
}

async function startChild(o: VoiceBenchOptions, dataDir: string): Promise<Child> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/bench/voice-service.ts'], {
    cwd: o.root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      TEMPORAL_ADDRESS: o.temporalAddress,
      TEMPORAL_TASK_QUEUE: 'bench-voice-load',
      PAYLOAD_KEYS: o.payloadKeys,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      OTS_RATE_LIMIT_PER_MINUTE: '100000',
      OTS_POLL_INTERVALS: '3600',
      VOICE_REPEAT_WINDOW_SECONDS: '0',
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  let rpc = 0;
  const pending = new Map<number, (s: ChildStats) => void>();
  const readings = new Map<string, ChildReading>();
  const readingWaiters = new Map<string, (r: ChildReading) => void>();
  let ready: (m: { url: string; publicBaseUrl: string }) => void;
  const readyP = new Promise<{ url: string; publicBaseUrl: string }>((r) => (ready = r));
  proc.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') ready(m);
    else if (m.type === 'stats') pending.get(m.id)?.(m.stats);
    else if (m.type === 'reading') {
      const w = readingWaiters.get(m.reading.callSid);
      if (w) w(m.reading);
      else readings.set(m.reading.callSid, m.reading);
    }
  });
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`the voice service exited (${code}):\n${stderr}`))),
  );
  exited.catch(() => undefined);
  const r = await Promise.race([
    readyP,
    exited,
    sleep(90_000).then(() => Promise.reject(new Error(`the voice service did not get ready:\n${stderr}`))),
  ]);
  return {
    proc,
    url: r.url,
    publicBaseUrl: r.publicBaseUrl,
    stats(opts = {}) {
      const id = ++rpc;
      return new Promise((resolve) => {
        pending.set(id, (s) => {
          pending.delete(id);
          resolve(s);
        });
        proc.send({ type: 'stats', id, ...opts } satisfies ParentMessage);
      });
    },
    reading(callSid, timeoutMs) {
      const have = readings.get(callSid);
      if (have) return Promise.resolve(have);
      return Promise.race([
        new Promise<ChildReading>((resolve) => readingWaiters.set(callSid, resolve)),
        sleep(timeoutMs).then(() => undefined),
      ]).finally(() => readingWaiters.delete(callSid));
    },
  };
}

async function loadRamp(o: VoiceBenchOptions, levels: number[], windowS: number, readingsPerLevel: number) {
  const dataDir = join(o.work, 'voice-data');
  const child = await startChild(o, dataDir);
  const sb = loadSandboxSecrets(dataDir);
  const clips = loadClipSet();
  const live: SimulatedCall[] = [];
  const failed: string[] = [];
  const benchEld = monitorEventLoopDelay({ resolution: 5 });
  benchEld.enable();
  try {
    await sleep(2_000);
    const idleMem = (await child.stats({ gc: true })).memory;
    const idleRss = rssMb(child.proc.pid!);
    o.say(`voice load: service process up (pid ${child.proc.pid}), idle RSS ${idleRss.toFixed(1)} MB`);
    const out: (LevelFigures &
      Record<string, unknown> & { rss_mb: number; main_heap_used_mb: number; kb_per_call: number })[] = [];
    let shareN = 0;
    for (const n of levels) {
      const placeStarted = performance.now();
      while (live.length < n) {
        const batch = Array.from({ length: Math.min(10, n - live.length) }, () =>
          placeSimulatedCall({
            accountSid: sb.twilioAccountSid,
            authToken: sb.twilioAuthToken,
            publicBaseUrl: child.publicBaseUrl,
            localBaseUrl: child.url,
            clips,
            script: LOAD_SCRIPT,
          }),
        );
        const settled = await Promise.allSettled(
          batch.map((c) => c.waitFor((s) => s.status === 'in-progress', 30_000)),
        );
        settled.forEach((s, i) =>
          s.status === 'fulfilled' ? live.push(batch[i]!) : failed.push(String(s.reason?.message ?? s.reason)),
        );
        if (failed.length > 20) throw new Error(`simulated calls failed to connect: ${failed.slice(0, 3).join('; ')}`);
      }
      const placeS = (performance.now() - placeStarted) / 1000;
      await until(`${n} live streams in the service`, async () => (await child.stats()).live >= n, 60_000, 200);
      await sleep(2_000);

      // The window: every call streams 50 frames/s in; nothing plays out.
      const s0 = await child.stats({ resetEventLoop: true });
      const bench0 = process.cpuUsage();
      const m0 = machineCpu();
      benchEld.reset();
      const t0 = performance.now();
      await sleep(windowS * 1000);
      const s1 = await child.stats({ resetEventLoop: true });
      const secs = (performance.now() - t0) / 1000;
      const bench1 = process.cpuUsage(bench0);
      const m1 = machineCpu();
      const rssBeforeGc = rssMb(child.proc.pid!);
      const mem = (await child.stats({ gc: true })).memory;
      const rss = rssMb(child.proc.pid!);
      const streaming = live.filter((c) => c.snapshot().status === 'in-progress').length;
      const warnings = [...new Set(live.flatMap((c) => c.snapshot().warnings))];

      // Readings through the agent API on a few of the calls while all N are up.
      const readers = live.slice(-readingsPerLevel);
      await Promise.all(readers.map((c) => postVoiceShare(child.url, sb.agentToken, c.callSid, 1000 + shareN++)));
      const got = await Promise.all(readers.map((c) => child.reading(c.callSid, 60_000)));
      for (const c of readers) await c.hangup();
      live.splice(live.length - readers.length, readers.length);
      const done = got.filter((r): r is ChildReading => r !== undefined);
      const lateness = done.flatMap((r) => r.lateness);
      const firstFrame = done.flatMap((r) => (r.firstFrameMs !== undefined ? [r.firstFrameMs] : []));
      const s2 = await child.stats();

      const level = {
        calls: n,
        connected_in_s: round(placeS),
        all_streaming: s1.live >= n && streaming === n,
        live_streams_in_service: s1.live,
        callers_in_progress: streaming,
        rss_mb: round(rss),
        kb_per_call: round(((rss - idleRss) * 1024) / n),
        rss_before_gc_mb: round(rssBeforeGc),
        main_heap_used_mb: mem.heapUsed,
        main_heap_kb_per_call: round(((mem.heapUsed - idleMem.heapUsed) * 1024) / n),
        external_kb_per_call: round(((mem.external - idleMem.external) * 1024) / n),
        inbound_frames_per_s: round((s1.mediaFrames - s0.mediaFrames) / secs),
        inbound_frames_per_s_expected: n * 50,
        service_cpu_pct_of_one_core: round(((s1.cpuMs - s0.cpuMs) / (secs * 1000)) * 100),
        service_event_loop_delay_ms: s1.eventLoopDelayMs,
        bench_callers_cpu_pct_of_one_core: round(((bench1.user + bench1.system) / 1000 / (secs * 1000)) * 100),
        bench_event_loop_delay_ms: {
          p50: eldMs(benchEld.percentile(50)),
          p99: eldMs(benchEld.percentile(99)),
          max: eldMs(benchEld.max),
        },
        machine_cpu_busy_pct: round((1 - (m1.idle - m0.idle) / (m1.total - m0.total)) * 100),
        window_s: round(secs),
        caller_warnings: warnings,
        readings: {
          count: done.length,
          asked: readers.length,
          first_frame_ms: dist(firstFrame),
          lateness_ms: dist(lateness),
          frames_later_than_lead: lateness.filter((x) => x > LEAD_MS).length,
          underruns: done.reduce((a, r) => a + r.underruns, 0),
          service_event_loop_delay_ms: s2.eventLoopDelayMs,
        },
      };
      out.push(level);
      o.say(
        `voice load ${n} calls: RSS ${level.rss_mb} MB (${level.kb_per_call} KB/call), ${level.inbound_frames_per_s}/${level.inbound_frames_per_s_expected} frames/s in, ` +
          `service CPU ${level.service_cpu_pct_of_one_core} %, bench ${level.bench_callers_cpu_pct_of_one_core} %, machine ${level.machine_cpu_busy_pct} %, ` +
          `all streaming ${level.all_streaming}; readings ${done.length}/${readers.length}: lateness p50 ${level.readings.lateness_ms.p50} p99 ${level.readings.lateness_ms.p99} max ${level.readings.lateness_ms.max} ms`,
      );
      if (!served(level)) {
        o.say(`voice load: at ${n} calls streams or readings fell behind; the ramp stops here`);
        break;
      }
    }
    return {
      idleRss,
      idleMem,
      levels: out,
      failedToConnect: failed.length,
      failures: [...new Set(failed)].slice(0, 5),
    };
  } finally {
    benchEld.disable();
    await Promise.allSettled(live.map((c) => c.hangup()));
    child.proc.kill('SIGTERM');
    await new Promise((r) => (child.proc.exitCode !== null ? r(null) : child.proc.once('exit', r)));
  }
}

interface LevelFigures {
  calls: number;
  all_streaming: boolean;
  inbound_frames_per_s: number;
  inbound_frames_per_s_expected: number;
  service_cpu_pct_of_one_core: number;
  service_event_loop_delay_ms: { p99: number };
  bench_callers_cpu_pct_of_one_core: number;
  machine_cpu_busy_pct: number;
  readings: {
    count: number;
    asked: number;
    underruns: number;
    frames_later_than_lead: number;
    lateness_ms: { p99: number };
  };
}

/** Every call still streaming and every inbound frame handled. */
const keptUp = (l: LevelFigures) => l.all_streaming && l.inbound_frames_per_s >= 0.97 * l.inbound_frames_per_s_expected;
/** And the readings run at that level kept their deadlines (no frame later than the lead: no gap in the audio). */
const served = (l: LevelFigures) =>
  keptUp(l) &&
  l.readings.count === l.readings.asked &&
  l.readings.underruns === 0 &&
  l.readings.frames_later_than_lead === 0;

/** What held the top level back, read from its own figures. */
function limitOf(levels: LevelFigures[]) {
  const top = levels.at(-1)!;
  const parts: string[] = [];
  if (served(top))
    parts.push(
      `at ${top.calls} calls (the largest level this run tries) every stream kept its full inbound rate and the readings kept their deadlines`,
    );
  else if (keptUp(top))
    parts.push(
      `at ${top.calls} calls every stream was still held at the full inbound rate, but passphrase readings missed their deadlines ` +
        `(${top.readings.underruns} underruns, lateness p99 ${top.readings.lateness_ms.p99} ms): audible gaps`,
    );
  else
    parts.push(
      `at ${top.calls} calls streams fell behind (${top.inbound_frames_per_s} of ${top.inbound_frames_per_s_expected} frames/s, all streaming: ${top.all_streaming})`,
    );
  if (top.service_cpu_pct_of_one_core >= 75 || top.service_event_loop_delay_ms.p99 >= 20)
    parts.push(
      `the service's single event loop is the bottleneck (${top.service_cpu_pct_of_one_core} % of a core, timer delay p99 ${top.service_event_loop_delay_ms.p99} ms): ` +
        'every inbound frame is parsed, forwarded to the Deepgram fake and recognised there, in the same thread that paces the readings',
    );
  if (top.bench_callers_cpu_pct_of_one_core >= 75)
    parts.push(`the bench's own callers use ${top.bench_callers_cpu_pct_of_one_core} % of a core`);
  if (top.machine_cpu_busy_pct >= 75)
    parts.push(
      `the 2-core machine is ${top.machine_cpu_busy_pct} % busy (service, callers, Temporal, and whatever else runs on the box)`,
    );
  return parts.join('; ');
}

export async function measureVoice(o: VoiceBenchOptions) {
  const q = o.quick;
  const runs = q ? 8 : 20;
  const idle = await idleReadings(o, runs, 1);
  o.say(
    `voice idle: ${runs} readings, first frame p50 ${percentile(idle.firstFrame, 50)} ms, lateness p99 ${percentile(idle.lateness, 99).toFixed(2)} ms`,
  );
  const load = await loadRamp(o, q ? [25, 50] : [50, 100, 200, 400], q ? 5 : 10, q ? 2 : 4);
  const top = load.levels.at(-1)!;
  const first = load.levels[0]!;
  return {
    measured: true,
    clips: idle.clips,
    first_frame: {
      readings: idle.firstFrame.length,
      p50_ms: round(percentile(idle.firstFrame, 50)),
      p95_ms: round(percentile(idle.firstFrame, 95)),
      p99_ms: round(percentile(idle.firstFrame, 99)),
      max_ms: round(Math.max(...idle.firstFrame)),
      post_to_first_frame_ms: {
        p50: round(percentile(idle.postToFirstFrame, 50)),
        p95: round(percentile(idle.postToFirstFrame, 95)),
      },
      method:
        'in-process service, one simulated call at a time; POST /v1/shares (passphrase "voice", link by SMS) on a live call; ' +
        "speakPassphrase's reading start (VoiceLine.read) to the pacer sending the first media frame, Date.now() resolution (1 ms); " +
        `the caller hangs up after ${IDLE_HANGUP_FRAMES} frames, so the hand-off ends on its fallback (technician note)`,
    },
    pacing_idle: {
      frames: idle.lateness.length,
      lateness_p50_ms: round(percentile(idle.lateness, 50), 3),
      lateness_p99_ms: round(percentile(idle.lateness, 99), 3),
      lateness_max_ms: round(Math.max(...idle.lateness), 3),
      frames_later_than_lead: idle.lateness.filter((x) => x > LEAD_MS).length,
      underruns: idle.underruns,
      method: `send time of each 20 ms media frame against its deadline-clock schedule (pacer lead ${LEAD_MS} ms), frames of the readings above`,
    },
    concurrent: {
      idle_rss_mb: round(load.idleRss),
      idle_main_heap_used_mb: load.idleMem.heapUsed,
      levels: load.levels,
      top_level_calls: top.calls,
      top_level_all_streaming: top.all_streaming,
      kb_per_call_at_top: top.kb_per_call,
      // Between the lowest and highest level; below ~100 calls apart the allocator's noise is larger than the signal.
      kb_per_call_marginal:
        top.calls - first.calls >= 100
          ? round(((top.rss_mb - first.rss_mb) * 1024) / (top.calls - first.calls))
          : undefined,
      failed_to_connect: load.failedToConnect,
      failures: load.failures,
      max_calls_streaming: Math.max(0, ...load.levels.filter(keptUp).map((l) => l.calls)),
      max_calls_with_clean_readings: Math.max(0, ...load.levels.filter(served).map((l) => l.calls)),
      main_heap_kb_per_call_marginal:
        top.calls - first.calls >= 100
          ? round(((top.main_heap_used_mb - first.main_heap_used_mb) * 1024) / (top.calls - first.calls))
          : undefined,
      limit: limitOf(load.levels),
      method:
        'scripts/bench/voice-service.ts (startService as src/main.ts runs it, sandbox mode, committed clips) in its own process; ' +
        'simulated Twilio callers in the bench process (signed webhook + upgrade, connected/start, 20 ms inbound frames on a deadline clock, ' +
        'playback with marks), placed 10 at a time; the same process also serves the sandbox fake Deepgram: every stream opens a Deepgram ' +
        'listen WebSocket to it and its inbound audio is recognised there, so each call costs the service both ends of a Deepgram session ' +
        'and a callSession workflow. RSS from /proc/<pid>/status VmRSS; readings under load through POST /v1/shares, the caller hanging up 1 s after the intro prompt',
    },
    goals: { streams: 1000, kb_per_call_max: 150, late_frames: 0 },
  };
}
