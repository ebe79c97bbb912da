import { describe, expect, it } from 'vitest';
import {
  decodeMulaw,
  encodeMulaw,
  framesForMs,
  linearToMulaw,
  mulawToLinear,
  padToFrame,
  silenceFrames,
  silenceMs,
  splitFrames,
} from '../../src/voice/mulaw.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/voice/types.js';

// Reference values from the ITU-T G.711 reference code (Sun g711.c), as produced by CPython's audioop.lin2ulaw /
// ulaw2lin on 16-bit samples.
const ENCODED: [number, number][] = [
  [0, 0xff],
  [1, 0xff],
  [-1, 0x7e],
  [100, 0xf2],
  [-100, 0x72],
  [1000, 0xce],
  [-1000, 0x4e],
  [8000, 0xa0],
  [-8000, 0x20],
  [32124, 0x80],
  [32767, 0x80],
  [-32768, 0x00],
];
const DECODED: [number, number][] = [
  [0x00, -32124],
  [0x0f, -16764],
  [0x10, -15996],
  [0x7f, 0],
  [0x80, 32124],
  [0x8f, 16764],
  [0xf0, 120],
  [0xfe, 8],
  [0xff, 0],
];

describe('G.711 μ-law codec', () => {
  it.each(ENCODED)('encodes linear %i as the reference byte', (linear, byte) => {
    expect(linearToMulaw(linear)).toBe(byte);
  });

  it.each(DECODED)('decodes byte %i as the reference sample', (byte, linear) => {
    expect(mulawToLinear(byte)).toBe(linear);
  });

  it('zero codes as MULAW_SILENCE', () => {
    expect(linearToMulaw(0)).toBe(MULAW_SILENCE);
  });

  it('every code word survives decode then encode (except negative zero, which becomes 0xFF)', () => {
    for (let b = 0; b < 256; b++) {
      expect(linearToMulaw(mulawToLinear(b))).toBe(b === 0x7f ? 0xff : b);
    }
  });

  it('clamps samples outside the int16 range instead of wrapping', () => {
    expect(linearToMulaw(70000)).toBe(0x80);
    expect(linearToMulaw(-70000)).toBe(0x00);
  });

  it('buffer encode and decode agree with the per-sample functions', () => {
    const samples = Int16Array.from([0, -1, 1000, -8000, 32767]);
    const bytes = encodeMulaw(samples);
    expect([...bytes]).toEqual([0xff, 0x7e, 0xce, 0x20, 0x80]);
    expect([...decodeMulaw(bytes)]).toEqual([...bytes].map(mulawToLinear));
  });
});

describe('frame helpers', () => {
  it('silence is MULAW_SILENCE in whole 160-byte frames', () => {
    expect(silenceFrames(3)).toEqual(Buffer.alloc(480, 0xff));
    expect(silenceMs(100).length).toBe(5 * FRAME_BYTES);
    expect(silenceMs(29).length).toBe(1 * FRAME_BYTES);
    expect(silenceMs(31).length).toBe(2 * FRAME_BYTES);
    expect(silenceMs(0).length).toBe(0);
    expect(framesForMs(-5)).toBe(0);
  });

  it('pads to the next frame boundary with silence and leaves aligned audio as is', () => {
    const padded = padToFrame(Buffer.from([1, 2, 3]));
    expect(padded.length).toBe(FRAME_BYTES);
    expect([...padded.subarray(0, 4)]).toEqual([1, 2, 3, 0xff]);
    expect(padded.subarray(3).every((b) => b === 0xff)).toBe(true);
    const aligned = Buffer.alloc(320, 7);
    expect(padToFrame(aligned)).toEqual(aligned);
    expect(padToFrame(Buffer.alloc(0)).length).toBe(0);
  });

  it('splits aligned audio into frames and refuses a partial frame', () => {
    expect(splitFrames(Buffer.alloc(480)).map((f) => f.length)).toEqual([160, 160, 160]);
    expect(() => splitFrames(Buffer.alloc(161))).toThrow(/161 bytes is not a whole number of 160-byte frames/);
  });
});
