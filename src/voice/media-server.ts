// The WebSocket endpoint Twilio's <Connect><Stream> opens (docs/twilio.md, "Webhook signatures" and "Media
// streams"). The upgrade is checked before ws accepts it: no query string, and an X-Twilio-Signature over the stream
// URL exactly as the TwiML names it, with no parameters. A failure gets `403` on the raw socket (Twilio reports
// 31920) and one log line without headers. Accepted sockets become MediaSessions.
//
// Every call gets its own stream URL, `…/twilio/media/<call token>` (call-token.ts: bound to the CallSid, short-lived).
// Twilio signs only the URL, so with one URL for every call a captured signature would open streams for ever; with
// the token in the path each signature is good for one call, and the server accepts each token once: a replayed
// upgrade gets 403 before any WebSocket exists. The same token comes again as the start's <Parameter>, where it is
// checked against the CallSid.
//
// The signed URL is always `wss://<host of PUBLIC_BASE_URL><its path><path>`, also in the sandbox where
// PUBLIC_BASE_URL is http://127.0.0.1:port: Twilio only ever opens wss:// streams and signs what the TwiML says,
// and the TwiML builder takes its URL from mediaStreamUrl() here, so the two cannot differ. A TLS proxy in front
// maps wss to the plain ws this process serves.
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Metrics, WebhookRejection } from '../metrics.js';
import { tracer } from '../tracing.js';
import { SpanKind } from '@opentelemetry/api';
import { WebSocketServer, type WebSocket } from 'ws';
import { checkTwilioUpgrade } from '../twilio/signature.js';
import type { TwilioWebhookKey } from '../twilio/webhook-keys.js';
import { CALL_TOKEN_PARAMETER, callTokenExpiry, verifyCallToken } from './call-token.js';
import { MediaSession, type StreamInfo } from './media-session.js';
import type { Clock } from './pacer.js';
import type { SpeechListenerFactory } from './types.js';

export { CALL_TOKEN_PARAMETER, callToken, verifyCallToken } from './call-token.js';

export const MEDIA_STREAM_PATH = '/twilio/media';
/** A call token as a path segment (call-token.ts format; checked in full later). */
const TOKEN_SEGMENT = /^v1\.[0-9a-z]{1,11}\.[A-Za-z0-9_-]{22}$/;
/** Twilio's frames are small (a 20 ms media frame is ~300 bytes of JSON); ws's default is 100 MiB. */
export const MEDIA_MAX_PAYLOAD = 64 * 1024;

export interface MediaStreamServerOptions {
  publicBaseUrl: string;
  path?: string;
  authToken: string;
  /** TWILIO_WEBHOOK_KEYS: SharedKeys an upgrade may be signed with instead of the auth token. */
  sharedKeys?: readonly TwilioWebhookKey[];
  /** HMAC key of the per-call tokens (at least 16 bytes). */
  callTokenKey: Buffer;
  log: Logger;
  speech?: SpeechListenerFactory;
  /** Called once a session's start has been authorised (session.info is set). */
  onSession?(session: MediaSession): void;
  maxPayload?: number;
  /** A socket that has not sent an authorised start by then is closed (default 10 s; Twilio sends it at once). */
  startTimeoutMs?: number;
  /** Pacing clock for the sessions (tests); wall time for token expiry comes from `now`. */
  clock?: Clock;
  now?: () => number;
  framesPerMessage?: number;
  leadMs?: number;
  /** Calls active, pacing (lateness, underruns) and refused upgrades (src/metrics.ts). */
  metrics?: Metrics;
}

export interface MediaStreamServer {
  /** The base wss:// URL; a call's <Stream url> is streamUrl(token) under it. */
  readonly url: string;
  /** The wss:// URL for one call's stream (what the TwiML names and Twilio signs). */
  streamUrl(token: string): string;
  attach(server: Server): void;
  /** Live, authorised sessions by CallSid. */
  sessions(): Map<string, MediaSession>;
  /** Ends every stream (close 1001) and detaches; resolves when the sockets are closed. */
  close(): Promise<void>;
}

/** `wss://host[:port][base path]/twilio/media` from PUBLIC_BASE_URL, whatever its scheme. */
export function mediaStreamUrl(publicBaseUrl: string, path: string = MEDIA_STREAM_PATH): string {
  const base = new URL(publicBaseUrl);
  return `wss://${base.host}${base.pathname.replace(/\/+$/, '')}${path}`;
}

