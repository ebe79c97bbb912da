// The sandbox: a local fake for each outside service whose credentials are not set, all built here, in one place.
// Like undici's MockAgent, each fake stands in at the seam the production code already has, not behind a branch in
// it: the service receives only values it would otherwise take from its configuration (a base URL and the
// credentials the fake accepts, twilio-node's `httpClient`), express routers to mount, an `upgrade` listener, a
// hook for the simulated callers and close(): see docs/architecture.md ("Sandbox seams").
//
// src/service.ts is the one module outside src/sandbox/ that imports from it, and only this file. Tests and scripts
// reach the fakes through the exports at the end, or through RunningService.sandbox.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Router } from 'express';
import type { Config } from '../config.js';
import type { Sealer } from '../seal.js';
import type { TwilioHttpClient } from '../twilio/sms.js';
import { loadClipSet } from '../voice/clips.js';
import { MEDIA_STREAM_PATH } from '../voice/media-server.js';
import { createClipRecognizer } from '../voice/recognizer.js';
import type { SimulatedCallsHook } from '../voice/setup.js';
import type { ClipSet } from '../voice/types.js';
import { CALLER_WORDS } from '../voice/vocabulary.js';
import { createDeepgramFake, type DeepgramFake } from './deepgram-fake.js';
import { createOtsEmulator, type OtsEmulator, type OtsEmulatorOptions } from './ots-emulator.js';
import { persistEmulator } from './persist.js';
import type { SandboxSecrets } from './secrets.js';
import { createSimulatedCalls, type SimulatedCalls } from './simulated-calls.js';
import { createTwilioFake, type TwilioFake, type TwilioFakeOptions } from './twilio-fake.js';

/** Knobs for the fakes (tests use them to make the fake OTS rate limit, slow callbacks …). */
export interface SandboxKnobs {
  otsRateLimit?: { max: number; windowMs: number };
  /** The OTS API versions the emulator serves (default both; ['v1'] is a server without the v2 app). */
  otsApiVersions?: OtsEmulatorOptions['apiVersions'];
  /** false: the emulated account lacks the api_access entitlement (v2 answers 403 EntitlementRequired). */
  otsApiAccess?: boolean;
  smsCallbackDelayMs?: number;
  /** Keep the OTS emulator's state in this file (sealed) across restarts; npm start uses .data/. */
  otsStateFile?: string;
  /** Called with each SMS the Twilio fake accepts. */
  onSms?: TwilioFakeOptions['onMessage'];
  /** Base URLs besides this service's where simulated calls may follow a returnUrl (tests' own agents). */
  returnUrlBases?: readonly string[];
}

export interface SandboxOptions extends SandboxKnobs {
  /** Which services are fakes (`modes`), and where the service listens and is reached. */
  config: Pick<Config, 'modes' | 'localUrl' | 'publicBaseUrl' | 'TWILIO_WEBHOOK_KEYS'>;
  /** The credentials each fake accepts. */
  secrets: SandboxSecrets;
  /** Seals the OTS emulator's state file. */
  sealer: Sealer;
}

/** What the service takes from the sandbox: seams, plus the fakes themselves for tests to drive and inspect. */
export interface Sandbox {
  /** Onetime Secret: the emulator's base URL (on this service) and the account it accepts. */
  ots?: { baseUrl: string; username: string; apiKey: string };
  /** Twilio: the account the fake accepts, and twilio-node's `httpClient` that answers in its place. */
  twilio?: { accountSid: string; authToken: string; from: string; httpClient: TwilioHttpClient };
  /** Deepgram: the fake's base URL (on this service) and the key it accepts. */
  deepgram?: { baseUrl: string; apiKey: string };
  /** For setupVoice: the simulated callers, started once the service's clip set is loaded. */
  simulatedCallsHook?: SimulatedCallsHook;
  /** Mounted on the service's app, at its root (every path is under /sandbox/). */
  routers: Router[];
  /** An `upgrade` listener for the service's HTTP server, added after the media server's own. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Writes the OTS emulator's state to its file, if it has one. Call after the service has stopped. */
  close(): Promise<void>;
  otsEmulator?: OtsEmulator;
  twilioFake?: TwilioFake;
  deepgramFake?: DeepgramFake;
  /** Set once setupVoice has loaded the clips (before startService returns). */
  readonly simulatedCalls?: SimulatedCalls;
}

