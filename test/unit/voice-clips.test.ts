// The committed clip set and the clip-set loader: a set that is stale, tampered with or malformed is refused with an
// error naming the clip.
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClipSetError,
  DEFAULT_CLIP_DIR,
  loadClipSet,
  sha256Hex,
  writeClipSet,
  type ClipToWrite,
} from '../../src/voice/clips.js';
import { PHONE_TUNING } from '../../scripts/voice/dsp.js';
import { decodeMulaw } from '../../src/voice/mulaw.js';
import { FRAME_BYTES } from '../../src/voice/types.js';
import { CLIP_VOCABULARY, SERVICE_CLIP_NAMES } from '../../src/voice/vocabulary.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'clips-test-'));
  dirs.push(d);
  return d;
}

function copyCommitted(): string {
  const d = tempDir();
  for (const f of readdirSync(DEFAULT_CLIP_DIR)) copyFileSync(join(DEFAULT_CLIP_DIR, f), join(d, f));
  return d;
}

function clip(name: string, fill: number, frames = 1): ClipToWrite {
  return { name, text: name, source: 'test', audio: Buffer.alloc(frames * FRAME_BYTES, fill) };
}

function loadError(dir: string, opts?: Parameters<typeof loadClipSet>[1]): ClipSetError {
  try {
    loadClipSet(dir, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ClipSetError);
    return err as ClipSetError;
  }
  throw new Error('loadClipSet accepted the set');
}

describe('committed clip set', () => {
  it('loads by default and has every vocabulary entry, in whole frames', () => {
    const set = loadClipSet();
    expect(set.id).toBe('committed');
    expect(set.names().sort()).toEqual(Object.keys(CLIP_VOCABULARY).sort());
    for (const name of set.names()) expect(set.get(name).audio.length % FRAME_BYTES).toBe(0);
  });

  it('was made by the clip maker from the current vocabulary text, with its voice licence beside it (regenerate with scripts/voice/make-clips.ts when this fails)', () => {
    const manifest = JSON.parse(readFileSync(join(DEFAULT_CLIP_DIR, 'manifest.json'), 'utf8')) as {
      clips: { name: string; text: string; source: string }[];
      synthesis?: { engine: string; voice: string; tuning: unknown; license: { name: string; file: string } };
    };
    expect(Object.fromEntries(manifest.clips.map((c) => [c.name, c.text]))).toEqual(CLIP_VOCABULARY);
    const synthesis = manifest.synthesis;
    expect(synthesis, 'the committed set records how it was made').toBeDefined();
    for (const c of manifest.clips) expect(c.source.startsWith(`${synthesis!.engine} `), c.name).toBe(true);
    // The clips had the phone tuning the clip maker applies today (regenerate the set after changing PHONE_TUNING).
    expect(synthesis!.tuning).toEqual(PHONE_TUNING);
    const licence = readFileSync(join(DEFAULT_CLIP_DIR, synthesis!.license.file), 'utf8');
    expect(licence.length).toBeGreaterThan(500);
    expect(synthesis!.license.name).not.toBe('');
  });

  it('stays small and every clip has sound in its first frame (the lead-in and fade are shorter than a frame)', () => {
    const set = loadClipSet();
    const total = set.names().reduce((n, name) => n + set.get(name).audio.length, 0);
    expect(total).toBeLessThan(500_000);
    // The clip maker trims at 45 dB under the clip's peak and keeps 10 ms before the first sound
    // (scripts/voice/dsp.ts PHONE_TUNING): so the first frame reaches that level, even for a weak "f" ("four").
    const peakOf = (audio: Buffer) => decodeMulaw(audio).reduce((m, s) => Math.max(m, Math.abs(s)), 0);
    for (const name of set.names()) {
      const audio = set.get(name).audio;
      expect(peakOf(audio.subarray(0, FRAME_BYTES)), name).toBeGreaterThanOrEqual(peakOf(audio) * 10 ** (-46 / 20));
    }
  });

  it('get() of an unknown name throws a typed error naming it', () => {
    expect(() => loadClipSet().get('prompt-nonexistent')).toThrow(/no clip named "prompt-nonexistent"/);
  });
});

