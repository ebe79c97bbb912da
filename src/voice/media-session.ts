// One Twilio Media Stream (one WebSocket, one call): parses every frame, enforces the order Twilio sends them in
// (connected, start, then media/mark/dtmf, then stop), feeds the caller's audio to speech recognition (except while
// we play or a reading suspends it), turns key presses and recognised words into caller intents, and owns the
// outbound pacer (docs/twilio.md, "Media streams").
//
// A bad frame never drops the call: it is counted, and the first of each kind is logged with its reason only
// (never its payload, which is the caller's audio). Per-call state lives here, never in module globals.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { parseTwilioFrame, type StartFrame, type TwilioFrame } from './frames.js';
import type { SpanContext } from '@opentelemetry/api';
import {
  OutboundPacer,
  type Clock,
  type PacerOptions,
  type PacerStats,
  type PlayHooks,
  type PlayOutcome,
} from './pacer.js';
import type { CallerIntent, Segment, SpeechListener, SpeechListenerFactory } from './types.js';

/** The part of a `ws` WebSocket the session uses, so tests can drive it with a fake. Text frames only. */
export interface MediaSocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[] | string, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export interface StreamInfo {
  callSid: string;
  streamSid: string;
  accountSid: string;
  tracks: string[];
  /** The <Parameter>s of the <Stream>: non-secret ids only (Twilio logs them). */
  customParameters: Record<string, string>;
}

export type IntentSource = 'dtmf' | 'speech';

/** stop: Twilio's stop frame; socket_closed: the socket went without one; rejected: start failed authorisation; ended: we ended it. */
export type StreamEndReason = 'stop' | 'socket_closed' | 'rejected' | 'ended';

export interface MediaSessionEvents {
  start: [info: StreamInfo];
  dtmf: [digit: string];
  intent: [intent: CallerIntent, source: IntentSource];
  stop: [reason: StreamEndReason];
}

/**
 * Keys the caller may press ("press 1 to hear it again, or 2 if you have it"). 3 for slower sits next to them on the
 * keypad; 0 is left alone because callers expect it to mean "an operator" (docs/decisions.md, "Keys 1, 2, 3, not 0").
 */
export const DTMF_INTENTS: Readonly<Record<string, CallerIntent>> = { '1': 'repeat', '2': 'got_it', '3': 'slower' };

export interface MediaSessionOptions {
  socket: MediaSocket;
  log: Logger;
  /** Checks a start before the session accepts it (the per-call token); false closes the stream. */
  authorizeStart?: (info: StreamInfo) => boolean;
  speech?: SpeechListenerFactory;
  clock?: Clock;
  framesPerMessage?: number;
  leadMs?: number;
  /** Each outbound media message's lateness and underrun, as it leaves (the voice metrics). */
  onPacing?: PacerOptions['onMessage'];
}

export interface MediaSessionStats {
  /** Accepted frames by event. */
  frames: Record<string, number>;
  rejected: number;
  ignored: number;
  /**
   * Rejected or ignored frames by reason, for the first MAX_REASONS.rejected / MAX_REASONS.ignored distinct reasons;
   * later new reasons are counted under OVERFLOW_REASON.
   */
  reasons: Record<string, number>;
  pacer?: PacerStats;
}

/**
 * Distinct reasons counted by name per session. A signed stream can send any number of event names (each an
 * ignored "unknown event <name>") or bad fields at any array index, and per-name counters would grow without bound,
 * each with its own first-time log line. Unknown events get the smaller share, so a flood of made-up names leaves
 * room to name real faults.
 */
export const MAX_REASONS = { rejected: 32, ignored: 8 } as const;
/** Where a reason beyond MAX_REASONS is counted (and logged once). */
export const OVERFLOW_REASON = { rejected: 'other rejected frames', ignored: 'other unknown events' } as const;

export class MediaSessionError extends Error {
  constructor(
    readonly code: 'MEDIA_NOT_STARTED',
    message: string,
  ) {
    super(message);
    this.name = 'MediaSessionError';
  }
}

/** WebSocket close code 1008 "policy violation": the start did not carry a valid call token. */
const CLOSE_POLICY = 1008;

export class MediaSession extends EventEmitter<MediaSessionEvents> {
  /** The span of this stream (src/voice/media-server.ts), for the readings to link to; unset without tracing. */
  spanContext: SpanContext | undefined;
  private phase: 'connecting' | 'started' | 'ended' = 'connecting';
  private sawConnected = false;
  private stream: StreamInfo | undefined;
  private pacer: OutboundPacer | undefined;
  private listener: SpeechListener | undefined;
  private lastSeq = 0;
  private log: Logger;
  private readonly counts = {
    frames: {} as Record<string, number>,
    rejected: 0,
    ignored: 0,
    reasons: new Map<string, number>(),
    /** Distinct reasons named so far, by kind (OVERFLOW_REASON not included). */
    named: { rejected: 0, ignored: 0 },
  };

