// The sandbox's clip recogniser: exact frame fingerprints, clips heard only when complete and in order.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadClipSet } from '../../src/voice/clips.js';
import { composeReading, concatSegments, readingText } from '../../src/voice/compose.js';
import { silenceFrames, splitFrames } from '../../src/voice/mulaw.js';
import { createClipRecognizer } from '../../src/voice/recognizer.js';
import { FRAME_BYTES } from '../../src/voice/types.js';
import { CALLER_WORDS } from '../../src/voice/vocabulary.js';

const clips = loadClipSet();

function feedAll(audio: Buffer, rec = createClipRecognizer(clips)): string[] {
  return splitFrames(audio).flatMap((f) => rec.feed(f));
}

describe('clip recogniser', () => {
  it('hears a composed reading, cut into 160-byte frames, as exactly its clip sequence', () => {
    const segments = composeReading('406918273555', clips, { pace: 1 });
    expect(feedAll(concatSegments(segments))).toEqual(readingText(segments));
  });

  it('hears a letters reading at the fastest pace, and back-to-back clips with no pause between them', () => {
    const segments = composeReading('zzxqjvwkk', clips, { pace: 0.5 });
    expect(feedAll(concatSegments(segments))).toEqual(readingText(segments));
    const backToBack = Buffer.concat(['1', '1', 'a', 'prompt-again'].map((n) => clips.get(n).audio));
    expect(feedAll(backToBack)).toEqual(['1', '1', 'a', 'prompt-again']);
  });

  it('gives the same result when the stream arrives in odd-sized pieces', () => {
    const segments = composeReading('111222333444', clips, { pace: 0.7 });
    const audio = concatSegments(segments);
    const rec = createClipRecognizer(clips);
    const heard: string[] = [];
    for (let i = 0; i < audio.length; i += 37) heard.push(...rec.write(audio.subarray(i, i + 37)));
    expect(heard).toEqual(readingText(segments));
  });

  it('does not report a clip cut short (cleared mid-clip), but hears what follows', () => {
    const seven = clips.get('7').audio;
    const cut = seven.subarray(0, seven.length - 2 * FRAME_BYTES);
    const audio = Buffer.concat([clips.get('1').audio, silenceFrames(3), cut, clips.get('prompt-repeat').audio]);
    expect(feedAll(audio)).toEqual(['1', 'prompt-repeat']);
  });

  it('does not report a clip missing a frame in the middle', () => {
    const frames = splitFrames(clips.get('prompt-intro-digits').audio);
    frames.splice(10, 1);
    expect(feedAll(Buffer.concat(frames))).toEqual([]);
  });

  it('reports nothing for random noise or silence', () => {
    const rec = createClipRecognizer(clips);
    expect(feedAll(randomBytes(500 * FRAME_BYTES), rec)).toEqual([]);
    expect(feedAll(silenceFrames(200), rec)).toEqual([]);
  });

  it('recognises only the subset it was built for, and calls onClip in order', () => {
    const called: string[] = [];
    const rec = createClipRecognizer(clips, { names: Object.keys(CALLER_WORDS), onClip: (n) => called.push(n) });
    const audio = Buffer.concat(['caller-repeat', '5', 'caller-got-it'].map((n) => clips.get(n).audio));
    expect(feedAll(audio, rec)).toEqual(['caller-repeat', 'caller-got-it']);
    expect(called).toEqual(['caller-repeat', 'caller-got-it']);
  });

  it('refuses a frame of the wrong size, and reset() forgets a partial clip', () => {
    const rec = createClipRecognizer(clips);
    expect(() => rec.feed(Buffer.alloc(100))).toThrow(/a frame is 160 bytes, got 100/);
    const frames = splitFrames(clips.get('8').audio);
    for (const f of frames.slice(0, -1)) rec.feed(f);
    rec.reset();
    expect(rec.feed(frames.at(-1)!)).toEqual([]);
  });
});
