// What Twilio does with the audio a bidirectional stream sends it: buffer it, play it in real time (8,000 bytes a
// second, one 160-byte frame per 20 ms), send each `mark` back only once all audio queued before it has played, and on
// `clear` drop the buffered audio and send every pending mark back at once: see docs/twilio.md ("Media streams");
// Twilio documents it at https://www.twilio.com/docs/voice/media-streams/websocket-messages ("Mark", "Clear").
// The one emulation of it: the simulated caller plays through it, and so does test/helpers/twilio-playback.ts.
//
// The queue has no clock of its own: the simulated caller calls tick() once per 20 ms of its deadline clock, which
// keeps this logic testable without timers.
import { FRAME_BYTES } from '../voice/types.js';

type Queued = { kind: 'audio'; data: Buffer } | { kind: 'mark'; name: string };

export interface PlaybackEvents {
  /** A frame finished playing (usually FRAME_BYTES; shorter only when the sender's audio ended mid-frame). */
  played(frame: Buffer): void;
  /** A mark is due back to the server (`cleared`: returned by a clear, its audio did not play). */
  mark(name: string, cleared: boolean): void;
}

export class PlaybackQueue {
  private readonly queue: Queued[] = [];
  private headOffset = 0;
  private playing: { frame: Buffer; marksAfter: string[] } | undefined;
  private queuedBytes = 0;

  constructor(private readonly events: PlaybackEvents) {}

  /** Bytes received and not yet played (the frame playing now included). */
  get bufferedBytes(): number {
    return this.queuedBytes + (this.playing?.frame.length ?? 0);
  }

  enqueueAudio(data: Buffer): void {
    if (data.length === 0) return;
    this.queue.push({ kind: 'audio', data });
    this.queuedBytes += data.length;
  }

  enqueueMark(name: string): void {
    if (this.queue.length > 0) this.queue.push({ kind: 'mark', name });
    else if (this.playing) this.playing.marksAfter.push(name);
    else this.events.mark(name, false); // nothing buffered: everything before it has played
  }

  /** Twilio `clear`: the frame playing now and everything queued are dropped; pending marks return at once. */
  clear(): void {
    const marks = [
      ...(this.playing?.marksAfter ?? []),
      ...this.queue.flatMap((q) => (q.kind === 'mark' ? [q.name] : [])),
    ];
    this.playing = undefined;
    this.queue.length = 0;
    this.headOffset = 0;
    this.queuedBytes = 0;
    for (const name of marks) this.events.mark(name, true);
  }

  /** 20 ms have passed: the frame playing (if any) has finished; the next one starts. */
  tick(): void {
    const done = this.playing;
    this.playing = undefined;
    if (done) {
      this.events.played(done.frame);
      for (const name of done.marksAfter) this.events.mark(name, false);
    }
    this.startNextFrame();
  }

  private startNextFrame(): void {
    const parts: Buffer[] = [];
    const marksAfter: string[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const head = this.queue[0] as Queued;
      if (head.kind === 'mark') {
        this.queue.shift();
        // A mark with no audio before it in this frame: everything before it has played already.
        if (bytes === 0) this.events.mark(head.name, false);
        else marksAfter.push(head.name);
        continue;
      }
      if (bytes === FRAME_BYTES) break;
      const take = Math.min(FRAME_BYTES - bytes, head.data.length - this.headOffset);
      parts.push(head.data.subarray(this.headOffset, this.headOffset + take));
      bytes += take;
      this.headOffset += take;
      this.queuedBytes -= take;
      if (this.headOffset === head.data.length) {
        this.queue.shift();
        this.headOffset = 0;
      }
    }
    if (bytes > 0) this.playing = { frame: Buffer.concat(parts), marksAfter };
  }
}
