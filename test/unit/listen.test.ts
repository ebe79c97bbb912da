// The bench's listener (scripts/bench/listen): how transcripts are scored, the simulated phone line, how reads are
// cut out of a reading, and how the install is checked. The recogniser itself runs only in `npm run bench -- --listen`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { benchPassphrases, listenerCuts, readRanges, setNames } from '../../scripts/bench/listen/index.js';
import { listenerInstall, MODEL, modelProblems } from '../../scripts/bench/listen/install.js';
import { phoneLine, wavFile } from '../../scripts/bench/listen/line.js';
import { activeRms, toFloat } from '../../scripts/voice/dsp.js';
import { charactersRight, heardCharacters, heardReads, score } from '../../scripts/bench/listen/score.js';
import { loadClipSet } from '../../src/voice/clips.js';
import { composeReading, concatSegments, readingText } from '../../src/voice/compose.js';
import { decodeMulaw, encodeMulaw } from '../../src/voice/mulaw.js';
import { shortClipSetDir } from '../helpers/voice.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('scoring what the listener heard', () => {
  it('reads digit words, numerals and same-sounding words a caller would write as digits', () => {
    expect(heardCharacters('Six, zero, five. 992 six-seven-four, oh, won, to, for, ate', 'digits')).toBe(
      '605992674012' + '48',
    );
    expect(heardCharacters('Six, mirror, Evan, nine', 'digits')).toBe('69');
  });

  it('reads NATO words, the ICAO spellings and "x ray" as letters, and nothing else', () => {
    expect(heardCharacters('Alfa, Juliett, X-ray, x ray, Whisky, whiskey. Quimack, Angel, Lima', 'letters')).toBe(
      'ajxxwwl',
    );
    expect(heardCharacters('6 0 5', 'letters')).toBe('');
  });

  it('splits a reading at "again", or after the passphrase length when "again" was not heard', () => {
    expect(heardReads('1 2 3 again 1 2 4', 'digits', 3)).toEqual(['123', '124']);
    expect(heardReads('1 2 3 1 2 4', 'digits', 3)).toEqual(['123', '124']);
    expect(heardReads('Alpha Bravo. Again, Alpha Bravo Charlie', 'letters', 3)).toEqual(['ab', 'abc']);
  });

  it('counts characters right on an alignment, so a dropped or extra character costs one, not the rest', () => {
    expect(charactersRight('605992674944', '605992674944')).toBe(12);
    expect(charactersRight('605992674944', '60992674944')).toBe(11); // one dropped
    expect(charactersRight('605992674944', '6055992674944')).toBe(11); // one extra: an error too
    expect(charactersRight('123', '112233')).toBe(0); // a stutter is not all right
    expect(charactersRight('605992674944', '605992174944')).toBe(11); // one wrong
    expect(charactersRight('605992674944', '')).toBe(0);
  });

  it('scores characters, exact reads and readings with an exact read', () => {
    const s = score('digits', [
      { passphrase: '123', transcript: 'one two three again one two three' }, // 2 exact
      { passphrase: '456', transcript: 'four five six again four five seven' }, // 1 exact
      { passphrase: '789', transcript: 'seven eight again seven eight nine nine' }, // 0 exact (one short, one long)
    ]);
    expect(s.readings).toBe(3);
    expect(s.reads).toBe(6);
    // 3 + 3, 3 + 2, 2 + (3 - 1 extra)
    expect(s.charactersRight).toBeCloseTo(15 / 18);
    expect(s.readsExact).toBeCloseTo(3 / 6);
    expect(s.readingsWithExactRead).toBeCloseTo(2 / 3);
  });
});

describe('the simulated phone line', () => {
  const tone = (n: number, amp: number) =>
    Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * 1000 * i) / 8000)));

  it('is the plain G.711 decode when clean', () => {
    const mulaw = encodeMulaw(tone(1600, 8000));
    expect(phoneLine(mulaw, { seed: 1 })).toEqual(decodeMulaw(mulaw));
  });

  it('adds noise at the SNR asked for, against the speech level with the pauses left out', () => {
    // Half tone, half silence: the noise is 20 dB under the tone itself, not under the average over the pause.
    const clean = new Int16Array(16000);
    clean.set(tone(8000, 8000));
    const mulaw = encodeMulaw(clean);
    const noisy = phoneLine(mulaw, { seed: 7, snrDb: 20 });
    const decoded = decodeMulaw(mulaw);
    const rms = (x: Int16Array) => Math.sqrt(x.reduce((a, s) => a + s * s, 0) / x.length);
    const noiseRms = rms(Int16Array.from(noisy.subarray(8000), (s, i) => s - decoded[8000 + i]!));
    const snr = 20 * Math.log10(rms(decoded.subarray(0, 8000)) / noiseRms);
    expect(snr).toBeGreaterThan(19);
    expect(snr).toBeLessThan(21);
    expect(activeRms(toFloat(decoded)) * 32768).toBeCloseTo(rms(decoded.subarray(0, 8000)), -1);
  });

  it('loses whole 20 ms frames at the rate asked for, the same ones for the same seed', () => {
    const mulaw = encodeMulaw(tone(160 * 500, 8000));
    const a = phoneLine(mulaw, { seed: 3, loss: 0.2 });
    const same = (x: Int16Array, y: Int16Array) => Buffer.from(x.buffer).equals(Buffer.from(y.buffer));
    const lost = (pcm: Int16Array) => {
      let n = 0;
      for (let i = 0; i < pcm.length; i += 160) if (pcm.subarray(i, i + 160).every((s) => s === 0)) n++;
      return n;
    };
    expect(lost(a)).toBeGreaterThan(60);
    expect(lost(a)).toBeLessThan(140);
    expect(same(phoneLine(mulaw, { seed: 3, loss: 0.2 }), a)).toBe(true);
    expect(same(phoneLine(mulaw, { seed: 4, loss: 0.2 }), a)).toBe(false);
  });

  it('writes a 16-bit mono WAV file', () => {
    const wav = wavFile(Int16Array.from([0, 1, -1]), 8000);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(24)).toBe(8000);
    expect(wav.readInt16LE(44 + 4)).toBe(-1);
    expect(wav.length).toBe(44 + 6);
  });
});

