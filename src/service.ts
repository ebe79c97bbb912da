// Builds and starts the whole service against a Temporal server, step by step: the outside services' clients (live,
// or pointed at the sandbox's fakes), Temporal, the voice wiring, activities and workers, the HTTP server, and a
// stop() that undoes it all. src/main.ts adds the embedded dev server, the banner and signals; end-to-end tests call
// this directly so they run exactly the production wiring: see docs/architecture.md ("Request path").
//
// The sandbox (src/sandbox/index.ts, imported here and nowhere else outside src/sandbox/) builds every fake and
// hands over only seams: base URLs and credentials, twilio-node's httpClient, routers, an upgrade listener
// (see docs/architecture.md ("Sandbox seams")).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createActivities } from '../activities/index.js';
import { voiceTaskQueue } from '../workflows/queues.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { createMetrics, otsObserver, setOtsApiVersion, type Metrics } from './metrics.js';
import { createNotesWebhook, noNotesWebhook, type NotesSink } from './notes.js';
import { liveOtsOptions, OtsClient, type OtsApiSelection } from './ots/client.js';
import { createReceiptBatcher } from './ots/receipt-batcher.js';
import { createSandbox, type Sandbox, type SandboxKnobs, type SandboxSecrets } from './sandbox/index.js';
import { setupVoice, type Voice } from './voice/setup.js';
import { createSealer, type Sealer } from './seal.js';
import { startTracing, type Tracing } from './tracing.js';
import { connectClient, GRPC_STATUS, type TemporalClient } from './temporal/client.js';
import { grpcCodeOf, isNamespaceNotFound } from './http/temporal-errors.js';
import { EncryptionCodec, parsePayloadKeys } from './temporal/payload-codec.js';
import { temporalConnectionOptions } from './temporal/connection-options.js';
import { createDataConverter } from './temporal/data-converter.js';
import { createWorkers, type Workers } from './temporal/worker.js';
import { createSmsSender, type SmsSender } from './twilio/sms.js';
import { receiptChangedSignal } from '../workflows/messages.js';

/** Credentials the sandbox makes up for itself (kept across restarts in DATA_DIR by loadSandboxSecrets). */
export {
  loadSandboxSecrets,
  makeSandboxSecrets,
  SandboxSecretsError,
  type Sandbox,
  type SandboxSecrets,
} from './sandbox/index.js';

export interface ServiceOptions {
  config: Config;
  temporalAddress: string;
  log: Logger;
  sandboxSecrets: SandboxSecrets;
  workflowBundlePath?: string;
  /** Knobs for the sandbox fakes (tests use them to make the fake OTS rate limit, slow callbacks …). */
  sandbox?: SandboxKnobs & {
    /** Called after each passphrase reading (npm run bench: time to first frame, pacing). */
    onReading?: Parameters<typeof setupVoice>[0]['onReading'];
    /** The OTS client's whole-request deadline (default 10 s); fault tests shorten it to time out quickly. */
    otsTimeoutMs?: number;
    /** How long an agent API request waits for Temporal (default 10 s); the burn-deadline tests shorten it. */
    temporalDeadlineMs?: number;
  };
  /**
   * `npm run bench` only, to measure what encryption costs: Temporal payloads travel unencrypted. Not reachable
   * from the environment; never set it anywhere else.
   */
  benchmarkWithoutPayloadEncryption?: true;
  /**
   * `npm run bench` only, to measure what metrics and traces cost: no component records metrics (GET /metrics
   * lists them at 0) and no tracing starts, whatever OTEL_* says. Never set it anywhere else.
   */
  benchmarkWithoutTelemetry?: true;
}

export interface RunningService {
  url: string;
  server: Server;
  tokens: readonly string[];
  sealer: Sealer;
  temporal: TemporalClient;
  workers: Workers;
  /** This process's own task queue for reading passphrases into the calls it holds. */
  voiceTaskQueue: string;
  voice: Voice;
  ots: OtsClient;
  /** What GET /metrics serves (tests read it directly too). */
  metrics: Metrics;
  /** The local fakes, when any outside service runs in the sandbox (tests drive and inspect them here). */
  sandbox?: Sandbox;
  stop(): Promise<void>;
}

export class StartupError extends Error {
  readonly code = 'STARTUP_FAILED';
}

