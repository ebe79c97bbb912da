// Outbound audio for one Twilio Media Stream: μ-law in 20 ms frames, paced against a deadline clock, with marks to
// learn when audio has played and `clear` to cut it (docs/voice.md, "Pacing and marks"; docs/twilio.md, "Media
// streams").
//
// Why a deadline clock: repeated setTimeout(20) accumulates the timer's lateness and drifts behind real time, which
// Twilio plays as gaps (openclaw/openclaw#119070). Here frame n of a run starts playing at `playStart + 20n` ms; we
// send it once `now >= playStart + 20n - leadMs`, so Twilio always holds up to `leadMs` of audio to absorb our timer
// jitter, and a late timer catches up by sending what is due, never more than `leadMs` ahead of real time. Only when
// Twilio has run dry (we missed a deadline outright) is the run re-anchored at the present, counted as an underrun.
//
// Marks: `play()` resolves when Twilio echoes its mark after the audio before it has played, not when we send the
// last frame. After `clear`, Twilio returns every pending mark at once without playing the audio, so a clear bumps
// an epoch and settles everything in flight as "cleared" (docs/voice.md, "Pacing and marks"; the `clear` message in
// https://www.twilio.com/docs/voice/media-streams/websocket-messages).
import { clearFrame, markFrame, mediaFrame } from './frames.js';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE, type Segment } from './types.js';

/** Time source and timer; injectable so tests run minutes of audio on a fake clock. `now()` is in ms, monotonic. */
export interface Clock {
  now(): number;
  /** Calls `fn` once after about `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** played: Twilio echoed the mark and no clear came since; cleared: a clear cut it; closed: the stream ended first. */
export type PlayOutcome = 'played' | 'cleared' | 'closed';

export interface PacerOptions {
  streamSid: string;
  /** Sends one text frame on the stream's WebSocket. A throw is taken as the stream having closed. */
  send(text: string): void;
  clock?: Clock;
  /** 160-byte frames per `media` message: 1 (20 ms, default) to 10 (200 ms); research suggests 20–200 ms messages. */
  framesPerMessage?: number;
  /** How far ahead of real time audio may be sent (default 100 ms, at least one message). */
  leadMs?: number;
  /** Told as each media message leaves: how late (ms), and whether Twilio had run dry before it (an underrun). */
  onMessage?(latenessMs: number, underrun: boolean): void;
}

export interface PlayHooks {
  /** Called when the first frame of this play goes on the wire, with the clock's time. */
  onFirstFrame?(at: number): void;
}

export interface PacerStats {
  framesSent: number;
  messagesSent: number;
  marksSent: number;
  clears: number;
  /** Times Twilio ran out of audio while we had some queued (a deadline missed by more than the lead). */
  underruns: number;
  /** Send lateness of each media message against its scheduled time, in ms. */
  lateness: { count: number; p50: number; p99: number; max: number };
}

type QueueItem =
  | { kind: 'audio'; data: Buffer; frames: number; readyAt: number; onSent?: (at: number) => void }
  | { kind: 'mark'; name: string };

interface PendingMark {
  epoch: number;
  resolve(outcome: PlayOutcome): void;
}

/** Lateness samples kept for the percentile stats (the newest ones; an hour of 20 ms frames). */
const MAX_SAMPLES = 180_000;
const LABEL = /^[A-Za-z0-9_:-]{1,48}$/;

export class OutboundPacer {
  private readonly clock: Clock;
  private readonly bytesPerMessage: number;
  private readonly leadMs: number;
  private readonly queue: QueueItem[] = [];
  private readonly pending = new Map<string, PendingMark>();
  /** Marks settled as "cleared" whose echo Twilio still owes us; recognised when they come back. */
  private readonly stale = new Set<string>();
  private cancelTimer: (() => void) | undefined;
  private playStart: number | undefined;
  private framesInRun = 0;
  private markSeq = 0;
  private currentEpoch = 0;
  private closed = false;
  private readonly samples: number[] = [];
  private sampleCursor = 0;
  private readonly counters = { framesSent: 0, messagesSent: 0, marksSent: 0, clears: 0, underruns: 0 };

  constructor(private readonly opts: PacerOptions) {
    this.clock = opts.clock ?? monotonicClock;
    const fpm = opts.framesPerMessage ?? 1;
    if (!Number.isInteger(fpm) || fpm < 1 || fpm > 10)
      throw new RangeError('framesPerMessage must be an integer from 1 to 10');
    this.bytesPerMessage = fpm * FRAME_BYTES;
    this.leadMs = Math.max(opts.leadMs ?? 100, fpm * FRAME_MS);
  }