const OTS_PATH = '/sandbox/ots';
const DEEPGRAM_PATH = '/sandbox/deepgram';

export function createSandbox(opts: SandboxOptions): Sandbox {
  const { config, secrets: sb } = opts;
  const { localUrl } = config;

  // Onetime Secret: the v1 + v2 emulator, mounted on this very server; its state optionally kept in a sealed file.
  const otsEmulator =
    config.modes.ots === 'sandbox'
      ? createOtsEmulator({
          credentials: { username: sb.otsUsername, apiKey: sb.otsApiKey },
          rateLimit: opts.otsRateLimit,
          apiVersions: opts.otsApiVersions,
          apiAccess: opts.otsApiAccess,
          publicBaseUrl: () => `${localUrl}${OTS_PATH}`,
        })
      : undefined;
  const otsPersistence =
    otsEmulator && opts.otsStateFile ? persistEmulator(otsEmulator, opts.otsStateFile, opts.sealer) : undefined;

  // Twilio: the fake answers twilio-node's requests through its own httpClient hook.
  const twilioFake =
    config.modes.twilio === 'sandbox'
      ? createTwilioFake({
          accountSid: sb.twilioAccountSid,
          authToken: sb.twilioAuthToken,
          // With TWILIO_WEBHOOK_KEYS, SMS status callbacks come signed with the first key, as with a Webhook Rule for
          // /twilio/sms-status; simulated calls keep signing with the auth token (both are accepted).
          sharedKey: config.TWILIO_WEBHOOK_KEYS?.[0],
          callbackDelayMs: opts.smsCallbackDelayMs,
          onMessage: opts.onSms,
        })
      : undefined;

  // The committed clip set holds the simulated caller's words (the service's own set may be a Deepgram one).
  const callerClips = loadClipSet(undefined, { required: Object.keys(CALLER_WORDS) });

  // Deepgram: the fake "hears" the simulated caller's word clips by fingerprint and answers with their words as
  // transcripts, over Deepgram's real protocol, so the real SDK talks to it through its base URL.
  const deepgramFake =
    config.modes.deepgram === 'sandbox'
      ? createDeepgramFake({ apiKey: sb.deepgramApiKey, prefix: DEEPGRAM_PATH, transcribe: callerWords(callerClips) })
      : undefined;

  // Simulated calls: made once setupVoice hands over the clip set the service speaks from.
  let simulatedCalls: SimulatedCalls | undefined;
  const simulatedCallsHook: SimulatedCallsHook | undefined = twilioFake
    ? {
        useClips(clips) {
          simulatedCalls = createSimulatedCalls({
            accountSid: sb.twilioAccountSid,
            authToken: sb.twilioAuthToken,
            clips,
            callerClips,
            publicBaseUrl: () => config.publicBaseUrl,
            localBaseUrl: () => localUrl,
            returnUrlBases: opts.returnUrlBases,
          });
        },
        closeAll: async () => simulatedCalls?.closeAll(),
      }
    : undefined;

  const routers: Router[] = [];
  if (otsEmulator)
    routers.push(
      otsPersistence
        ? Router().use(OTS_PATH, otsPersistence.middleware, otsEmulator.router)
        : Router().use(OTS_PATH, otsEmulator.router),
    );
  if (twilioFake) routers.push(twilioFake.router);
  if (simulatedCallsHook)
    routers.push(Router().use((req, res, next) => (simulatedCalls ? simulatedCalls.router(req, res, next) : next())));

  return {
    ots: otsEmulator
      ? { baseUrl: `${localUrl}${OTS_PATH}`, username: sb.otsUsername, apiKey: sb.otsApiKey }
      : undefined,
    twilio: twilioFake
      ? {
          accountSid: sb.twilioAccountSid,
          authToken: sb.twilioAuthToken,
          from: sb.twilioFrom,
          httpClient: twilioFake.httpClient,
        }
      : undefined,
    deepgram: deepgramFake ? { baseUrl: `${localUrl}${DEEPGRAM_PATH}`, apiKey: sb.deepgramApiKey } : undefined,
    simulatedCallsHook,
    routers,
    upgrade: deepgramFake ? routeUpgrade(deepgramFake) : undefined,
    async close() {
      otsPersistence?.flush();
    },
    otsEmulator,
    twilioFake,
    deepgramFake,
    get simulatedCalls() {
      return simulatedCalls;
    },
  };
}