export async function startService(opts: ServiceOptions): Promise<RunningService> {
  const { config, log, sandboxSecrets: sb } = opts;
  const sealer = createSealer(Buffer.from(config.SEAL_KEY ?? sb.sealKey, 'base64'));
  const tokens = config.AGENT_API_TOKENS ?? [sb.agentToken];
  const sandbox = startSandbox(opts, sealer);
  const timeoutMs = opts.sandbox?.otsTimeoutMs;
  const served = createMetrics();
  served.otsRateBudget.set(config.OTS_RATE_LIMIT_PER_MINUTE);
  // What the components record into (nothing for the benchmark's comparison).
  const metrics = opts.benchmarkWithoutTelemetry ? undefined : served;
  // Before any client is made: the HTTP instrumentation patches the http module they use.
  const tracing = opts.benchmarkWithoutTelemetry ? undefined : startTracing(config);
  const { ots, sms, notes, twilioAuthToken } = createClients(opts, sandbox, metrics);
  const { temporal, dataConverter, temporalConverter } = await connectTemporal(opts, tracing);
  // This process's own queue for reading passphrases into the media streams it holds.
  const voiceQueue = voiceTaskQueue(
    config.TEMPORAL_TASK_QUEUE,
    `${hostname().replace(/[^A-Za-z0-9.-]/g, '')}-${process.pid}-${randomBytes(3).toString('hex')}`,
  );
  const voice = await startVoice(opts, { temporal, voiceQueue, twilioAuthToken, sandbox, metrics });

  // Never staler than the shortest poll interval, at most 10 s; while a hand-off is in its live window it is fetched
  // that often anyway, and a receipt that changed is signalled to its workflow at once (src/ots/receipt-batcher.ts).
  const receipts = createReceiptBatcher({
    ots,
    maxAgeMs: Math.min(10_000, Math.min(...config.OTS_POLL_INTERVALS) * 1000),
    onChange: (workflowId) => temporal.client.workflow.getHandle(workflowId).signal(receiptChangedSignal),
  });
  const workers = await createWorkers({
    // The client's options (connectTemporal): TLS, mutual TLS and the API key from the config, for TEMPORAL_ADDRESS.
    ...temporalConnectionOptions(config, opts.temporalAddress),
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      ots,
      receipts,
      otsRequestTimeoutMs: timeoutMs,
      sms,
      sealer,
      notes,
      temporal: { client: temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE },
      line: voice.line,
      metrics,
    }),
    voiceTaskQueue: voiceQueue,
    otsRatePerMinute: config.OTS_RATE_LIMIT_PER_MINUTE,
    maxCachedWorkflows: config.TEMPORAL_WORKFLOW_CACHE_SIZE,
    dataConverter: temporalConverter,
    workflowBundlePath: opts.workflowBundlePath,
    metrics,
    tracing,
  });
  served.sources.ready = () => readiness(temporal, workers);
  served.sources.needsTechnician = () =>
    temporal.client.workflow
      .count(
        `WorkflowType = "shareSecret" AND ExecutionStatus = "Running" AND TaskQueue = "${config.TEMPORAL_TASK_QUEUE}" AND ShareState = "needs_technician"`,
      )
      .then((c) => c.count);

  const app = createApp({
    client: temporal.client,
    log,
    tokens,
    twilioAuthToken,
    twilioWebhookKeys: config.TWILIO_WEBHOOK_KEYS,
    voice: { callToken: voice.callToken, streamUrl: voice.media.streamUrl },
    codec: {
      // The codec server shows unencrypted payloads as they are; the client and workers refuse them.
      codec: new EncryptionCodec(dataConverter.payloadCodecs[0].keys, { unencrypted: 'pass' }),
      namespace: config.TEMPORAL_NAMESPACE,
      allowedOrigins: config.codecAllowedOrigins,
      tokens: config.CODEC_TOKENS ?? [],
      localUi: config.codecLocalUi,
    },
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    sealer,
    ots,
    publicBaseUrl: config.publicBaseUrl,
    defaultTtl: config.OTS_DEFAULT_TTL,
    requirePassphrase: config.OTS_REQUIRE_PASSPHRASE,
    pollIntervals: config.OTS_POLL_INTERVALS,
    notesWebhook: notes !== noNotesWebhook,
    callWaitMs: config.VOICE_CALL_WAIT_SECONDS * 1000,
    temporalDeadlineMs: opts.sandbox?.temporalDeadlineMs,
    ready: () => readiness(temporal, workers),
    temporalSeemsUnreachable: temporal.seemsUnreachable,
    otsApiVersion: () => ots.apiVersion,
    outboxNeedsAuth: config.modes.ots === 'live' || config.modes.twilio === 'live',
    sandbox: sandbox?.routers,
    metrics,
    metricsServed: served,
    metricsTokens: config.METRICS_TOKENS,
  });
  const undoStart = async () => {
    receipts.close();
    await workers.shutdown().catch(() => undefined);
    await temporal.close();
    await tracing?.shutdown();
  };
  const server = await listen(app, config, undoStart);
  voice.media.attach(server);
  if (sandbox?.upgrade) server.on('upgrade', sandbox.upgrade);
  // After listening: in the sandbox the emulator is served by this very server.
  const otsApi = await checkOtsAccount(ots, config, async () => {
    server.close();
    await undoStart();
  });
  log.info({ otsApiVersion: otsApi.version, reason: otsApi.reason }, 'Onetime Secret API chosen');
  setOtsApiVersion(served, otsApi.version);

  const runPromise = workers.run().catch((err: Error) => {
    log.error({ err: { message: err.message } }, 'worker stopped with an error');
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    tokens,
    sealer,
    temporal,
    workers,
    voiceTaskQueue: voiceQueue,
    voice,
    ots,
    metrics: served,
    sandbox,
    stop: once(async () => {
      await voice.close();
      // Stop accepting, let the requests in flight finish (a rolling restart must not cut an agent's request), close
      // idle keep-alive connections at once, and cut whatever is left after DRAIN_MS.
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      });
      await workers.shutdown();
      await runPromise;
      await temporal.close();
      await sandbox?.close();
      await tracing?.shutdown();
    }),
  };
}

