// Builds and starts the whole service against a Temporal server: clients (live or sandbox fake, per service),
// activities, workers and the HTTP server. src/main.ts adds the embedded dev server, the banner and signals;
// end-to-end tests call this directly so they run exactly the production wiring.
import type { Server } from 'node:http';
import { Router, type RequestHandler } from 'express';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createActivities } from '../activities/index.js';
import { voiceTaskQueue } from '../workflows/queues.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { createNotesWebhook, noNotesWebhook } from './notes.js';
import { OtsClient } from './ots/client.js';
import { createReceiptBatcher } from './ots/receipt-batcher.js';
import { createOtsEmulator } from './sandbox/ots-emulator.js';
import { persistEmulator } from './sandbox/persist.js';
import { createTwilioFake, type TwilioFakeOptions } from './sandbox/twilio-fake.js';
import { setupVoice, type Voice } from './voice/setup.js';
import { createSealer, type Sealer } from './seal.js';
import { connectClient, type TemporalClient } from './temporal/client.js';
import { parsePayloadKeys } from './temporal/payload-codec.js';
import { createDataConverter } from './temporal/data-converter.js';
import { createWorkers, type Workers } from './temporal/worker.js';
import { createSmsSender } from './twilio/sms.js';

/** Credentials the sandbox makes up for itself (src/sandbox/secrets.ts keeps them across restarts). */
export interface SandboxSecrets {
  agentToken: string;
  sealKey: string;
  /** PAYLOAD_KEYS format: generated for the sandbox, never for production. */
  payloadKeys: string;
  otsUsername: string;
  otsApiKey: string;
  twilioAccountSid: string;
  twilioAuthToken: string;
  twilioFrom: string;
  /** The key the sandbox's fake Deepgram accepts. */
  deepgramApiKey: string;
}

export interface ServiceOptions {
  config: Config;
  temporalAddress: string;
  log: Logger;
  sandboxSecrets: SandboxSecrets;
  workflowBundlePath?: string;
  /** Knobs for the sandbox fakes (tests use them to make the fake OTS rate limit, slow callbacks …). */
  sandbox?: {
    otsRateLimit?: { max: number; windowMs: number };
    otsMinTtlSeconds?: number;
    smsCallbackDelayMs?: number;
    /** Keep the OTS emulator's state in this file (sealed) across restarts; npm start uses .data/. */
    otsStateFile?: string;
    /** Called with each SMS the Twilio fake accepts. */
    onSms?: TwilioFakeOptions['onMessage'];
    /** Called after each passphrase reading (npm run bench: time to first frame, pacing). */
    onReading?: Parameters<typeof setupVoice>[0]['onReading'];
    /** The OTS client's whole-request deadline (default 10 s); fault tests shorten it to time out quickly. */
    otsTimeoutMs?: number;
  };
  /**
   * `npm run bench` only, to measure what encryption costs: Temporal payloads travel unencrypted. Not reachable
   * from the environment; never set it anywhere else.
   */
  benchmarkWithoutPayloadEncryption?: true;
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
  otsEmulator?: ReturnType<typeof createOtsEmulator>;
  twilioFake?: ReturnType<typeof createTwilioFake>;
  stop(): Promise<void>;
}

export class StartupError extends Error {
  readonly code = 'STARTUP_FAILED';
}

export const OTS_DEFAULT_BASE_URL = 'https://us.onetimesecret.com';