  constructor(private readonly opts: MediaSessionOptions) {
    super();
    this.log = opts.log;
    opts.socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    opts.socket.on('close', () => this.finish('socket_closed'));
  }

  /** Set once start has been accepted. */
  get info(): StreamInfo | undefined {
    return this.stream;
  }

  get started(): boolean {
    return this.stream !== undefined;
  }

  get ended(): boolean {
    return this.phase === 'ended';
  }

  /**
   * Plays segments and resolves when Twilio echoes the mark after them: 'played' (no clear since), 'cleared', or
   * 'closed' (the stream ended first). Throws MediaSessionError before start (there is no streamSid to send to).
   */
  play(segments: readonly Segment[], label: string, hooks?: PlayHooks): Promise<PlayOutcome> {
    if (this.phase === 'ended') return Promise.resolve('closed');
    if (!this.pacer)
      throw new MediaSessionError('MEDIA_NOT_STARTED', 'the media stream has not started: wait for its start event');
    this.playing += 1;
    return this.pacer.play(segments, label, hooks).finally(() => {
      this.playing -= 1;
    });
  }

  /** Plays in flight (queued, sending or awaiting their mark). */
  private playing = 0;
  /** Open suspendSpeech() spans (a passphrase reading and its repeat window). */
  private speechSuspended = 0;