/** The fakes for every outside service without credentials (none when all are live). */
function startSandbox(opts: ServiceOptions, sealer: Sealer): Sandbox | undefined {
  if (!opts.config.sandbox) return undefined;
  try {
    return createSandbox({ ...opts.sandbox, config: opts.config, secrets: opts.sandboxSecrets, sealer });
  } catch (err) {
    throw new StartupError(`sandbox: ${(err as Error).message}`);
  }
}

/** Onetime Secret, Twilio SMS and the notes webhook: the live services configured, or the sandbox's fakes. */
function createClients(
  opts: ServiceOptions,
  sandbox: Sandbox | undefined,
  metrics: Metrics | undefined,
): { ots: OtsClient; sms: SmsSender; notes: NotesSink; twilioAuthToken: string } {
  const { config } = opts;
  const ots = new OtsClient({
    ...liveOtsOptions(config),
    ...sandbox?.ots,
    timeoutMs: opts.sandbox?.otsTimeoutMs,
    observe: metrics && otsObserver(metrics),
  });
  // Twilio's credentials come all three or none (src/config.ts); none means the sandbox's account.
  const twilio = sandbox?.twilio ?? {
    accountSid: config.TWILIO_ACCOUNT_SID!,
    authToken: config.TWILIO_AUTH_TOKEN!,
    from: config.TWILIO_FROM!,
  };
  const sms = createSmsSender(twilio);
  const notes =
    config.NOTES_WEBHOOK_URL && config.NOTES_WEBHOOK_SECRET
      ? createNotesWebhook({ url: config.NOTES_WEBHOOK_URL, secret: config.NOTES_WEBHOOK_SECRET })
      : noNotesWebhook;
  return { ots, sms, notes, twilioAuthToken: twilio.authToken };
}

/**
 * The Temporal client, with payloads encrypted (PAYLOAD_KEYS, or the sandbox's key), over TLS / mutual TLS / with an
 * API key as the config says (src/temporal/connection-options.ts; the workers connect with the same options).
 */
async function connectTemporal(opts: ServiceOptions, tracing: Tracing | undefined) {
  const { config } = opts;
  const payloadKeys = config.PAYLOAD_KEYS ?? parsePayloadKeys(opts.sandboxSecrets.payloadKeys);
  // A payload that claims to be encrypted and does not decrypt reaches the workflow as a refusal marker; the log
  // says why (a forged payload, or a key missing from PAYLOAD_KEYS), never what it held.
  const dataConverter = createDataConverter(payloadKeys, {
    onRefused: (reason) => opts.log.warn({ reason }, 'payload refused: it does not decrypt with PAYLOAD_KEYS'),
  });
  const temporalConverter = opts.benchmarkWithoutPayloadEncryption
    ? { ...dataConverter, payloadCodecs: [] }
    : dataConverter;
  const temporal = await connectClient({
    ...temporalConnectionOptions(config, opts.temporalAddress),
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: temporalConverter,
    tracing,
  });
  return { temporal, dataConverter, temporalConverter };
}