describe('readings for the listener', () => {
  it('cuts the two reads out of a reading composed as the service composes it', () => {
    const dir = shortClipSetDir();
    dirs.push(dir);
    const clips = loadClipSet(dir);
    const segments = composeReading('605992674944', clips, { pace: 1 });
    const audio = concatSegments(segments);
    const ranges = readRanges(segments);
    expect(ranges).toHaveLength(2);
    const names = readingText(segments);
    expect(names[0]).toBe('prompt-intro-digits');
    // Each range starts at a '6' clip and ends after a '4' clip, and holds no prompt.
    const six = clips.get('6').audio;
    const four = clips.get('4').audio;
    for (const [start, end] of ranges) {
      expect(audio.subarray(start, start + six.length)).toEqual(six);
      expect(audio.subarray(end - four.length, end)).toEqual(four);
    }
    expect(ranges[0]![1]).toBeLessThan(ranges[1]![0]);
  });

  it('gives the listener both reads with "Again." and a little pause, never the intro or the repeat prompt', () => {
    const dir = shortClipSetDir(25); // 0.5 s a clip: a reading long enough to pass 30 s at slow paces
    dirs.push(dir);
    const clips = loadClipSet(dir);
    const intro = clips.get('prompt-intro-digits').audio;
    const repeat = clips.get('prompt-repeat').audio;
    const window = 29.5 * 8000;
    for (const pace of [0.5, 1, 2]) {
      const segments = composeReading('605992674944', clips, { pace });
      const audio = concatSegments(segments);
      const [first, second] = readRanges(segments);
      const cuts = listenerCuts(segments, pace);
      for (const [start, end] of cuts) {
        expect(start).toBeGreaterThanOrEqual(intro.length);
        expect(end).toBeLessThanOrEqual(audio.length - repeat.length);
        expect(end - start).toBeLessThanOrEqual(window);
      }
      expect(cuts[0]![0]).toBeLessThan(first![0]);
      expect(cuts[cuts.length - 1]![1]).toBeGreaterThan(second![1]);
      // The whole reading in one window when it fits, each read on its own when it does not.
      expect(cuts).toHaveLength(second![1] - first![0] + 2 * 0.3 * 8000 <= window ? 1 : 2);
    }
    expect(listenerCuts(composeReading('605992674944', clips, { pace: 2 }), 2)).toHaveLength(2);
    expect(listenerCuts(composeReading('605992674944', clips, { pace: 0.5 }), 0.5)).toHaveLength(1);
  });

  it('names clip sets uniquely', () => {
    expect(setNames(['/r/assets/clips', '/x/a/clips', '/x/b/clips', '/y/committed'], '/r')).toEqual([
      'committed',
      'clips',
      'clips#2',
      'committed#2',
    ]);
  });

  it('makes the same passphrases for the same seed, in the format asked for', () => {
    const a = benchPassphrases('digits', 5, 1);
    expect(a).toEqual(benchPassphrases('digits', 5, 1));
    for (const p of a) expect(p).toMatch(/^[0-9]{12}$/);
    for (const p of benchPassphrases('letters', 5, 1)) expect(p).toMatch(/^[a-z]{9}$/);
  });
});

describe('the listener install', () => {
  it('says how to install when nothing is there, and refuses a model that is not the published one', () => {
    const root = mkdtempSync(join(tmpdir(), 'listen-root-'));
    dirs.push(root);
    const missing = listenerInstall(root);
    expect(missing).toEqual({ missing: expect.stringContaining('npm run listen:install') });
    const model = mkdtempSync(join(tmpdir(), 'listen-model-'));
    dirs.push(model);
    for (const [file, want] of Object.entries(MODEL.files))
      writeFileSync(join(model, file), Buffer.alloc(file === 'config.json' ? want.bytes : 1));
    const problems = modelProblems(model);
    expect(problems).toContain(`config.json's SHA-256 is not ${MODEL.files['config.json'].sha256}`);
    expect(problems.some((p) => p.startsWith('model.bin is 1 bytes'))).toBe(true);
  });
});
