// Outbound pacing on a fake clock: a minute of audio is sent on its deadline schedule with no cumulative drift even
// when every timer fires late; marks settle only when Twilio echoes them; clear cuts queued audio and settles plays
// as 'cleared'; a closed stream settles as 'closed'.
import { describe, expect, it } from 'vitest';
import { outboundFrameSchema, type OutboundFrame } from '../../src/voice/frames.js';
import { OutboundPacer, percentile, type PlayOutcome } from '../../src/voice/pacer.js';
import { FRAME_BYTES, type Segment } from '../../src/voice/types.js';
import { FakeClock, flush, seededRandom } from '../helpers/fake-clock.js';
import { STREAM_SID } from '../helpers/twilio-stream.js';

interface Sent {
  at: number;
  frame: OutboundFrame;
}

function setup(opts: { lateness?: () => number; framesPerMessage?: number; leadMs?: number } = {}) {
  const clock = new FakeClock(opts.lateness);
  const sent: Sent[] = [];
  const pacer = new OutboundPacer({
    streamSid: STREAM_SID,
    clock,
    framesPerMessage: opts.framesPerMessage,
    leadMs: opts.leadMs,
    send: (text) => sent.push({ at: clock.now(), frame: outboundFrameSchema.parse(JSON.parse(text)) }),
  });
  const media = () => sent.filter((s) => s.frame.event === 'media');
  return { clock, sent, pacer, media };
}

/** `ms` of audio whose every frame is distinct (frame i filled with i % 256), so order and loss are visible. */
function audio(ms: number, name = 'clip'): Segment {
  const frames = ms / 20;
  const buf = Buffer.alloc(frames * FRAME_BYTES);
  for (let i = 0; i < frames; i++) buf.fill(i % 256, i * FRAME_BYTES, (i + 1) * FRAME_BYTES);
  return { name, audio: buf };
}

function track<T>(p: Promise<T>): { value?: T } {
  const box: { value?: T } = {};
  void p.then((v) => (box.value = v));
  return box;
}

describe('OutboundPacer pacing', () => {
  it('sends 60 s of audio on the deadline schedule with no cumulative drift while timers fire up to 15 ms late', () => {
    const rnd = seededRandom(42);
    const { clock, pacer, media } = setup({ lateness: () => rnd() * 15, leadMs: 100 });
    void pacer.play([audio(30_000, 'a'), audio(30_000, 'b')], 'bench');
    clock.advance(61_000);

    const frames = media();
    expect(frames).toHaveLength(3000);
    for (const [n, f] of frames.entries()) {
      const scheduled = Math.max(0, n * 20 - 100); // frame n plays at 20n; it may go out up to 100 ms before
      expect(f.at).toBeGreaterThanOrEqual(scheduled);
      expect(f.at - scheduled).toBeLessThanOrEqual(16); // one timer's lateness (+1 ms rounding), never accumulated
    }
    // A relative setTimeout(20) chain would have drifted by the sum of ~3000 latenesses (~22 s) by now.
    expect(frames.at(-1)!.at).toBeLessThanOrEqual(2999 * 20 - 100 + 16);
    const stats = pacer.stats();
    expect(stats.underruns).toBe(0);
    expect(stats.framesSent).toBe(3000);
    expect(stats.lateness.count).toBe(3000);
    expect(stats.lateness.p99).toBeLessThanOrEqual(16);
    expect(stats.lateness.p50).toBeGreaterThan(0);
  });

  it('never sends more than the lead ahead of real time, even catching up after a late timer', () => {
    let late = 0;
    const { clock, pacer, media } = setup({ lateness: () => late, leadMs: 100 });
    void pacer.play([audio(2000)], 'x');
    expect(media()).toHaveLength(6); // frames 0..5 (up to 100 ms of lead) go at once
    late = 80; // the next timer fires 80 ms late: catch up, but only to the lead window
    clock.advance(300);
    for (const [n, f] of media().entries()) expect(n * 20 - f.at).toBeLessThanOrEqual(100);
    expect(pacer.stats().underruns).toBe(0);
  });

  it('re-anchors after Twilio ran dry (a stall longer than the lead) and counts an underrun', () => {
    const { clock, pacer, media } = setup({ leadMs: 60 });
    void pacer.play([audio(1000)], 'x');
    clock.advance(100);
    clock.stall(500); // the event loop was blocked for half a second: Twilio played its 60 ms and then silence
    clock.advance(5000);
    expect(pacer.stats().underruns).toBe(1);
    expect(media()).toHaveLength(50);
    const resumed = media().findIndex((f) => f.at >= 600);
    const anchor = media()[resumed]!.at;
    // After the stall the run restarts at the stall's end: one lead's worth at once, then one frame per 20 ms.
    for (const [i, f] of media().slice(resumed).entries()) expect(f.at).toBeGreaterThanOrEqual(anchor + i * 20 - 60);
  });

  it('carries framesPerMessage frames in each media message, in order, without loss', () => {
    const { clock, pacer, media } = setup({ framesPerMessage: 5, leadMs: 100 });
    void pacer.play([audio(1000)], 'x');
    clock.advance(2000);
    const payloads = media().map((f) =>
      Buffer.from((f.frame as { media: { payload: string } }).media.payload, 'base64'),
    );
    expect(payloads).toHaveLength(10);
    expect(payloads.every((p) => p.length === 800)).toBe(true);
    expect(Buffer.concat(payloads)).toEqual(audio(1000).audio);
    const gaps = media()
      .slice(2)
      .map((f, i) => f.at - media()[i + 1]!.at);
    expect(new Set(gaps)).toEqual(new Set([100]));
  });

  it('pads a segment that is not whole frames with μ-law silence', () => {
    const { clock, pacer, media } = setup();
    void pacer.play([{ name: 'odd', audio: Buffer.alloc(170, 0x10) }], 'x');
    clock.advance(100);
    const bytes = Buffer.concat(
      media().map((f) => Buffer.from((f.frame as { media: { payload: string } }).media.payload, 'base64')),
    );
    expect(bytes.length).toBe(320);
    expect(bytes.subarray(170).every((b) => b === 0xff)).toBe(true);
  });

  it('starts a fresh run after an idle gap without calling it an underrun', () => {
    const { clock, pacer, media } = setup({ leadMs: 40 });
    void pacer.play([audio(200)], 'x');
    clock.advance(5000);
    void pacer.play([audio(200)], 'y');
    clock.advance(5000);
    expect(pacer.stats().underruns).toBe(0);
    const second = media().slice(10);
    expect(second[0]!.at).toBe(5000);
    expect(second.at(-1)!.at).toBe(5000 + 9 * 20 - 40);
  });
});