export async function startService(opts: ServiceOptions): Promise<RunningService> {
  const { config, log, sandboxSecrets: sb } = opts;
  const { localUrl } = config;
  const sealer = createSealer(Buffer.from(config.SEAL_KEY ?? sb.sealKey, 'base64'));
  const tokens = config.AGENT_API_TOKENS ?? [sb.agentToken];

  // Onetime Secret: the real server with an account, or the v1 emulator mounted on this very server.
  const otsEmulator =
    config.modes.ots === 'sandbox'
      ? createOtsEmulator({
          credentials: { username: sb.otsUsername, apiKey: sb.otsApiKey },
          rateLimit: opts.sandbox?.otsRateLimit,
          minTtlSeconds: opts.sandbox?.otsMinTtlSeconds,
          publicBaseUrl: () => `${localUrl}/sandbox/ots`,
        })
      : undefined;
  const otsPersistence =
    otsEmulator && opts.sandbox?.otsStateFile
      ? persistEmulator(otsEmulator, opts.sandbox.otsStateFile, sealer)
      : undefined;
  const timeoutMs = opts.sandbox?.otsTimeoutMs;
  const ots = otsEmulator
    ? new OtsClient({ baseUrl: `${localUrl}/sandbox/ots`, username: sb.otsUsername, apiKey: sb.otsApiKey, timeoutMs })
    : new OtsClient({
        baseUrl: config.OTS_BASE_URL ?? OTS_DEFAULT_BASE_URL,
        username: config.OTS_USERNAME,
        apiKey: config.OTS_API_KEY,
        timeoutMs,
      });

  // Twilio: the real API, or the fake reached through twilio-node's own request path.
  const twilioFake =
    config.modes.twilio === 'sandbox'
      ? createTwilioFake({
          accountSid: sb.twilioAccountSid,
          authToken: sb.twilioAuthToken,
          callbackDelayMs: opts.sandbox?.smsCallbackDelayMs,
          onMessage: opts.sandbox?.onSms,
        })
      : undefined;
  const twilioAuthToken = config.TWILIO_AUTH_TOKEN ?? sb.twilioAuthToken;
  const sms = createSmsSender({
    accountSid: config.TWILIO_ACCOUNT_SID ?? sb.twilioAccountSid,
    authToken: twilioAuthToken,
    from: config.TWILIO_FROM ?? sb.twilioFrom,
    httpClient: twilioFake?.httpClient,
  });

  const notes =
    config.NOTES_WEBHOOK_URL && config.NOTES_WEBHOOK_SECRET
      ? createNotesWebhook({ url: config.NOTES_WEBHOOK_URL, secret: config.NOTES_WEBHOOK_SECRET })
      : noNotesWebhook;

  const payloadKeys = config.PAYLOAD_KEYS ?? parsePayloadKeys(sb.payloadKeys);
  const dataConverter = createDataConverter(payloadKeys);
  const temporalConverter = opts.benchmarkWithoutPayloadEncryption
    ? { ...dataConverter, payloadCodecs: [] }
    : dataConverter;
  const temporal = await connectClient({
    address: opts.temporalAddress,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: temporalConverter,
  });
  // This process's own queue for reading passphrases into the media streams it holds.
  const voiceQueue = voiceTaskQueue(
    config.TEMPORAL_TASK_QUEUE,
    `${hostname().replace(/[^A-Za-z0-9.-]/g, '')}-${process.pid}-${randomBytes(3).toString('hex')}`,
  );
  const sealKey = Buffer.from(config.SEAL_KEY ?? sb.sealKey, 'base64');
  let voice: Voice;
  try {
    voice = await setupVoice({
      config,
      log,
      client: temporal.client,
      voiceTaskQueue: voiceQueue,
      twilioAuthToken,
      sealKey,
      sandbox: config.sandbox
        ? {
            deepgramApiKey: sb.deepgramApiKey,
            twilioAccountSid: sb.twilioAccountSid,
            simulateCalls: config.modes.twilio === 'sandbox',
          }
        : undefined,
      onReading: opts.sandbox?.onReading,
    });
  } catch (err) {
    await temporal.close();
    throw new StartupError((err as Error).message);
  }
  const workers = await createWorkers({
    address: opts.temporalAddress,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities: createActivities({
      ots,
      // Never staler than the shortest poll interval, at most 10 s.
      receipts: createReceiptBatcher({
        ots,
        maxAgeMs: Math.min(10_000, Math.min(...config.OTS_POLL_INTERVALS) * 1000),
      }),
      otsRequestTimeoutMs: timeoutMs,
      sms,
      sealer,
      notes,
      temporal: { client: temporal.client, taskQueue: config.TEMPORAL_TASK_QUEUE },
      line: voice.line,
    }),
    voiceTaskQueue: voiceQueue,
    otsRatePerMinute: config.OTS_RATE_LIMIT_PER_MINUTE,
    dataConverter: temporalConverter,
    workflowBundlePath: opts.workflowBundlePath,
  });

  const app = createApp({
    client: temporal.client,
    log,
    tokens,
    twilioAuthToken,
    voice: { callToken: voice.callToken, streamUrl: voice.media.streamUrl },
    codec: {
      codec: dataConverter.payloadCodecs[0],
      namespace: config.TEMPORAL_NAMESPACE,
      allowedOrigins: config.codecAllowedOrigins,
      tokens: config.CODEC_TOKENS ?? [],
      localUi: config.codecLocalUi,
    },
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    sealer,
    publicBaseUrl: config.publicBaseUrl,
    defaultTtl: config.OTS_DEFAULT_TTL,
    requirePassphrase: config.OTS_REQUIRE_PASSPHRASE,
    pollIntervals: config.OTS_POLL_INTERVALS,
    notesWebhook: notes !== noNotesWebhook,
    callWaitMs: config.VOICE_CALL_WAIT_SECONDS * 1000,
    ready: async () => ({
      temporal: await temporal.connection
        .withDeadline(Date.now() + 2_000, () => temporal.connection.healthService.check({}))
        .then(
          () => true,
          () => false,
        ),
      worker: workers.isRunning(),
    }),
    outboxNeedsAuth: config.modes.ots === 'live' || config.modes.twilio === 'live',
    sandbox: [
      ...(otsEmulator ? [otsSandboxRouter(otsEmulator.router, otsPersistence?.middleware)] : []),
      ...(twilioFake ? [twilioFake.router] : []),
      ...(voice.simulatedCalls ? [voice.simulatedCalls.router] : []),
    ],
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.PORT, config.HOST, () => resolve(s));
    s.once('error', reject);
  }).catch(async (err: Error) => {
    await workers.shutdown().catch(() => undefined);
    await temporal.close();
    throw new StartupError(`cannot listen on ${config.HOST}:${config.PORT}: ${err.message} (set PORT to a free port)`);
  });

  voice.media.attach(server);
  if (voice.deepgramFake) {
    const fake = voice.deepgramFake;
    server.on('upgrade', (req, socket, head) => {
      const path = req.url?.split('?')[0] ?? '';
      if (!fake.handleUpgrade(req, socket, head) && path !== '/twilio/media' && !path.startsWith('/twilio/media/'))
        socket.destroy();
    });
  }

  // With a live account, check the credentials now rather than on the first hand-off ("validated on connect").
  if (!otsEmulator) {
    try {
      await ots.authcheck();
    } catch (err) {
      server.close();
      await workers.shutdown().catch(() => undefined);
      await temporal.close();
      throw new StartupError(
        `Onetime Secret at ${config.OTS_BASE_URL ?? OTS_DEFAULT_BASE_URL} rejected OTS_USERNAME/OTS_API_KEY or is unreachable: ${(err as Error).message}`,
      );
    }
  }

  const runPromise = workers.run().catch((err: Error) => {
    log.error({ err: { message: err.message } }, 'worker stopped with an error');
  });

  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
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
    otsEmulator,
    twilioFake,
    stop() {
      stopped ??= (async () => {
        await voice.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await workers.shutdown();
        await runPromise;
        await temporal.close();
        otsPersistence?.flush();
      })();
      return stopped;
    },
  };
}

function otsSandboxRouter(router: Router, persist?: RequestHandler): Router {
  return persist ? Router().use('/sandbox/ots', persist, router) : Router().use('/sandbox/ots', router);
}
