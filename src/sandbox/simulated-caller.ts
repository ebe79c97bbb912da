// A simulated Twilio caller for the sandbox: it places a call against the service the way Twilio does and records
// what a person on the line would hear. Sandbox and tests only; it talks only to the local base URL.
//
// What it does, in Twilio's wire format: see docs/twilio.md ("Webhook signatures", "Media streams", "TwiML and call
// hand-over"); Twilio documents it at https://www.twilio.com/docs/usage/webhooks/webhooks-security,
// https://www.twilio.com/docs/voice/twiml/stream and
// https://www.twilio.com/docs/voice/media-streams/websocket-messages.
//  1. POSTs the voice webhook (CallSid, AccountSid, From, To, CallStatus=in-progress, Direction=inbound), signed
//     with X-Twilio-Signature over PUBLIC_BASE_URL + path exactly, to the same path on the local base URL.
//  2. Reads `<Connect><Stream url="wss://…">` and its `<Parameter>`s from the TwiML answer, and opens the WebSocket on
//     the local base URL with the same path, signing the upgrade over the wss:// URL exactly as written, params {}.
//  3. Sends `connected`, then `start` (sequenceNumber "1", streamSid MZ…, tracks ["inbound"], customParameters,
//     mediaFormat audio/x-mulaw 8000 1), then one inbound `media` frame (160 bytes) every 20 ms on a deadline clock:
//     silence, or a caller-word clip when the script says so. chunk, timestamp and sequenceNumber are strings.
//  4. Plays outbound `media` in real time (PlaybackQueue), echoes `mark`s after their audio has played, and on
//     `clear` drops the audio and echoes pending marks at once. Played frames go to a clip recogniser: `heard`.
//  5. Presses keys (`dtmf`, track inbound_track), speaks caller words, hangs up (`stop`), per its script.
//  6. When the call ends (its hang-up, the server closing the stream, a time limit), POSTs the signed call-status
//     webhook (CallStatus=completed).
//
// CONFIDENTIALITY: `heard` and `wroteDown` spell the passphrase, by design: this fake stands for the person on the
// phone, and the sandbox's GET /sandbox/calls/:callSid shows what they heard. Never log a snapshot.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import WebSocket from 'ws';
import { z } from 'zod';
import { expectedTwilioSignature } from '../twilio/signature.js';
import { silenceFrames, splitFrames } from '../voice/mulaw.js';
import { createClipRecognizer } from '../voice/recognizer.js';
import type { TwilioFrameInput } from '../voice/frames.js';
import { FRAME_MS, SAMPLE_RATE, type ClipSet } from '../voice/types.js';
import { PlaybackQueue } from './caller-playback.js';
import { inboundFrames } from './inbound-frames.js';
import { parseConnectStream } from './twiml-stream.js';

// ---- script ---------------------------------------------------------------------------------------------------