/** The live-call passphrase: clips, speech (Deepgram, the sandbox's fake, or none), media streams, voice line. */
async function startVoice(
  opts: ServiceOptions,
  deps: {
    temporal: TemporalClient;
    voiceQueue: string;
    twilioAuthToken: string;
    sandbox: Sandbox | undefined;
    metrics: Metrics | undefined;
  },
): Promise<Voice> {
  const { config, log } = opts;
  const speech =
    config.modes.deepgram === 'live'
      ? { apiKey: config.DEEPGRAM_API_KEY!, baseUrl: config.DEEPGRAM_BASE_URL }
      : deps.sandbox?.deepgram;
  try {
    return await setupVoice({
      config,
      log,
      client: deps.temporal.client,
      voiceTaskQueue: deps.voiceQueue,
      twilioAuthToken: deps.twilioAuthToken,
      sealKey: Buffer.from(config.SEAL_KEY ?? opts.sandboxSecrets.sealKey, 'base64'),
      speech,
      simulatedCalls: deps.sandbox?.simulatedCallsHook,
      onReading: opts.sandbox?.onReading,
      metrics: deps.metrics,
    });
  } catch (err) {
    await deps.temporal.close();
    throw new StartupError((err as Error).message);
  }
}

/** How long a stopping service lets HTTP requests in flight finish (a start waits at most ~10 s for Temporal). */
const DRAIN_MS = 12_000;

/** A workflow id no hand-off has: looking it up reads Temporal's execution store, and answers "not found". */
const READINESS_PROBE_ID = 'ots-handoff-readiness-probe';

/**
 * Ready = Temporal's frontend answers, its persistence answers, and the workers run. The frontend's own health
 * check stays SERVING while its database is gone (the frontend needs none to answer it), so a lookup of a workflow
 * that does not exist goes through to the execution store: NotFound means the store answered; Unavailable or a
 * deadline means it did not, and a share request would fail too.
 */
async function readiness(temporal: TemporalClient, workers: Workers): Promise<Record<string, boolean>> {
  const within = <T>(fn: () => Promise<T>) => temporal.connection.withDeadline(Date.now() + 2_000, fn);
  const [frontend, persistence] = await Promise.all([
    within(() => temporal.connection.healthService.check({})).then(
      () => true,
      () => false,
    ),
    within(() =>
      temporal.connection.workflowService.describeWorkflowExecution({
        namespace: temporal.client.options.namespace,
        execution: { workflowId: READINESS_PROBE_ID },
      }),
    ).then(
      () => true,
      // The workflow's NOT_FOUND, not the namespace's (Temporal without its database answers that too).
      (err: unknown) => grpcCodeOf(err) === GRPC_STATUS.NOT_FOUND && !isNamespaceNotFound(err),
    ),
  ]);
  return { temporal: frontend, persistence, worker: workers.isRunning() };
}

/**
 * Connections the kernel may hold for the server before it accepts them. Node's default, 511, is less than a burst
 * of agents (1,000 share requests at once, test/faults/burst.test.ts): while the event loop is busy the excess
 * handshakes were dropped or, held too long, reset, and those agents got a connect timeout or ECONNRESET instead of
 * an answer. Linux caps it at net.core.somaxconn (4096 by default since 5.4).
 */
const LISTEN_BACKLOG = 4096;

/** Listens on HOST:PORT; when it cannot, `undo` stops what was started and start-up fails with the reason. */
async function listen(app: ReturnType<typeof createApp>, config: Config, undo: () => Promise<void>): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.PORT, config.HOST, LISTEN_BACKLOG, () => resolve(s));
    s.once('error', reject);
  }).catch(async (err: Error) => {
    await undo();
    throw new StartupError(`cannot listen on ${config.HOST}:${config.PORT}: ${err.message} (set PORT to a free port)`);
  });
}

/**
 * Chooses the Onetime Secret API version now, which also checks the account's credentials (src/ots/client.ts,
 * detectApiVersion), rather than on the first hand-off.
 */
async function checkOtsAccount(ots: OtsClient, config: Config, undo: () => Promise<void>): Promise<OtsApiSelection> {
  try {
    return await ots.detectApiVersion();
  } catch (err) {
    await undo();
    throw new StartupError(
      `Onetime Secret at ${ots.baseUrl} rejected OTS_USERNAME/OTS_API_KEY, is unreachable, or cannot speak OTS_API_VERSION=${config.OTS_API_VERSION}: ${(err as Error).message}`,
    );
  }
}

/** The first call runs `fn`; every call returns its promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}
