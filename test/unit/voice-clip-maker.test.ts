// The clip maker's phone tuning (scripts/voice/dsp.ts) and the manifest's optional `synthesis` block
// (src/voice/clips.ts). No TTS engine needed: synthetic tones stand in for speech.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PHONE_TUNING,
  activeRms,
  applyFilter,
  butterworthQs,
  dbToGain,
  gainToDb,
  normaliseLoudness,
  peakOf,
  phoneBandFilter,
  toFloat,
  trimNearSilence,
  tuneClip,
} from '../../scripts/voice/dsp.js';
import {
  ClipSetError,
  VOICE_LICENSE_FILE,
  checkClipFrames,
  loadClipSet,
  writeClipSet,
  type ClipSynthesis,
  type ClipToWrite,
} from '../../src/voice/clips.js';
import { encodeMulaw, padToFrame } from '../../src/voice/mulaw.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/voice/types.js';

const RATE = PHONE_TUNING.sampleRate;

/** `seconds` of a tone at `freq` Hz, full scale ±1, starting at `phase` (cos for phase π/2). */
function tone(freq: number, seconds: number, amp = 0.5, phase = 0): Float64Array {
  return Float64Array.from(
    { length: Math.round(RATE * seconds) },
    (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / RATE + phase),
  );
}

function rms(x: Float64Array, from = 0, to = x.length): number {
  let acc = 0;
  for (let i = from; i < to; i++) acc += (x[i] as number) ** 2;
  return Math.sqrt(acc / (to - from));
}

/** Gain of the phone band filter for a steady tone, dB (measured after the filter has settled). */
function bandGainDb(freq: number, phase = 0): number {
  const x = tone(freq, 1, 0.5, phase);
  const y = applyFilter(x, phoneBandFilter());
  return gainToDb(rms(y, RATE / 2) / rms(x, RATE / 2));
}