const DTMF_DIGIT = /^[0-9*#]$/;

/**
 * One scripted step. Steps run in order; each is armed when the previous one has fired (the first at stream start).
 * It fires when the clip `after` has been heard since it was armed (if given), then `afterMs` later (default 0;
 * with no `after`, `afterMs` counts from arming). Then it presses a key, says a caller-word clip, or hangs up.
 */
export const callerStepSchema = z
  .object({
    after: z.string().min(1).optional(),
    afterMs: z.number().int().min(0).max(600_000).optional(),
    press: z.string().regex(DTMF_DIGIT, 'press is one key: 0-9, * or #').optional(),
    say: z.string().min(1).optional(),
    hangup: z.literal(true).optional(),
  })
  .strict()
  .refine((s) => s.after !== undefined || s.afterMs !== undefined, {
    message: 'a step needs "after" (a clip name) or "afterMs"',
  })
  .refine((s) => [s.press, s.say, s.hangup].filter((x) => x !== undefined).length === 1, {
    message: 'a step does exactly one of "press", "say" or "hangup"',
  });

export const callerScriptSchema = z.array(callerStepSchema).max(100);
export type CallerStep = z.infer<typeof callerStepSchema>;

// ---- public shapes --------------------------------------------------------------------------------------------

export type SimulatedCallStatus = 'ringing' | 'in-progress' | 'completed' | 'failed';

export interface SimulatedCallSnapshot {
  callSid: string;
  status: SimulatedCallStatus;
  /** Clip names heard in full, in order. */
  heard: string[];
  /** Keys pressed, in order. */
  pressed: string[];
  /** The passphrase as the caller would type it after the first reading (set once "Again." has been heard). */
  wroteDown?: string;
  /** Why the call failed (status "failed"): no passphrase, no payload, just what went wrong. */
  failure?: string;
  /** Protocol faults Twilio would report in its debugger (31950 binary frame, 31951 invalid message), once each. */
  warnings: string[];
  /**
   * Where the call went on after the service closed the stream: the TwiML's `<Redirect>` (the agent's returnUrl).
   * Like Twilio, the caller POSTs the signed voice webhook there, but only when it is on the service's own base URL
   * (returnUrlTarget); `status` is the answer's HTTP status, `refused` why it was not fetched.
   */
  continuedAt?: { url: string; status?: number; refused?: string };
}

export interface SimulatedCallOptions {
  accountSid: string;
  /** Signs the webhooks and the upgrade, as Twilio does with the account's auth token. */
  authToken: string;
  /** The service's PUBLIC_BASE_URL: signatures are computed over it, as Twilio sees the service. */
  publicBaseUrl: string;
  /** Where the service really listens (http://127.0.0.1:PORT): every request and the WebSocket go here. */
  localBaseUrl: string;
  /**
   * Other base URLs a returnUrl may be under (posted there as written): set only by code, never from the
   * environment, for tests that run an agent of their own on another port. Default none.
   */
  returnUrlBases?: readonly string[];
  /** Voice webhook path, query string allowed (it is signed as part of the URL). Default "/twilio/voice". */
  voicePath?: string;
  /** Call-status webhook path; null to send none. Default "/twilio/call-status". */
  statusCallbackPath?: string | null;
  callSid?: string;
  from?: string;
  to?: string;
  /** Clips the caller recognises: the set the service speaks from (committed, or a cached Deepgram TTS set). */
  clips: ClipSet;
  /** Clips the caller speaks (its `say` steps, e.g. "caller-repeat"). Default: `clips`. */
  callerClips?: ClipSet;
  script?: readonly CallerStep[];
  /** Hang up after this long on the stream. Default 10 minutes. */
  maxDurationMs?: number;
}

export interface SimulatedCall {
  readonly callSid: string;
  snapshot(): SimulatedCallSnapshot;
  /** Press a key now (sends a `dtmf` frame). */
  press(digit: string): void;
  /** Speak a caller-word clip now (sent as inbound audio after anything already being said). */
  say(clip: string): void;
  /** Hang up (a `stop` frame, then the call-status webhook); resolves with the final snapshot. */
  hangup(): Promise<SimulatedCallSnapshot>;
  /** Resolves once the snapshot satisfies `predicate` (checked on every change); rejects after `timeoutMs`. */
  waitFor(predicate: (s: SimulatedCallSnapshot) => boolean, timeoutMs?: number): Promise<SimulatedCallSnapshot>;
  /** Resolves with the final snapshot once the call has ended and its status webhook was posted. */
  readonly ended: Promise<SimulatedCallSnapshot>;
}

export class SimulatedCallError extends Error {
  readonly code = 'SIMULATED_CALL_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'SimulatedCallError';
  }
}

// ---- helpers --------------------------------------------------------------------------------------------------

const hex32 = () => randomBytes(16).toString('hex');
const API_VERSION = '2010-04-01';
/** After this much lag (a stalled event loop) the clocks resynchronise instead of bursting frames. */
const MAX_CATCH_UP_FRAMES = 25;

