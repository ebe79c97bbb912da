// Composing the spoken passphrase from clips: shape of the reading, frame alignment, pace.
import { describe, expect, it } from 'vitest';
import { PASSPHRASE_FORMATS, PassphraseFormatError } from '../../src/passphrase.js';
import { loadClipSet } from '../../src/voice/clips.js';
import {
  BASE_PAUSES_MS,
  composePrompt,
  composeReading,
  concatSegments,
  PAUSE,
  readingText,
} from '../../src/voice/compose.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/voice/types.js';
import { PROMPTS } from '../../src/voice/vocabulary.js';

const clips = loadClipSet();
const durationMs = (bytes: number) => (bytes / FRAME_BYTES) * 20;

describe('composeReading', () => {
  it('reads intro, the digits in groups, "again", the digits again, then the repeat prompt', () => {
    const p = '123456789012';
    const chars = [...p];
    expect(readingText(composeReading(p, clips, { pace: 1 }))).toEqual([
      'prompt-intro-digits',
      ...chars,
      'prompt-again',
      ...chars,
      'prompt-repeat',
    ]);
  });

  it('letters get the lower-case intro and NATO clips', () => {
    const names = readingText(composeReading('kilohotel', clips, { pace: 1 }));
    expect(names[0]).toBe('prompt-intro-letters');
    expect(names.slice(1, 10).join('')).toBe('kilohotel');
  });

  it('puts short pauses between characters and longer ones between groups', () => {
    const segs = composeReading('111222333444', clips, { pace: 1 });
    const firstGroupEnd = segs.findIndex((s, i) => i > 2 && s.name === '2');
    const charPause = segs[3];
    const groupPause = segs[firstGroupEnd - 1];
    expect(charPause?.name).toBe(PAUSE);
    expect(groupPause?.name).toBe(PAUSE);
    expect(durationMs(charPause!.audio.length)).toBe(BASE_PAUSES_MS.betweenCharacters);
    expect(durationMs(groupPause!.audio.length)).toBe(BASE_PAUSES_MS.betweenGroups);
    expect(groupPause!.audio.every((b) => b === MULAW_SILENCE)).toBe(true);
  });

  it('every segment is whole 160-byte frames, so every clip starts on a frame boundary', () => {
    const segs = composeReading('987654321098', clips, { pace: 1.3 });
    let offset = 0;
    const all = concatSegments(segs);
    for (const s of segs) {
      expect(s.audio.length % FRAME_BYTES).toBe(0);
      expect(offset % FRAME_BYTES).toBe(0);
      expect(all.subarray(offset, offset + s.audio.length)).toEqual(s.audio);
      offset += s.audio.length;
    }
  });

  it('a slower pace lengthens the pauses, not the clips', () => {
    const p = '555666777888';
    const pauses = (pace: number) =>
      composeReading(p, clips, { pace })
        .filter((s) => s.name === PAUSE)
        .reduce((n, s) => n + s.audio.length, 0);
    const speech = (pace: number) =>
      composeReading(p, clips, { pace })
        .filter((s) => s.name !== PAUSE)
        .reduce((n, s) => n + s.audio.length, 0);
    expect(pauses(2)).toBeGreaterThan(pauses(1) * 1.9);
    expect(pauses(0.5)).toBeLessThan(pauses(1) * 0.6);
    expect(speech(2)).toBe(speech(1));
  });

  it('refuses a pace outside 0.5..2 and passphrases whose shape the intro would misdescribe', () => {
    expect(() => composeReading('123456789012', clips, { pace: 3 })).toThrow(RangeError);
    expect(() => composeReading('123456789012', clips, { pace: Number.NaN })).toThrow(RangeError);
    expect(() => composeReading('12345678', clips, { pace: 1 })).toThrow(PassphraseFormatError);
    expect(() => composeReading('abcdefghij', clips, { pace: 1 })).toThrow(PassphraseFormatError);
    expect(() => composeReading('12345678901a', clips, { pace: 1 })).toThrow(PassphraseFormatError);
  });

  it('the intro prompts describe the formats the generator makes (change both together)', () => {
    const words: Record<number, string> = { 3: 'three', 4: 'four', 9: 'nine', 12: 'twelve' };
    for (const [format, prompt] of [
      ['digits', PROMPTS['prompt-intro-digits']],
      ['letters', PROMPTS['prompt-intro-letters']],
    ] as const) {
      const spec = PASSPHRASE_FORMATS[format];
      expect(prompt).toContain(`${words[spec.length]} ${format}`);
      expect(prompt).toContain(`${words[spec.length / spec.groupSize]} groups of ${words[spec.groupSize]}`);
    }
    expect(PROMPTS['prompt-intro-letters']).toContain('lower case');
  });

  it('composes a single prompt', () => {
    expect(readingText(composePrompt('prompt-goodbye', clips))).toEqual(['prompt-goodbye']);
    expect(() => composePrompt('prompt-none', clips)).toThrow(/no clip named/);
  });
});