function concat(...parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const silence = (seconds: number) => new Float64Array(Math.round(RATE * seconds));

/** A word-like test clip: two tone bursts of different pitch and level, with silence round and between them. */
function word(amp: number): Float64Array {
  return concat(silence(0.2), tone(700, 0.25, amp), silence(0.08), tone(1200, 0.15, amp / 3), silence(0.3));
}

function toInt16(x: Float64Array): Int16Array {
  return Int16Array.from(x, (s) => Math.round(s * 32768));
}

describe('phone band filter (300–3400 Hz, 4th-order Butterworth high- and low-pass)', () => {
  it('uses the Butterworth section Qs', () => {
    const [q1, q2] = butterworthQs(4);
    expect(q1).toBeCloseTo(0.5412, 4);
    expect(q2).toBeCloseTo(1.3066, 4);
  });

  it('attenuates 100 Hz and 4 kHz as a 4th-order Butterworth band does (a 2nd-order one would fail) and passes 1 kHz within 1 dB', () => {
    // 4th order: -38 dB at 100 Hz and -63 dB at 3.9 kHz (docs/voice.md, "Clip set"); 2nd order would give about -19
    // and -30 dB.
    expect(bandGainDb(100)).toBeLessThanOrEqual(-35);
    expect(bandGainDb(3900)).toBeLessThanOrEqual(-55);
    // At 8 kHz a 4 kHz tone is the Nyquist frequency: as a cosine it is the alternating sequence +a, -a, …
    expect(bandGainDb(4000, Math.PI / 2)).toBeLessThanOrEqual(-20);
    expect(Math.abs(bandGainDb(1000))).toBeLessThanOrEqual(1);
  });

  it('is -3 dB at its two corners', () => {
    expect(bandGainDb(PHONE_TUNING.highPassHz)).toBeCloseTo(-3.01, 0);
    expect(bandGainDb(PHONE_TUNING.lowPassHz)).toBeCloseTo(-3.01, 0);
  });
});

describe('loudness normalisation', () => {
  it('brings two clips of different level and shape to the same active RMS, at the target', () => {
    const quiet = normaliseLoudness(word(0.02));
    const loud = normaliseLoudness(concat(silence(0.1), tone(450, 0.6, 0.4), silence(0.1)));
    const a = gainToDb(activeRms(quiet.samples));
    const b = gainToDb(activeRms(loud.samples));
    expect(Math.abs(a - b)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(a - PHONE_TUNING.targetActiveDbfs)).toBeLessThanOrEqual(0.5);
    expect(quiet.report.limited).toBe(false);
    expect(loud.report.limited).toBe(false);
    expect(quiet.report.gainDb).toBeGreaterThan(0);
    expect(loud.report.gainDb).toBeLessThan(0);
  });

  it('does not count the silence and quiet tail of a clip as speech', () => {
    const x = word(0.1);
    const withLongPause = concat(x, silence(2));
    expect(activeRms(withLongPause)).toBeCloseTo(activeRms(x), 10);
  });

  it('keeps every peak under the ceiling and reports the clip it limited', () => {
    const spiky = concat(tone(1000, 0.5, 0.01), Float64Array.of(0.5), tone(1000, 0.5, 0.01));
    const { samples, report } = normaliseLoudness(spiky);
    expect(report.limited).toBe(true);
    expect(report.shortfallDb).toBeGreaterThan(0);
    expect(report.activeDbfs).toBeLessThan(PHONE_TUNING.targetActiveDbfs);
    expect(peakOf(samples)).toBeLessThanOrEqual(dbToGain(PHONE_TUNING.peakCeilingDbfs) + 1e-12);

    const tuned = tuneClip(toInt16(spiky));
    expect(tuned.report.limited).toBe(true);
    const ceiling = dbToGain(PHONE_TUNING.peakCeilingDbfs) * 32768;
    expect(Math.max(...[...tuned.samples].map(Math.abs))).toBeLessThanOrEqual(Math.ceil(ceiling));
  });
});

describe('trim, fade and frames', () => {
  it('trims near-silence but keeps the lead-in and lead-out', () => {
    const x = concat(silence(0.3), tone(1000, 0.4), silence(0.3));
    const t = trimNearSilence(x);
    const lead = (PHONE_TUNING.leadInMs * RATE) / 1000;
    const tail = (PHONE_TUNING.leadOutMs * RATE) / 1000;
    // sin(0) = 0 is below the threshold, so the tone's first counted sample is its second.
    expect(t.length).toBe(0.4 * RATE - 1 + lead + tail);
    expect(t.slice(0, lead).every((s) => s === 0)).toBe(true);
    expect(trimNearSilence(silence(0.1)).length).toBe(0);
  });

  it('gives whole frames that start with sound, with no click at either end', () => {
    const clips = [0.02, 0.3].map((amp, i) => {
      const tuned = tuneClip(toInt16(concat(silence(0.3), tone(600 + 400 * i, 0.37, amp), silence(0.5))));
      return { name: String(i), tuned, audio: padToFrame(encodeMulaw(tuned.samples)) };
    });
    for (const { audio, tuned } of clips) {
      expect(audio.length % FRAME_BYTES).toBe(0);
      expect(audio.length).toBeGreaterThan(0);
      expect(audio.subarray(0, FRAME_BYTES).some((b) => b !== MULAW_SILENCE && b !== 0x7f)).toBe(true);
      // Faded: the first and last samples are 0, and the first 5 ms rise without a step.
      const s = tuned.samples;
      expect(s[0]).toBe(0);
      expect(s[s.length - 1]).toBe(0);
      const fadeIn = (PHONE_TUNING.fadeInMs * RATE) / 1000;
      for (let i = 1; i < fadeIn; i++) expect(Math.abs(s[i] as number)).toBeLessThan(3000);
      // About the tone plus the kept lead-in and lead-out (and the filters' short ring), not the silences round it.
      expect(s.length).toBeGreaterThan(0.37 * RATE);
      expect(s.length).toBeLessThan(0.37 * RATE + 400);
    }
    expect(() => checkClipFrames(clips)).not.toThrow();
  });

  it('turns silence into nothing, so the maker can refuse it', () => {
    expect(tuneClip(new Int16Array(800)).samples.length).toBe(0);
  });

  it('converts to floats with full scale at ±1', () => {
    expect([...toFloat([-32768, 0, 16384])]).toEqual([-1, 0, 0.5]);
  });
});

describe('manifest synthesis block', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'clip-maker-test-'));
    dirs.push(d);
    return d;
  }
  const clips: ClipToWrite[] = [
    { name: '1', text: 'one', source: 'test', audio: Buffer.alloc(FRAME_BYTES, 0x10) },
    { name: 'a', text: 'Alpha', source: 'test', audio: Buffer.alloc(2 * FRAME_BYTES, 0x20) },
  ];
  const synthesis: ClipSynthesis = {
    engine: 'festival',
    voice: 'cmu_us_slt_arctic_hts',
    stretch: 1,
    versions: { festival: '2.5.0', 'debian:festvox-us-slt-hts': '0.2010.10.25-4' },
    tuning: { ...PHONE_TUNING },
    license: { name: 'LicenseRef-EST-2003', summary: 'test licence', file: VOICE_LICENSE_FILE },
  };

  it('a set with the block and a licence file beside the clips loads, and the manifest keeps the block', () => {
    const d = tempDir();
    writeClipSet(d, 'committed', clips, { synthesis, files: { [VOICE_LICENSE_FILE]: 'licence text\n' } });
    expect(readFileSync(join(d, VOICE_LICENSE_FILE), 'utf8')).toBe('licence text\n');
    const set = loadClipSet(d, { required: ['1', 'a'] });
    expect(set.names().sort()).toEqual(['1', 'a']);
    const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    expect(manifest.synthesis).toEqual(synthesis);
  });

  it('a set without it still loads', () => {
    const d = tempDir();
    writeClipSet(d, 'x', clips);
    expect(JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'))).not.toHaveProperty('synthesis');
    expect(existsSync(join(d, VOICE_LICENSE_FILE))).toBe(false);
    expect(loadClipSet(d, { required: [] }).id).toBe('x');
  });

  it('a malformed block is refused when loading', () => {
    const d = tempDir();
    writeClipSet(d, 'x', clips, { synthesis });
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    m.synthesis.stretch = 'fast';
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    expect(() => loadClipSet(d, { required: [] })).toThrow(/synthesis\.stretch/);
  });

  it('writes no extra file that could be taken for a clip, the manifest, or leave the directory', () => {
    for (const file of ['../x.txt', 'a.ulaw', 'manifest.json', 'sub/x']) {
      expect(() => writeClipSet(tempDir(), 'x', clips, { files: { [file]: 'x' } })).toThrow(ClipSetError);
    }
  });
});
