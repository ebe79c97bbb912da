// Live speech-to-text for one call through @deepgram/sdk v5 (`client.listen.v1.connect`; docs/deepgram.md,
// "Live transcription"):
// caller audio in, CallerIntents out. Transcripts are never logged, and the SDK's own logger stays silent, so the
// only lines written are events (connected, reconnecting n, unavailable, closed code) and intent names.
//
// Reconnects are ours, not the SDK's: its ReconnectingWebSocket retries 30 times by default after a randomised
// 1–5 s delay and has no "gave up" event (core/websocket/ws.mjs), so each attempt is a fresh socket with
// `reconnectAttempts: 0` and a terminal `shouldReconnect`; we count failures, back off, and report
// `onUnavailable` exactly once. DTMF keeps working whatever happens here.
import { DeepgramClient } from '@deepgram/sdk';
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { CallerIntent, SpeechListener, SpeechListenerFactory, SpeechListenerOptions } from '../voice/types.js';
import { intentOf } from './intent.js';

export interface DeepgramListenerConfig {
  apiKey: string;
  /** Deepgram's origin, e.g. a local fake's `http://127.0.0.1:PORT`; default Deepgram's production hosts. */
  baseUrl?: string;
  log: Logger;
  /** Default nova-3. */
  model?: string;
  /** KeepAlive cadence while connected; Deepgram closes after ~10 s with neither audio nor a message. Default 5 000. */
  keepAliveMs?: number;
  /** Reconnects after a lost or failed connection before giving up (onUnavailable). Default 3. */
  reconnectAttempts?: number;
  /** Per connection attempt. Default 5 000. */
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles per attempt up to 4 s, plus up to the same again of jitter. Default 250. */
  reconnectDelayMs?: number;
  /** How long close() waits for Deepgram's answer to CloseStream before closing anyway. Default 2 000. */
  closeTimeoutMs?: number;
}

type ListenSocket = Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>;

/** Handshake answers that a retry cannot fix (bad key, bad parameters); 408/429/5xx are worth retrying. */
const TERMINAL_HANDSHAKE = /Unexpected server response: (400|401|402|403|404)\b/;
/** A connection open this long has proved itself; later failures start counting from zero again. */
const STABLE_AFTER_MS = 5_000;
/** Finalised segments kept per utterance, so a phrase split across segments ("slow" | "down") still matches. */
const MAX_SEGMENTS = 4;
const MAX_RECONNECT_DELAY_MS = 4_000;

// The parts of Deepgram's listen messages we read (docs/deepgram.md, "Live transcription"); the rest is ignored.
const resultsMessage = z.object({
  type: z.literal('Results'),
  is_final: z.boolean().optional(),
  speech_final: z.boolean().optional(),
  channel: z.object({ alternatives: z.array(z.object({ transcript: z.string() })) }),
});
const typedMessage = z.object({ type: z.string() });

const configSchema = z.object({
  apiKey: z.string().min(1, 'DEEPGRAM_API_KEY is empty'),
  baseUrl: z.url({ protocol: /^(https?|wss?)$/ }).optional(),
  model: z.string().min(1).default('nova-3'),
  keepAliveMs: z.number().int().positive().default(5_000),
  reconnectAttempts: z.number().int().min(0).default(3),
  connectTimeoutMs: z.number().int().positive().default(5_000),
  reconnectDelayMs: z.number().int().min(0).default(250),
  closeTimeoutMs: z.number().int().positive().default(2_000),
});
type Settings = z.infer<typeof configSchema>;

/** The listener's configuration cannot be used (empty key, base URL that is not http(s)/ws(s), bad numbers). */
export class DeepgramConfigError extends Error {
  readonly code = 'DEEPGRAM_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'DeepgramConfigError';
  }
}