// Messages the service may send on a bidirectional stream: media, mark and clear (the websocket-messages page above).
const outboundSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('media'), streamSid: z.string(), media: z.object({ payload: z.string() }) }),
  z.object({ event: z.literal('mark'), streamSid: z.string(), mark: z.object({ name: z.string() }) }),
  z.object({ event: z.literal('clear'), streamSid: z.string() }),
]);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Twilio discards media beyond 10 minutes of buffered audio, error 31931: docs/twilio.md ("Media streams"). */
const MAX_BUFFERED_BYTES = 10 * 60 * SAMPLE_RATE;
const SILENT_FRAME = silenceFrames(1);

/** The digit/letter clips between the intro prompt and the first "Again.", as the caller would write them down. */
export function wroteDownFrom(heard: readonly string[]): string | undefined {
  const again = heard.indexOf('prompt-again');
  if (again < 0) return undefined;
  let intro = -1;
  for (let i = again - 1; i >= 0; i--) {
    if (heard[i] === 'prompt-intro-digits' || heard[i] === 'prompt-intro-letters') {
      intro = i;
      break;
    }
  }
  if (intro < 0) return undefined;
  return heard
    .slice(intro + 1, again)
    .filter((n) => /^[0-9a-z]$/.test(n))
    .join('');
}