  /**
   * Stops the caller's audio from reaching speech recognition, and speech intents from being emitted, until the
   * returned function is called (idempotent; spans may overlap). The reader holds it from before a reading's first
   * frame until its repeat window closes: callers read the passphrase back aloud, and that must not reach Deepgram
   * (docs/voice.md, "Passphrase audio"). Key presses are unaffected. The listener stays connected meanwhile: it sends
   * KeepAlive on its own (docs/deepgram.md, "Live transcription").
   */
  suspendSpeech(): () => void {
    this.speechSuspended += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.speechSuspended -= 1;
    };
  }

  /**
   * Whether caller audio may go to speech recognition now: not while we play (speech cannot interrupt anyway, and a
   * caller says the digits aloud as they write them down), not while a reading holds suspendSpeech().
   */
  private get hearsCaller(): boolean {
    return this.playing === 0 && this.speechSuspended === 0;
  }

  /** Cuts whatever is playing or queued (Twilio `clear`); plays in flight resolve 'cleared'. */
  clear(): void {
    this.pacer?.clear();
  }

  /**
   * Ends the stream from our side by closing the WebSocket. Twilio then goes on with the TwiML after
   * `</Connect>` (docs/twilio.md, "TwiML and call hand-over"), e.g. back to the agent that handed the call over.
   */
  end(): void {
    if (this.phase === 'ended') return;
    this.finish('ended');
    this.closeSocket(1000);
  }

  /** Send lateness of every outbound media message (ms), for a bench aggregating many calls. */
  latenessSamples(): readonly number[] {
    return this.pacer?.latenessSamples() ?? [];
  }

  stats(): MediaSessionStats {
    return {
      frames: { ...this.counts.frames },
      rejected: this.counts.rejected,
      ignored: this.counts.ignored,
      reasons: Object.fromEntries(this.counts.reasons),
      pacer: this.pacer?.stats(),
    };
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[] | string, isBinary: boolean): void {
    try {
      const text =
        typeof data === 'string'
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.isBuffer(data)
              ? data
              : Buffer.from(data);
      const parsed = parseTwilioFrame(text, isBinary);
      if (!parsed.ok) {
        this.count(parsed.ignored ? 'ignored' : 'rejected', parsed.reason);
        return;
      }
      this.handle(parsed.frame);
    } catch (err) {
      // A listener of ours threw: report its kind only, and keep the call.
      this.count('rejected', 'handler error');
      this.log.error({ errName: err instanceof Error ? err.name : typeof err }, 'media frame handler failed');
    }
  }

  private handle(frame: TwilioFrame): void {
    if (this.phase === 'ended') return this.count('rejected', `${frame.event} after the stream ended`);
    if (frame.event === 'connected') {
      if (this.sawConnected || this.phase !== 'connecting') return this.count('rejected', 'connected out of order');
      this.sawConnected = true;
      return this.accept('connected');
    }
    if (frame.event === 'start') {
      if (this.phase !== 'connecting') return this.count('rejected', 'second start');
      return this.onStart(frame);
    }
    if (this.phase === 'connecting' || !this.stream) return this.count('rejected', `${frame.event} before start`);
    if (frame.streamSid !== this.stream.streamSid) return this.count('rejected', 'wrong streamSid');
    const seq = Number(frame.sequenceNumber);
    if (seq <= this.lastSeq) return this.count('rejected', 'sequenceNumber did not advance');
    this.lastSeq = seq;

    switch (frame.event) {
      case 'media':
        this.accept('media');
        // A bidirectional stream carries the caller's (inbound) track; our own audio is never fed back to STT. This
        // is the one place caller audio leaves for speech recognition, and hearsCaller the one gate on it.
        if (frame.media.track === 'inbound' && this.listener && this.hearsCaller)
          this.feedSpeech(Buffer.from(frame.media.payload, 'base64'));
        return;
      case 'mark':
        if (!this.pacer?.onMark(frame.mark.name)) return this.count('rejected', 'mark we did not send');
        return this.accept('mark');
      case 'dtmf': {
        this.accept('dtmf');
        this.emit('dtmf', frame.dtmf.digit);
        const intent = DTMF_INTENTS[frame.dtmf.digit];
        if (intent) this.emit('intent', intent, 'dtmf');
        return;
      }
      case 'stop':
        if (frame.stop.callSid !== this.stream.callSid) return this.count('rejected', 'stop for another call');
        this.accept('stop');
        this.finish('stop');
        this.closeSocket(1000); // Twilio closes after stop anyway; don't hold the socket open waiting for it
        return;
    }
  }

  private onStart(frame: StartFrame): void {
    const s = frame.start;
    const info: StreamInfo = {
      callSid: s.callSid,
      streamSid: frame.streamSid,
      accountSid: s.accountSid,
      tracks: s.tracks,
      customParameters: s.customParameters,
    };
    if (s.streamSid !== frame.streamSid) return this.count('rejected', 'start names two streamSids');
    this.lastSeq = Number(frame.sequenceNumber);
    if (this.opts.authorizeStart && !this.opts.authorizeStart(info)) {
      this.log.warn(
        { callSid: info.callSid, streamSid: info.streamSid },
        'media stream start rejected: missing or invalid call token',
      );
      this.finish('rejected');
      this.closeSocket(CLOSE_POLICY);
      return;
    }
    this.phase = 'started';
    this.stream = info;
    this.log = this.log.child({ callSid: info.callSid, streamSid: info.streamSid });
    this.pacer = new OutboundPacer({
      streamSid: info.streamSid,
      send: (text) => this.opts.socket.send(text),
      clock: this.opts.clock,
      framesPerMessage: this.opts.framesPerMessage,
      leadMs: this.opts.leadMs,
      onMessage: this.opts.onPacing,
    });
    this.startSpeech(info.callSid);
    this.accept('start');
    this.log.info({ tracks: info.tracks, speech: Boolean(this.listener) }, 'media stream started');
    this.emit('start', info);
  }

  private startSpeech(callSid: string): void {
    if (!this.opts.speech) return;
    try {
      this.listener = this.opts.speech(callSid, {
        onIntent: (intent) => {
          // While suspended, a late result of audio sent before the span is not acted on either: DTMF only.
          if (this.phase === 'started' && this.speechSuspended === 0) this.emit('intent', intent, 'speech');
        },
        onUnavailable: (reason) => this.log.warn({ reason }, 'speech recognition unavailable; key presses still work'),
      });
    } catch (err) {
      this.log.warn(
        { errName: err instanceof Error ? err.name : typeof err },
        'speech recognition did not start; key presses still work',
      );
    }
  }

  private feedSpeech(audio: Buffer): void {
    try {
      this.listener?.send(audio);
    } catch (err) {
      this.count('rejected', 'speech listener refused audio');
      this.log.debug({ errName: err instanceof Error ? err.name : typeof err }, 'speech listener send failed');
    }
  }

  private finish(reason: StreamEndReason): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.pacer?.close();
    const listener = this.listener;
    this.listener = undefined;
    listener?.close().catch(() => undefined);
    if (reason !== 'rejected') {
      this.log.info(
        { reason, frames: this.counts.frames, rejected: this.counts.rejected, ignored: this.counts.ignored },
        'media stream ended',
      );
    }
    this.emit('stop', reason);
  }

  private closeSocket(code: number): void {
    try {
      this.opts.socket.close(code);
    } catch {
      // already closed
    }
  }

  private accept(event: string): void {
    this.counts.frames[event] = (this.counts.frames[event] ?? 0) + 1;
  }

  /**
   * Counts a rejected or ignored frame; logs the first of each reason (a bad sender repeats itself 50 times a
   * second). Distinct reasons are bounded (MAX_REASONS); the rest share OVERFLOW_REASON.
   */
  private count(kind: 'rejected' | 'ignored', reason: string): void {
    this.counts[kind] += 1;
    const { reasons, named } = this.counts;
    if (!reasons.has(reason)) {
      if (named[kind] < MAX_REASONS[kind]) named[kind] += 1;
      else reason = OVERFLOW_REASON[kind];
    }
    const seen = reasons.get(reason) ?? 0;
    reasons.set(reason, seen + 1);
    if (seen === 0) {
      if (kind === 'rejected') this.log.warn({ reason }, 'media frame rejected');
      else this.log.debug({ reason }, 'media frame ignored');
    }
  }
}
