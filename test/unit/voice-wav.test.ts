// The clip maker's WAV reading and resampling (scripts/voice/wav.ts): what it gets wrong would be heard on every call.
import { describe, expect, it } from 'vitest';
import { normalizePeak, parseWav, resample } from '../../scripts/voice/wav.js';

function wav(samples: number[], sampleRate: number, channels = 1, declaredSize?: number): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => data.writeInt16LE(s, i * 2));
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'ascii');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(sampleRate, 12);
  fmt.writeUInt32LE(sampleRate * channels * 2, 16);
  fmt.writeUInt16LE(channels * 2, 20);
  fmt.writeUInt16LE(16, 22);
  const head = Buffer.alloc(8);
  head.write('data', 0, 'ascii');
  head.writeUInt32LE(declaredSize ?? data.length, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(4 + fmt.length + head.length + data.length, 4);
  riff.write('WAVE', 8, 'ascii');
  return Buffer.concat([riff, fmt, head, data]);
}

function tone(freq: number, rate: number, seconds: number, amp = 10000): Int16Array {
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) =>
    Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate)),
  );
}

function rms(s: Int16Array, from = 0, to = s.length): number {
  let acc = 0;
  for (let i = from; i < to; i++) acc += (s[i] as number) ** 2;
  return Math.sqrt(acc / (to - from));
}

describe('parseWav', () => {
  it('reads mono PCM, averages stereo, and tolerates a streamed (oversized) data length', () => {
    expect([...parseWav(wav([1, -2, 300], 22050)).samples]).toEqual([1, -2, 300]);
    expect(parseWav(wav([1], 22050)).sampleRate).toBe(22050);
    expect([...parseWav(wav([100, 200, -10, -30], 8000, 2)).samples]).toEqual([150, -20]);
    expect([...parseWav(wav([5, 6], 8000, 1, 0x7fffffff)).samples]).toEqual([5, 6]);
  });

  it('refuses what is not 16-bit PCM WAVE', () => {
    expect(() => parseWav(Buffer.from('hello world, not a wav'))).toThrow(/not a RIFF\/WAVE/);
    const eightBit = wav([1, 2], 8000);
    eightBit.writeUInt16LE(8, 34);
    expect(() => parseWav(eightBit)).toThrow(/need PCM 16-bit/);
  });
});

describe('resample', () => {
  it('keeps a 1 kHz tone at its level and length when going from 22,050 Hz to 8 kHz', () => {
    const out = resample(tone(1000, 22050, 0.5), 22050, 8000);
    expect(out.length).toBe(4000);
    const level = rms(out, 200, 3800);
    expect(level).toBeGreaterThan((10000 / Math.SQRT2) * 0.95);
    expect(level).toBeLessThan((10000 / Math.SQRT2) * 1.05);
  });

  it('removes a 6 kHz tone, which would alias into the telephone band at 8 kHz', () => {
    const out = resample(tone(6000, 22050, 0.5), 22050, 8000);
    expect(rms(out, 200, 3800)).toBeLessThan(10000 * 0.01);
  });

  it('normalises the peak to the requested share of full scale', () => {
    const out = normalizePeak(Int16Array.from([0, 1000, -2000]), 0.5);
    expect(Math.max(...[...out].map(Math.abs))).toBe(Math.round(0.5 * 32767));
  });
});