/** Whether `url` is `base` or under its path (same origin, no credentials). */
function isUnder(url: URL, base: URL): boolean {
  const prefix = base.pathname.replace(/\/+$/, '');
  return (
    url.origin === base.origin &&
    !url.username &&
    !url.password &&
    (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`))
  );
}

/**
 * Where the simulated caller POSTs a `<Redirect>` (the agent's returnUrl): only to the service it was configured to
 * call. A returnUrl under PUBLIC_BASE_URL goes to the same path on the local base (as the voice webhook does); one
 * under the local base goes there. Anything else is refused with the reason: the agent API lets any caller choose
 * returnUrl, and a sandbox fake that POSTed signed requests to any address on this machine and reported the status
 * would be a probe of every local port.
 */
export function returnUrlTarget(
  returnUrl: string,
  publicBaseUrl: string,
  localBaseUrl: string,
  otherBases: readonly string[] = [],
): { target: string } | { refused: string } {
  const pub = new URL(publicBaseUrl);
  const local = new URL(localBaseUrl);
  const bases = pub.origin === local.origin ? local.origin : `${pub.origin} or ${local.origin}`;
  const refused = `not followed: the simulated caller posts only to the service it calls (${bases}), and this returnUrl is elsewhere`;
  let url: URL;
  try {
    url = new URL(returnUrl);
  } catch {
    return { refused: 'not followed: returnUrl is not a URL' };
  }
  if (isUnder(url, local) || otherBases.some((b) => isUnder(url, new URL(b)))) return { target: url.href };
  if (isUnder(url, pub)) {
    const rest = url.pathname.slice(pub.pathname.replace(/\/+$/, '').length) + url.search;
    return { target: `${local.origin}${local.pathname.replace(/\/+$/, '')}${rest}` };
  }
  return { refused };
}

/** Maps the TwiML's wss:// URL on the public base to the same path on the local base (ws://127.0.0.1:PORT…). */
export function localStreamUrl(streamUrl: string, publicBaseUrl: string, localBaseUrl: string): string {
  const stream = new URL(streamUrl);
  const pub = new URL(publicBaseUrl);
  const local = new URL(localBaseUrl);
  const prefix = pub.pathname.replace(/\/+$/, '');
  if (stream.protocol !== 'wss:')
    throw new SimulatedCallError(`the <Stream> url must be wss:// (Twilio error 31922), got ${stream.protocol}`);
  if (stream.host !== pub.host || !stream.pathname.startsWith(`${prefix}/`)) {
    throw new SimulatedCallError(
      `the <Stream> url ${stream.origin}${stream.pathname} is not under PUBLIC_BASE_URL ${publicBaseUrl}`,
    );
  }
  const rest = stream.pathname.slice(prefix.length) + stream.search;
  return `${local.protocol === 'https:' ? 'wss:' : 'ws:'}//${local.host}${local.pathname.replace(/\/+$/, '')}${rest}`;
}

// ---- the call -------------------------------------------------------------------------------------------------

/** Places a simulated call; it runs in the background. Throws SimulatedCallError for invalid options or script. */
export function placeSimulatedCall(opts: SimulatedCallOptions): SimulatedCall {
  const script = callerScriptSchema.safeParse(opts.script ?? []);
  if (!script.success) {
    const issue = script.error.issues[0];
    throw new SimulatedCallError(
      `invalid caller script at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const callerClips = opts.callerClips ?? opts.clips;
  for (const step of script.data) {
    if (step.say !== undefined && !callerClips.has(step.say)) {
      throw new SimulatedCallError(`caller script says "${step.say}", which is not a clip of set "${callerClips.id}"`);
    }
  }
  const callSid = opts.callSid ?? `CA${hex32()}`;
  const streamSid = `MZ${hex32()}`;
  const from = opts.from ?? '+15005550006';
  const to = opts.to ?? '+15005550001';
  const publicBase = opts.publicBaseUrl.replace(/\/+$/, '');
  const localBase = opts.localBaseUrl.replace(/\/+$/, '');
  const voicePath = opts.voicePath ?? '/twilio/voice';
  const statusPath = opts.statusCallbackPath === undefined ? '/twilio/call-status' : opts.statusCallbackPath;
  const maxDurationMs = opts.maxDurationMs ?? 10 * 60_000;

  const state: SimulatedCallSnapshot = { callSid, status: 'ringing', heard: [], pressed: [], warnings: [] };
  const waiters = new Set<() => void>();
  const changed = () => {
    state.wroteDown = wroteDownFrom(state.heard);
    for (const w of [...waiters]) w();
  };
  const snapshot = (): SimulatedCallSnapshot => ({
    ...state,
    heard: [...state.heard],
    pressed: [...state.pressed],
    warnings: [...state.warnings],
  });
  const warn = (w: string) => {
    if (!state.warnings.includes(w)) state.warnings.push(w);
  };

  let ws: WebSocket | undefined;
  let redirect: string | undefined;
  const frames = inboundFrames({ streamSid, accountSid: opts.accountSid, callSid });
  let timer: NodeJS.Timeout | undefined;
  let streamStartedAt = 0;
  let ticks = 0;
  let ended = false;
  let resolveEnded!: (s: SimulatedCallSnapshot) => void;
  const endedPromise = new Promise<SimulatedCallSnapshot>((r) => (resolveEnded = r));
  const speaking: Buffer[] = [];

  const send = (msg: TwilioFrameInput): void => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  };

  // Steps: `armedAt` is when the current step was armed, `heardAt` when its `after` clip was heard.
  let stepIndex = 0;
  let armedAt = 0;
  let heardAt: number | undefined;
  const steps = script.data;
  const runSteps = (now: number, heardClip?: string): void => {
    for (;;) {
      const step = steps[stepIndex];
      if (!step || ended) return;
      if (step.after !== undefined && heardAt === undefined) {
        if (heardClip !== step.after) return;
        heardAt = now;
        heardClip = undefined; // one hearing fires one step
      }
      const since = step.after !== undefined ? (heardAt as number) : armedAt;
      if (now - since < (step.afterMs ?? 0)) return;
      stepIndex++;
      armedAt = now;
      heardAt = undefined;
      if (step.press !== undefined) api.press(step.press);
      else if (step.say !== undefined) api.say(step.say);
      else void api.hangup();
    }
  };

  const recognizer = createClipRecognizer(opts.clips, {
    onClip: (name) => {
      state.heard.push(name);
      changed();
      runSteps(performance.now(), name);
    },
  });
  const playback = new PlaybackQueue({
    played: (frame) => recognizer.write(frame),
    mark: (name) => send(frames.mark(name)),
  });

  const tick = (): void => {
    playback.tick();
    send(frames.media(speaking.shift() ?? SILENT_FRAME));
  };

  // Deadline clock: frame n is due at streamStartedAt + n × 20 ms; late timers catch up instead of drifting.
  const schedule = (): void => {
    if (ended) return;
    const now = performance.now();
    let due = Math.floor((now - streamStartedAt) / FRAME_MS) - ticks;
    if (due > MAX_CATCH_UP_FRAMES) {
      ticks += due - 1; // a stalled loop: skip ahead instead of sending a burst
      due = 1;
    }
    for (let i = 0; i < due && !ended; i++) {
      ticks++;
      tick();
    }
    if (!ended && now - streamStartedAt >= maxDurationMs) {
      void api.hangup();
      return;
    }
    runSteps(now);
    if (ended) return;
    const next = streamStartedAt + (ticks + 1) * FRAME_MS;
    timer = setTimeout(schedule, Math.max(0, next - performance.now()));
  };

  /**
   * A webhook as Twilio sends it: a form POST of the call's parameters, signed over `signedUrl` (the URL as Twilio
   * knows it), sent to `target` (where it really listens).
   */
  const postWebhook = (signedUrl: string, target: string, extra: Record<string, string>) => {
    const params: Record<string, string> = {
      AccountSid: opts.accountSid,
      ApiVersion: API_VERSION,
      CallSid: callSid,
      Direction: 'inbound',
      From: from,
      To: to,
      ...extra,
    };
    return request(target, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': expectedTwilioSignature(opts.authToken, signedUrl, params),
      },
      body: new URLSearchParams(params).toString(),
    });
  };

  const postStatus = async (): Promise<void> => {
    if (statusPath === null) return;
    try {
      const res = await postWebhook(publicBase + statusPath, localBase + statusPath, {
        CallStatus: state.status === 'failed' ? 'failed' : 'completed',
        CallDuration: String(streamStartedAt ? Math.round((performance.now() - streamStartedAt) / 1000) : 0),
      });
      await res.body.dump();
      if (res.statusCode >= 300) warn(`call-status webhook answered ${res.statusCode}`);
    } catch {
      warn('call-status webhook unreachable');
    }
  };

  const finish = (status: 'completed' | 'failed', failure?: string): void => {
    if (ended) return;
    ended = true;
    if (timer) clearTimeout(timer);
    state.status = status;
    if (failure) state.failure = failure;
    changed();
    void postStatus().finally(() => resolveEnded(snapshot()));
  };

  const onServerMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (isBinary) {
      warn('31950 binary frame (Twilio wants text JSON frames)');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      warn('31951 message is not JSON');
      return;
    }
    const parsed = outboundSchema.safeParse(json);
    if (!parsed.success) {
      warn('31951 unknown event or invalid message');
      return;
    }
    const msg = parsed.data;
    if (msg.streamSid !== streamSid) {
      warn('31951 wrong streamSid');
      return;
    }
    if (msg.event === 'media') {
      if (!BASE64.test(msg.media.payload)) {
        warn('31951 media payload is not base64');
        return;
      }
      const audio = Buffer.from(msg.media.payload, 'base64');
      if (playback.bufferedBytes + audio.length > MAX_BUFFERED_BYTES) {
        warn('31931 more than 10 minutes of audio buffered; media discarded');
        return;
      }
      playback.enqueueAudio(audio);
    } else if (msg.event === 'mark') {
      playback.enqueueMark(msg.mark.name);
    } else {
      playback.clear();
      recognizer.reset();
    }
  };

  const connectStream = (wssUrl: string, parameters: Record<string, string>): void => {
    const target = localStreamUrl(wssUrl, publicBase, localBase);
    const socket = new WebSocket(target, {
      headers: { 'X-Twilio-Signature': expectedTwilioSignature(opts.authToken, wssUrl, {}) },
    });
    ws = socket;
    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      // Twilio error 31920: the handshake got something other than 101 (a refused signature is a 403).
      finish('failed', `stream upgrade refused with HTTP ${res.statusCode} (Twilio error 31920)`);
      socket.terminate();
    });
    socket.on('error', (err) => {
      if (state.status === 'ringing') finish('failed', `stream connection failed: ${err.message} (Twilio error 31902)`);
    });
    socket.on('open', () => {
      if (ended) {
        socket.close(1000);
        return;
      }
      state.status = 'in-progress';
      changed();
      send(frames.connected());
      send(frames.start(parameters));
      streamStartedAt = performance.now();
      armedAt = streamStartedAt;
      timer = setTimeout(schedule, FRAME_MS);
    });
    socket.on('message', onServerMessage);
    socket.on('close', () => {
      if (state.status === 'ringing') finish('failed', 'stream closed before it opened');
      else if (redirect && !ended) void continueAt(redirect).finally(() => finish('completed'));
      else finish('completed');
    });
  };

  /**
   * Twilio goes on to the TwiML after </Connect> once the server closes the stream: docs/twilio.md ("TwiML and call
   * hand-over").
   */
  const continueAt = async (url: string): Promise<void> => {
    const where = returnUrlTarget(url, publicBase, localBase, opts.returnUrlBases);
    if ('refused' in where) {
      state.continuedAt = { url, refused: where.refused };
      changed();
      return;
    }
    state.continuedAt = { url };
    changed();
    try {
      // Signed over the URL as written, as Twilio signs what it requests; sent where the service really listens.
      const res = await postWebhook(url, where.target, { CallStatus: 'in-progress' });
      await res.body.dump();
      state.continuedAt = { url, status: res.statusCode };
      changed();
    } catch {
      warn('returnUrl unreachable (Twilio error 11200)');
    }
  };

  const start = async (): Promise<void> => {
    let twiml: string;
    try {
      const res = await postWebhook(publicBase + voicePath, localBase + voicePath, { CallStatus: 'in-progress' });
      twiml = await res.body.text();
      if (res.statusCode !== 200) {
        finish('failed', `voice webhook answered HTTP ${res.statusCode} (Twilio error 11200)`);
        return;
      }
    } catch (err) {
      finish('failed', `voice webhook unreachable: ${(err as Error).message}`);
      return;
    }
    if (ended) return;
    try {
      const stream = parseConnectStream(twiml);
      redirect = stream.redirect;
      connectStream(stream.url, stream.parameters);
    } catch (err) {
      finish('failed', (err as Error).message);
    }
  };

  const api: SimulatedCall = {
    callSid,
    snapshot,
    press(digit) {
      if (!DTMF_DIGIT.test(digit)) throw new SimulatedCallError('press one key: 0-9, * or #');
      if (state.status !== 'in-progress') return;
      state.pressed.push(digit);
      send(frames.dtmf(digit));
      changed();
    },
    say(clip) {
      if (!callerClips.has(clip)) throw new SimulatedCallError(`"${clip}" is not a clip of set "${callerClips.id}"`);
      speaking.push(...splitFrames(callerClips.get(clip).audio));
    },
    async hangup() {
      if (!ended && ws?.readyState === WebSocket.OPEN) {
        send(frames.stop());
        ws.close(1000);
      } else {
        ws?.terminate();
      }
      finish(state.status === 'failed' ? 'failed' : 'completed');
      return endedPromise;
    },
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(state)) {
            waiters.delete(check);
            clearTimeout(t);
            resolve(snapshot());
          } else if (ended && !predicate(state)) {
            waiters.delete(check);
            clearTimeout(t);
            reject(
              new SimulatedCallError(
                `call ended (${state.status}${state.failure ? `: ${state.failure}` : ''}) before the awaited state`,
              ),
            );
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new SimulatedCallError(`call did not reach the awaited state within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    ended: endedPromise,
  };

  void start();
  return api;
}