export function createDeepgramListenerFactory(opts: DeepgramListenerConfig): SpeechListenerFactory {
  const { log, ...rest } = opts;
  const parsed = configSchema.safeParse(rest);
  if (!parsed.success) {
    // Names the field only; the values (the API key among them) never go into the message.
    const issue = parsed.error.issues[0];
    throw new DeepgramConfigError(
      `Deepgram listener: ${issue?.path.join('.') || 'options'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const settings = parsed.data;
  // `logging.silent`: the SDK's logger must never print request or message payloads.
  const client = new DeepgramClient({
    apiKey: settings.apiKey,
    ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
    logging: { silent: true },
  });
  return (callSid, listenerOpts) => {
    const session = new ListenSession(client, settings, log.child({ callSid, component: 'deepgram' }), listenerOpts);
    session.start();
    return session;
  };
}

type State = 'connecting' | 'open' | 'waiting' | 'closing' | 'closed' | 'unavailable';

class ListenSession implements SpeechListener {
  private state: State = 'connecting';
  private socket: ListenSocket | undefined;
  /** Bumped whenever a socket is abandoned, so its late events are ignored. */
  private generation = 0;
  /** Consecutive failed or lost connections. */
  private failures = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  private stable: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private droppedFrames = 0;
  private closing: Promise<void> | undefined;
  private onServerClose: ((code: number) => void) | undefined;
  private segments: string[] = [];
  private fired = new Set<CallerIntent>();

  constructor(
    private readonly client: DeepgramClient,
    private readonly settings: Settings,
    private readonly log: Logger,
    private readonly listener: SpeechListenerOptions,
  ) {}

  start(): void {
    void this.connect();
  }

  send(audio: Buffer): void {
    // Zero bytes would be Deepgram's deprecated "close stream" signal, not audio.
    if (audio.length === 0) return;
    // While connecting or reconnecting, audio is dropped rather than queued: a queue would grow without bound
    // during an outage and then replay stale speech.
    if (this.state !== 'open' || !this.socket) {
      this.droppedFrames++;
      return;
    }
    try {
      this.socket.sendMedia(audio);
    } catch {
      this.droppedFrames++;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.state = 'connecting';
    let socket: ListenSocket;
    try {
      socket = await this.client.listen.v1.connect({
        model: this.settings.model,
        encoding: 'mulaw',
        sample_rate: 8000,
        channels: 1,
        interim_results: 'true',
        endpointing: 300,
        utterance_end_ms: 1000,
        smart_format: 'true',
        // Keep callers' audio out of Deepgram's Model Improvement Program: opted-out requests are not retained
        // (https://developers.deepgram.com/trust-security/your-data).
        mip_opt_out: 'true',
        // Nova-3 keyterm prompting for the few words we act on (fixed vocabulary, never anything of the caller's).
        ...(this.settings.model.startsWith('nova-3') ? { keyterm: ['repeat', 'slower', 'got it'] } : {}),
        reconnectAttempts: 0,
        shouldReconnect: () => false,
        connectionTimeoutInSeconds: this.settings.connectTimeoutMs / 1000,
      });
    } catch (err) {
      this.lost(gen, `connect failed: ${errorText(err)}`);
      return;
    }
    if (gen !== this.generation) return; // closed while the SDK was preparing the socket; it never connected
    this.socket = socket;
    // A failed handshake reaches us as close (code 1000, synthesised by the SDK) and then error (with the HTTP
    // status), in the same tick; collect both and decide once.
    let reasons: string[] | undefined;
    const report = (reason: string) => {
      if (reasons) return void reasons.push(reason);
      reasons = [reason];
      queueMicrotask(() => this.lost(gen, reasons!.find((r) => r.startsWith('error:')) ?? reasons![0]!));
    };
    socket.on('open', () => this.opened(gen));
    socket.on('message', (msg) => this.message(gen, msg));
    socket.on('close', (ev) => {
      if (gen === this.generation && this.state === 'closing') this.onServerClose?.(ev.code);
      else report(`closed ${ev.code}${ev.reason ? ` ${ev.reason.slice(0, 120)}` : ''}`);
    });
    socket.on('error', (err) => report(`error: ${errorText(err)}`));
    socket.connect();
  }

  private opened(gen: number): void {
    if (gen !== this.generation || this.state !== 'connecting') return;
    this.state = 'open';
    this.log.info(
      { event: 'deepgram.connected', reconnects: this.failures, droppedFrames: this.droppedFrames },
      'deepgram connected',
    );
    this.droppedFrames = 0;
    this.keepAlive = setInterval(() => {
      try {
        this.socket?.sendKeepAlive({ type: 'KeepAlive' });
      } catch {
        // not open any more: the close handler deals with it
      }
    }, this.settings.keepAliveMs);
    this.keepAlive.unref();
    this.stable = setTimeout(() => {
      this.failures = 0;
    }, STABLE_AFTER_MS);
    this.stable.unref();
  }

  private lost(gen: number, reason: string): void {
    if (gen !== this.generation || this.state === 'closing' || this.state === 'closed') return;
    this.abandonSocket();
    this.resetUtterance();
    this.failures++;
    if (TERMINAL_HANDSHAKE.test(reason) || this.failures > this.settings.reconnectAttempts) {
      this.state = 'unavailable';
      this.log.warn(
        { event: 'deepgram.unavailable', failures: this.failures, reason },
        'deepgram unavailable; DTMF only',
      );
      try {
        this.listener.onUnavailable?.(reason);
      } catch (err) {
        this.log.error({ event: 'deepgram.callback_failed', err: errorName(err) }, 'onUnavailable threw');
      }
      return;
    }
    this.state = 'waiting';
    const base = Math.min(this.settings.reconnectDelayMs * 2 ** (this.failures - 1), MAX_RECONNECT_DELAY_MS);
    const delay = base + Math.random() * base;
    this.log.warn(
      {
        event: 'deepgram.reconnecting',
        attempt: this.failures,
        of: this.settings.reconnectAttempts,
        reason,
        delayMs: Math.round(delay),
      },
      'deepgram reconnecting',
    );
    this.retry = setTimeout(() => void this.connect(), delay);
  }

  private message(gen: number, msg: unknown): void {
    if (gen !== this.generation || this.state !== 'open') return;
    const typed = typedMessage.safeParse(msg);
    if (!typed.success) return;
    if (typed.data.type === 'UtteranceEnd') return this.resetUtterance();
    if (typed.data.type !== 'Results') return;
    const results = resultsMessage.safeParse(msg);
    if (!results.success) {
      this.log.warn({ event: 'deepgram.unreadable_results' }, 'deepgram Results message not understood'); // no content
      return;
    }
    const { is_final: isFinal, speech_final: speechFinal, channel } = results.data;
    const transcript = channel.alternatives[0]?.transcript ?? '';
    if (transcript) {
      this.fire(intentOf([...this.segments, transcript].join(' ')));
      if (isFinal) this.segments = [...this.segments, transcript].slice(-MAX_SEGMENTS);
    }
    if (speechFinal) this.resetUtterance();
  }

  /** One intent fires once per utterance, however many interim and final results repeat it. */
  private fire(intent: CallerIntent | undefined): void {
    if (!intent || this.fired.has(intent)) return;
    this.fired.add(intent);
    this.log.info({ event: 'deepgram.intent', intent }, 'caller intent');
    try {
      this.listener.onIntent(intent);
    } catch (err) {
      this.log.error({ event: 'deepgram.callback_failed', err: errorName(err) }, 'onIntent threw');
    }
  }

  private resetUtterance(): void {
    this.segments = [];
    this.fired.clear();
  }

  private abandonSocket(): void {
    this.generation++;
    clearInterval(this.keepAlive);
    clearTimeout(this.stable);
    clearTimeout(this.retry);
    const socket = this.socket;
    this.socket = undefined;
    try {
      socket?.close();
    } catch {
      // already closed
    }
  }

  private async shutdown(): Promise<void> {
    const wasOpen = this.state === 'open';
    this.state = 'closing';
    clearInterval(this.keepAlive);
    clearTimeout(this.retry);
    let code: number | undefined;
    if (wasOpen && this.socket) {
      // CloseStream asks Deepgram to flush, send its Metadata and close 1000; close() alone would not
      // (docs/deepgram.md, "Live transcription").
      const answered = new Promise<number>((resolve) => {
        this.onServerClose = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.settings.closeTimeoutMs);
      });
      try {
        this.socket.sendCloseStream({ type: 'CloseStream' });
        code = await Promise.race([answered, timeout]);
      } catch {
        // the socket went away between the check and the send
      }
      clearTimeout(timer);
    }
    this.abandonSocket();
    this.state = 'closed';
    this.log.info(
      { event: 'deepgram.closed', code: code ?? null, droppedFrames: this.droppedFrames },
      'deepgram closed',
    );
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** Error text from the SDK or ws: connection-level messages (status codes, ECONNREFUSED), never payloads. */
function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.slice(0, 200);
}