describe('OutboundPacer marks and clear', () => {
  it('resolves a play only when Twilio echoes its mark, which is sent right after the last frame', async () => {
    const { clock, sent, pacer } = setup();
    const outcome = track(pacer.play([audio(400)], 'reading'));
    clock.advance(1000);
    await flush();
    const last = sent.at(-1)!.frame;
    expect(last).toEqual({ event: 'mark', streamSid: STREAM_SID, mark: { name: 'reading.1' } });
    expect(sent.at(-2)!.frame.event).toBe('media');
    expect(outcome.value).toBeUndefined(); // all frames are out, but Twilio has not said they played
    expect(pacer.onMark('someone-else.9')).toBe(false);
    await flush();
    expect(outcome.value).toBeUndefined();
    expect(pacer.onMark('reading.1')).toBe(true);
    await flush();
    expect(outcome.value).toBe<PlayOutcome>('played');
  });

  it('clear drops queued audio, sends clear, and settles the play as cleared even when its mark comes back', async () => {
    const { clock, sent, pacer, media } = setup({ leadMs: 100 });
    const first = track(pacer.play([audio(2000)], 'reading'));
    clock.advance(500);
    const before = media().length;
    const epoch = pacer.epoch;
    pacer.clear();
    expect(pacer.epoch).toBe(epoch + 1);
    expect(sent.at(-1)!.frame).toEqual({ event: 'clear', streamSid: STREAM_SID });
    await flush();
    expect(first.value).toBe<PlayOutcome>('cleared');
    clock.advance(5000);
    expect(media()).toHaveLength(before); // nothing of the cut reading went out after the clear
    expect(sent.some((s) => s.frame.event === 'mark')).toBe(false); // its mark was never sent
  });

  it('a mark already sent and echoed after a clear still counts as cleared, not played', async () => {
    const { clock, pacer } = setup();
    const first = track(pacer.play([audio(100)], 'reading'));
    clock.advance(200); // all frames and the mark are out
    pacer.clear(); // Twilio now returns the mark at once, unplayed
    expect(pacer.onMark('reading.1')).toBe(true);
    await flush();
    expect(first.value).toBe<PlayOutcome>('cleared');

    const second = track(pacer.play([audio(100)], 'reading'));
    clock.advance(200);
    pacer.onMark('reading.2');
    await flush();
    expect(second.value).toBe<PlayOutcome>('played');
  });

  it('close settles every play as closed and sends nothing more', async () => {
    const { clock, sent, pacer } = setup();
    const p = track(pacer.play([audio(1000)], 'reading'));
    clock.advance(100);
    const count = sent.length;
    pacer.close();
    clock.advance(5000);
    pacer.clear();
    await flush();
    expect(p.value).toBe<PlayOutcome>('closed');
    expect(sent).toHaveLength(count);
    expect(await pacer.play([audio(100)], 'again')).toBe<PlayOutcome>('closed');
  });

  it('a send that throws is taken as the stream closing', async () => {
    const clock = new FakeClock();
    let n = 0;
    const pacer = new OutboundPacer({
      streamSid: STREAM_SID,
      clock,
      send: () => {
        if (++n > 3) throw new Error('socket closed');
      },
    });
    const p = pacer.play([audio(1000)], 'x');
    clock.advance(1000);
    expect(await p).toBe<PlayOutcome>('closed');
    expect(pacer.isClosed).toBe(true);
  });

  it('reports when the first frame of a play went out (a throwing hook does not stop it), and refuses mark labels that are not plain words', () => {
    const { clock, pacer } = setup({ leadMs: 20 });
    void pacer.play([audio(200)], 'a');
    const at: number[] = [];
    clock.advance(50);
    void pacer.play([audio(200)], 'b', { onFirstFrame: (t) => at.push(t) });
    clock.advance(1000);
    expect(at).toEqual([200 - 20]);
    const sent = pacer.stats().framesSent;
    void pacer.play([audio(100)], 'c', {
      onFirstFrame: () => {
        throw new Error('hook bug');
      },
    });
    clock.advance(1000);
    expect(pacer.stats().framesSent).toBe(sent + 5); // a throwing hook does not stop the audio
    expect(() => pacer.play([], 'has space')).toThrow(TypeError);
  });
});

describe('percentile', () => {
  it('is nearest-rank over sorted values', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 0.5)).toBe(50);
    expect(percentile(v, 0.99)).toBe(99);
    expect(percentile([], 0.5)).toBe(0);
  });
});