export function createMediaStreamServer(opts: MediaStreamServerOptions): MediaStreamServer {
  if (opts.callTokenKey.length < 16) throw new RangeError('callTokenKey must be at least 16 bytes');
  const path = opts.path ?? MEDIA_STREAM_PATH;
  const url = mediaStreamUrl(opts.publicBaseUrl, path);
  const signing = { authToken: opts.authToken, sharedKeys: opts.sharedKeys };
  const streamUrl = (token: string) => `${url}/${token}`;
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ component: 'media-stream' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? MEDIA_MAX_PAYLOAD });
  const live = new Map<string, MediaSession>();
  const sockets = new Set<WebSocket>();
  /** Tokens already used, until they expire: a token opens one stream. */
  const usedTokens = new Map<string, number>();
  const attached: { server: Server; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }[] = [];

  /** The start of a stream opened with `pathToken`: the same token, made for this CallSid, and no other live stream. */
  const authorize =
    (pathToken: string) =>
    (info: StreamInfo): boolean => {
      const token = info.customParameters[CALL_TOKEN_PARAMETER];
      if (token !== pathToken || live.has(info.callSid)) return false;
      return verifyCallToken(opts.callTokenKey, info.callSid, token, { now: now() });
    };

  /** Takes a token for one upgrade: false if malformed, expired or already used. */
  const takeToken = (token: string): boolean => {
    const t = now();
    for (const [used, exp] of usedTokens) if (exp <= t) usedTokens.delete(used);
    const exp = callTokenExpiry(token);
    if (exp === undefined || exp <= t || usedTokens.has(token)) return false;
    usedTokens.set(token, exp);
    return true;
  };

  const onConnection = (pathToken: string) => (ws: WebSocket) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    // e.g. a frame over maxPayload: ws closes the socket (1009) and the session ends as a hang-up
    ws.on('error', (err: Error & { code?: string }) => log.warn({ code: err.code ?? err.name }, 'media socket error'));
    const session = new MediaSession({
      socket: ws,
      log,
      authorizeStart: authorize(pathToken),
      speech: opts.speech,
      clock: opts.clock,
      framesPerMessage: opts.framesPerMessage,
      leadMs: opts.leadMs,
      onPacing: opts.metrics && pacingMetrics(opts.metrics),
    });
    const startTimer = setTimeout(() => {
      if (session.started || session.ended) return;
      log.warn({ reason: 'no start frame in time' }, 'media stream closed');
      ws.close(1008);
    }, opts.startTimeoutMs ?? 10_000);
    startTimer.unref();
    session.once('stop', () => clearTimeout(startTimer));
    session.once('start', (info) => {
      clearTimeout(startTimer);
      live.set(info.callSid, session);
      opts.metrics?.voiceCallsActive.inc();
      // The stream as a trace of its own: the hand-offs' readings on this call link to it (src/voice/calls.ts).
      const span = tracer().startSpan('twilio.media_stream', {
        kind: SpanKind.SERVER,
        attributes: { 'twilio.call_sid': info.callSid, 'twilio.stream_sid': info.streamSid },
      });
      session.spanContext = span.isRecording() ? span.spanContext() : undefined;
      session.once('stop', (reason) => {
        if (live.get(info.callSid) === session) live.delete(info.callSid);
        opts.metrics?.voiceCallsActive.dec();
        span.setAttribute('twilio.stream_end', reason);
        span.end();
      });
      opts.onSession?.(session);
    });
  };

  /** Why an upgrade to the stream of `token` is refused (with the SharedKey id it named, if any), or undefined. */
  const refusal = (
    hasQuery: boolean,
    token: string,
    headers: IncomingHttpHeaders,
  ): { reason: string; kind: WebhookRejection; keyId?: string } | undefined => {
    // A query string is refused outright: Twilio does not document whether it signs one on a stream URL as part of
    // the URL (docs/twilio.md, "Media streams").
    if (hasQuery) return { reason: 'query string on the stream URL', kind: 'malformed' };
    if (!TOKEN_SEGMENT.test(token)) return { reason: 'no call token in the stream URL', kind: 'malformed' };
    const check = checkTwilioUpgrade(signing, streamUrl(token), headers);
    if (!check.ok) return { reason: check.reason, kind: 'forged', keyId: check.keyId };
    if (!takeToken(token))
      return { reason: 'call token expired or already used (a replayed upgrade)', kind: 'replayed' };
    return undefined;
  };

  const onUpgrade = (server: Server) => (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const pathname = q === -1 ? raw : raw.slice(0, q);
    if (pathname !== path && !pathname.startsWith(`${path}/`)) {
      // Not ours. If something else listens for upgrades, it is theirs to answer; else nobody will.
      if (server.listenerCount('upgrade') <= 1) refuse(socket, 404, 'Not Found');
      return;
    }
    const token = pathname.slice(path.length + 1);
    const rejection = refusal(q !== -1, token, req.headers);
    if (rejection) {
      // The reason, and the SharedKey id the upgrade named if any: never the signature or another header value.
      opts.metrics?.webhookRejected.labels('media_stream', rejection.kind).inc();
      log.warn({ path, reason: rejection.reason, keyId: rejection.keyId }, 'media stream upgrade rejected');
      refuse(socket, 403, 'Forbidden');
      return;
    }
    wss.handleUpgrade(req, socket, head, onConnection(token));
  };

  return {
    url,
    streamUrl,
    attach(server) {
      const listener = onUpgrade(server);
      server.on('upgrade', listener);
      attached.push({ server, listener });
    },
    sessions: () => new Map(live),
    async close() {
      for (const { server, listener } of attached.splice(0)) server.off('upgrade', listener);
      const closing = [...sockets].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const timer = setTimeout(() => ws.terminate(), 2000);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(1001);
          }),
      );
      await Promise.all(closing);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Answers the upgrade with a plain HTTP status and closes (the ws README's "Client authentication" pattern). */
function refuse(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined); // the peer may be gone already; nothing to report
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Each outbound media message, as it leaves, into the voice metrics (so an alert sees a bad call while it lasts). */
function pacingMetrics(m: Metrics) {
  return (latenessMs: number, underrun: boolean) => {
    m.voiceFrameLateness.observe(latenessMs / 1000);
    if (underrun) m.voiceUnderruns.inc();
  };
}