describe('loadClipSet on another directory', () => {
  it('round-trips a set written by writeClipSet, with its id', () => {
    const d = tempDir();
    writeClipSet(d, 'deepgram:aura-2-test', [clip('1', 0x10), clip('a', 0x20, 2)]);
    const set = loadClipSet(d, { required: ['1', 'a'] });
    expect(set.id).toBe('deepgram:aura-2-test');
    expect(set.get('a').audio).toEqual(Buffer.alloc(320, 0x20));
  });

  it('refuses a directory without a manifest, or with an invalid one', () => {
    const d = tempDir();
    expect(loadError(d).code).toBe('CLIP_MANIFEST_MISSING');
    writeFileSync(join(d, 'manifest.json'), '{not json');
    expect(loadError(d).code).toBe('CLIP_MANIFEST_INVALID');
    writeFileSync(
      join(d, 'manifest.json'),
      JSON.stringify({
        format: 1,
        id: 'x',
        encoding: 'audio/wav',
        sampleRate: 8000,
        channels: 1,
        frameBytes: 160,
        clips: [],
      }),
    );
    expect(loadError(d).message).toMatch(/encoding/);
  });

  it('refuses a clip name that could leave the directory', () => {
    const d = tempDir();
    writeClipSet(d, 'x', [clip('1', 0x10)]);
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    m.clips[0].name = '../1';
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    expect(loadError(d, { required: [] }).message).toMatch(/clips\.0\.name/);
  });

  it('names the clip whose file is missing', () => {
    const d = copyCommitted();
    rmSync(join(d, '7.ulaw'));
    const err = loadError(d);
    expect(err.code).toBe('CLIP_MISSING');
    expect(err.clip).toBe('7');
    expect(err.message).toContain('clip "7"');
  });

  it('names the clip whose bytes do not match the manifest', () => {
    const d = copyCommitted();
    const f = join(d, 'x.ulaw');
    const audio = readFileSync(f);
    audio[10] = (audio[10] as number) ^ 1;
    writeFileSync(f, audio);
    const err = loadError(d);
    expect(err.code).toBe('CLIP_CHECKSUM_MISMATCH');
    expect(err.clip).toBe('x');
  });

  it('refuses a clip that is not whole 160-byte frames, even with a matching manifest', () => {
    const d = tempDir();
    writeClipSet(d, 'x', [clip('1', 0x10)]);
    const odd = Buffer.alloc(170, 0x11);
    writeFileSync(join(d, '1.ulaw'), odd);
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    m.clips[0].bytes = 170;
    m.clips[0].sha256 = sha256Hex(odd);
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    const err = loadError(d, { required: [] });
    expect(err.code).toBe('CLIP_LENGTH_INVALID');
    expect(err.message).toContain('clip "1" is 170 bytes');
  });

  it('refuses two clips with the same first frame, when writing and when loading', () => {
    expect(() => writeClipSet(tempDir(), 'x', [clip('1', 0x10), clip('2', 0x10, 2)])).toThrow(
      /"1" and "2" start with the same 20 ms frame/,
    );
    const d = tempDir();
    writeClipSet(d, 'x', [clip('1', 0x10), clip('2', 0x20)]);
    writeFileSync(join(d, '2.ulaw'), Buffer.alloc(FRAME_BYTES, 0x10));
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    m.clips[1].sha256 = sha256Hex(Buffer.alloc(FRAME_BYTES, 0x10));
    writeFileSync(join(d, 'manifest.json'), JSON.stringify(m));
    const err = loadError(d, { required: [] });
    expect(err.code).toBe('CLIP_FIRST_FRAME_NOT_UNIQUE');
    expect(err.clip).toBe('2');
  });

  it('refuses a clip that starts with a silent frame (a pause would look like its start)', () => {
    const silentStart = {
      name: '3',
      text: 'three',
      source: 'test',
      audio: Buffer.concat([Buffer.alloc(FRAME_BYTES, 0xff), Buffer.alloc(FRAME_BYTES, 9)]),
    };
    expect(() => writeClipSet(tempDir(), 'x', [clip('1', 0x10), silentStart])).toThrow(
      /clip "3" starts with a silent frame/,
    );
  });

  it('refuses a set that lacks a clip the service speaks', () => {
    const d = tempDir();
    writeClipSet(d, 'x', [clip('1', 0x10)]);
    const err = loadError(d);
    expect(err.code).toBe('CLIP_REQUIRED_MISSING');
    expect(SERVICE_CLIP_NAMES).toContain(err.clip);
  });
});