/**
 * Upgrades next to the media server's: the fake Deepgram's listen socket is the fake's; any other path that is not
 * the media stream's is nobody's and is dropped (the media server leaves those to another listener once one exists).
 */
function routeUpgrade(fake: DeepgramFake): NonNullable<Sandbox['upgrade']> {
  return (req, socket, head) => {
    const path = req.url?.split('?')[0] ?? '';
    if (
      !fake.handleUpgrade(req, socket, head) &&
      path !== MEDIA_STREAM_PATH &&
      !path.startsWith(`${MEDIA_STREAM_PATH}/`)
    )
      socket.destroy();
  };
}

/** The fake Deepgram's "speech recognition": each listen connection recognises the caller-word clips it is sent. */
function callerWords(callerClips: ClipSet): (frame: Buffer, connectionId: number) => string | undefined {
  const recognizers = new Map<number, ReturnType<typeof createClipRecognizer>>();
  return (frame, id) => {
    let r = recognizers.get(id);
    if (!r) {
      // Connections are numbered in order; forget the oldest so a long-running sandbox does not grow.
      if (recognizers.size >= 256) recognizers.delete(recognizers.keys().next().value!);
      recognizers.set(id, (r = createClipRecognizer(callerClips, { names: Object.keys(CALLER_WORDS) })));
    }
    const heard = r.write(frame);
    const last = heard.at(-1) as keyof typeof CALLER_WORDS | undefined;
    return last ? CALLER_WORDS[last] : undefined;
  };
}

export { loadSandboxSecrets, makeSandboxSecrets, SandboxSecretsError, type SandboxSecrets } from './secrets.js';

// For tests and scripts that run a fake on its own, or the simulated caller against a service of their own.
export { PlaybackQueue, type PlaybackEvents } from './caller-playback.js';
export {
  createDeepgramFake,
  fakeSpeech,
  type DeepgramFake,
  type DeepgramFakeOptions,
  type FakeListenConnection,
  type FakeRequest,
} from './deepgram-fake.js';
export { inboundFrames, type InboundFrames, type InboundStreamIds } from './inbound-frames.js';
export {
  createOtsEmulator,
  startOtsEmulatorServer,
  type InjectedFault,
  type OtsEmulator,
  type OtsEmulatorOptions,
  type OtsEmulatorSnapshot,
  type OtsEmulatorStats,
  type SecretListing,
} from './ots-emulator.js';
export { OTS_CONTROL_PATH, otsControlRouter } from './ots-emulator/control.js';
export { injectedFaultSchema } from './ots-emulator/faults.js';
export { persistEmulator } from './persist.js';
export {
  callerScriptSchema,
  localStreamUrl,
  placeSimulatedCall,
  SimulatedCallError,
  wroteDownFrom,
  type CallerStep,
  type SimulatedCall,
  type SimulatedCallOptions,
  type SimulatedCallSnapshot,
} from './simulated-caller.js';
export { createSimulatedCalls, type SimulatedCalls } from './simulated-calls.js';
export { createTwilioFake, type OutboxMessage, type TwilioFake, type TwilioFakeOptions } from './twilio-fake.js';
export { parseConnectStream, TwimlError, type TwimlStream } from './twiml-stream.js';