  /** Bumped by every clear: a mark from an older epoch never counts as played. */
  get epoch(): number {
    return this.currentEpoch;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Audio queued here and not yet sent, in ms. */
  get queuedMs(): number {
    let frames = 0;
    for (const item of this.queue) if (item.kind === 'audio') frames += item.frames;
    return frames * FRAME_MS;
  }

  /**
   * Queues the segments' audio, then a mark. Resolves once Twilio echoes the mark with no clear since ('played'),
   * when a clear cuts it ('cleared', even if the echo still comes), or when the stream ends ('closed').
   * `label` names the mark on the wire (Twilio logs it): a plain word, never content; a counter keeps it unique.
   */
  play(segments: readonly Segment[], label: string, hooks: PlayHooks = {}): Promise<PlayOutcome> {
    if (!LABEL.test(label)) throw new TypeError('mark label must be 1-48 letters, digits, _ : or -');
    if (this.closed) return Promise.resolve('closed');
    const now = this.clock.now();
    const audio = padToFrame(Buffer.concat(segments.map((s) => s.audio)));
    let first = true;
    for (let off = 0; off < audio.length; off += this.bytesPerMessage) {
      const data = audio.subarray(off, off + this.bytesPerMessage);
      this.queue.push({
        kind: 'audio',
        data,
        frames: data.length / FRAME_BYTES,
        readyAt: now,
        onSent: first ? hooks.onFirstFrame : undefined,
      });
      first = false;
    }
    if (first && hooks.onFirstFrame) notify(hooks.onFirstFrame, now); // nothing to play: the "first frame" is now
    const name = `${label}.${++this.markSeq}`;
    const outcome = new Promise<PlayOutcome>((resolve) =>
      this.pending.set(name, { epoch: this.currentEpoch, resolve }),
    );
    this.queue.push({ kind: 'mark', name });
    if (!this.cancelTimer) this.pump();
    return outcome;
  }

  /** Drops queued audio, tells Twilio to drop its buffer, and settles every play in flight as 'cleared'. */
  clear(): void {
    if (this.closed) return;
    this.currentEpoch += 1;
    this.counters.clears += 1;
    this.stopTimer();
    const unsent = new Set<string>();
    for (const item of this.queue) if (item.kind === 'mark') unsent.add(item.name);
    this.queue.length = 0;
    for (const [name, mark] of this.pending) {
      if (!unsent.has(name)) this.stale.add(name); // sent: Twilio will return it now, unplayed
      mark.resolve('cleared');
    }
    this.pending.clear();
    this.playStart = undefined; // Twilio's buffer is empty: the next audio starts a new run
    this.framesInRun = 0;
    this.sendFrame(clearFrame(this.opts.streamSid));
  }

  /** A `mark` event from Twilio. Returns false for a name this pacer never sent (the session counts those). */
  onMark(name: string): boolean {
    const mark = this.pending.get(name);
    if (mark) {
      this.pending.delete(name);
      mark.resolve(mark.epoch === this.currentEpoch ? 'played' : 'cleared');
      return true;
    }
    return this.stale.delete(name);
  }

  /** The stream has ended: nothing more is sent, and every play in flight resolves 'closed'. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimer();
    this.queue.length = 0;
    for (const mark of this.pending.values()) mark.resolve('closed');
    this.pending.clear();
    this.stale.clear();
  }

  stats(): PacerStats {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      ...this.counters,
      lateness: {
        count: sorted.length,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        max: sorted.at(-1) ?? 0,
      },
    };
  }

  /** The raw lateness samples (ms), for a bench that aggregates many streams. */
  latenessSamples(): readonly number[] {
    return this.samples;
  }

  private pump(): void {
    this.cancelTimer = undefined;
    const now = this.clock.now();
    while (!this.closed && this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.kind === 'mark') {
        this.queue.shift();
        this.counters.marksSent += 1;
        this.sendFrame(markFrame(this.opts.streamSid, head.name));
        continue;
      }
      let lateness: number | undefined;
      let underrun = false;
      const deadline = this.playStart === undefined ? undefined : this.playStart + this.framesInRun * FRAME_MS;
      if (deadline === undefined || now > deadline) {
        // Twilio has nothing left to play. If this audio was waiting before it ran dry, we were late: an underrun.
        if (deadline !== undefined && head.readyAt <= deadline) {
          this.counters.underruns += 1;
          underrun = true;
          lateness = now - Math.max(deadline - this.leadMs, head.readyAt);
        }
        this.playStart = now;
        this.framesInRun = 0;
      }
      const sendAt = this.playStart! + this.framesInRun * FRAME_MS - this.leadMs;
      if (sendAt > now) {
        this.schedule(sendAt - now);
        return;
      }
      this.queue.shift();
      const late = Math.max(0, lateness ?? now - Math.max(sendAt, head.readyAt));
      this.record(late);
      this.opts.onMessage?.(late, underrun);
      this.framesInRun += head.frames;
      this.counters.framesSent += head.frames;
      this.counters.messagesSent += 1;
      this.sendFrame(mediaFrame(this.opts.streamSid, head.data));
      if (head.onSent) notify(head.onSent, now);
    }
  }

  private schedule(ms: number): void {
    // Rounded up: a timer that fires a hair early would only find nothing due and re-arm.
    this.cancelTimer = this.clock.setTimer(() => this.pump(), Math.ceil(ms));
  }

  private stopTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private sendFrame(text: string): void {
    if (this.closed) return;
    try {
      this.opts.send(text);
    } catch {
      this.close();
    }
  }

  private record(ms: number): void {
    const v = Math.max(0, ms);
    if (this.samples.length < MAX_SAMPLES) this.samples.push(v);
    else {
      this.samples[this.sampleCursor] = v;
      this.sampleCursor = (this.sampleCursor + 1) % MAX_SAMPLES;
    }
  }
}

/** Runs a caller's hook; a throw there must not stop the audio (it would escape from a timer callback). */
function notify(fn: (at: number) => void, at: number): void {
  try {
    fn(at);
  } catch {
    // the hook's owner sees its own failure; pacing goes on
  }
}

/** The p-quantile (0..1) of ascending `sorted` values, nearest-rank; 0 for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

/** Clips are whole frames already (types.ts); anything else is padded with μ-law silence to a whole frame. */
function padToFrame(audio: Buffer): Buffer {
  const rest = audio.length % FRAME_BYTES;
  return rest === 0 ? audio : Buffer.concat([audio, Buffer.alloc(FRAME_BYTES - rest, MULAW_SILENCE)]);
}
