// Clip synthesis through Deepgram REST TTS, against the local fake on loopback.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { synthesizeClipSet, trimAndPad, TtsClipError } from '../../src/deepgram/tts-clips.js';
import { createDeepgramFake } from '../../src/sandbox/index.js';
import { captureLog } from '../helpers/log-capture.js';

const KEY = 'dg-tts-key-0123456789';
const VOCAB = { '7': 'seven', a: 'Alpha', 'passphrase-intro': 'Your passphrase is twelve digits.' };
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup() {
  const fake = createDeepgramFake({ apiKey: KEY });
  const server = await fake.listen();
  const dir = mkdtempSync(join(tmpdir(), 'dg-clips-'));
  const { log, lines: logs } = captureLog('info');
  cleanups.push(
    () => server.close(),
    () => rmSync(dir, { recursive: true, force: true }),
  );
  return { fake, baseUrl: server.baseUrl, dir, log, logs };
}

describe('synthesizeClipSet', () => {
  it('writes trimmed whole-frame clips and a manifest in the clip-set format', async () => {
    const { fake, baseUrl, dir, log } = await setup();
    const out = await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log });
    expect(out).toEqual({ dir, created: 3, cached: 0 });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 1,
      id: 'deepgram:aura-2-thalia-en',
      source: 'deepgram:aura-2-thalia-en',
      encoding: 'audio/x-mulaw',
      sampleRate: 8000,
      channels: 1,
      frameBytes: 160,
    });
    expect(manifest.clips.map((c: { name: string }) => c.name)).toEqual(['7', 'a', 'passphrase-intro']);
    for (const clip of manifest.clips) {
      const audio = readFileSync(join(dir, clip.file));
      expect(clip.file).toBe(`${clip.name}.ulaw`);
      expect(clip.text).toBe(VOCAB[clip.name as keyof typeof VOCAB]);
      expect(clip.source).toBe('deepgram:aura-2-thalia-en');
      expect(audio.length).toBe(clip.bytes);
      expect(audio.length % 160).toBe(0);
      expect(createHash('sha256').update(audio).digest('hex')).toBe(clip.sha256);
      // the fake's two leading frames of silence are gone, bar the 10 ms kept before the speech
      expect(audio.subarray(0, 80).every((b) => b === 0xff)).toBe(true);
      expect(audio[80]).not.toBe(0xff);
    }
    for (const req of fake.requests()) {
      expect(req).toMatchObject({ kind: 'speak', path: '/v1/speak', authOk: true, status: 200 });
      expect(req.query).toMatchObject({
        model: ['aura-2-thalia-en'],
        encoding: ['mulaw'],
        sample_rate: ['8000'],
        container: ['none'],
      });
    }
  });

  it('a second run makes no request; a changed text or voice speed re-requests only what changed', async () => {
    const { fake, baseUrl, dir, log } = await setup();
    await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log });
    expect(fake.requests()).toHaveLength(3);
    expect(await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log })).toMatchObject({
      created: 0,
      cached: 3,
    });
    expect(fake.requests()).toHaveLength(3);
    expect(
      await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: { ...VOCAB, '7': 'Seven.' }, log }),
    ).toMatchObject({ created: 1, cached: 2 });
    expect(JSON.parse(fake.requests()[3]!.body!)).toEqual({ text: 'Seven.' });
    expect(await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log, speed: 0.9 })).toMatchObject({
      created: 3,
      cached: 0,
    });
    expect(fake.requests()[4]!.query.speed).toEqual(['0.9']);
  });

  it('a clip file changed on disk is synthesised again', async () => {
    const { fake, baseUrl, dir, log } = await setup();
    await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log });
    writeFileSync(join(dir, 'a.ulaw'), Buffer.alloc(160, 0x10));
    expect(await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log })).toMatchObject({
      created: 1,
      cached: 2,
    });
    expect(JSON.parse(fake.requests()[3]!.body!)).toEqual({ text: 'Alpha' });
  });

  it('only the vocabulary text ever reaches Deepgram, and logs hold clip names, not text', async () => {
    const { fake, baseUrl, dir, log, logs } = await setup();
    await synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: VOCAB, log });
    const bodies = fake.requests().map((r) => JSON.parse(r.body!));
    expect(bodies.map((b) => b.text).sort()).toEqual(Object.values(VOCAB).sort());
    for (const b of bodies) expect(Object.keys(b)).toEqual(['text']);
    expect(logs.join('')).not.toContain('Your passphrase is');
  });

  it('a rejected key is a TtsClipError naming the clip and status, and nothing is cached', async () => {
    const { baseUrl, dir, log } = await setup();
    const err = await synthesizeClipSet({ apiKey: 'wrong', baseUrl, dir, vocabulary: VOCAB, log }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TtsClipError);
    expect(err).toMatchObject({ code: 'TTS_REQUEST_FAILED' });
    expect((err as Error).message).toContain('401');
  });

  it('refuses a clip name that could leave the directory before sending anything', async () => {
    const { fake, baseUrl, dir, log } = await setup();
    await expect(
      synthesizeClipSet({ apiKey: KEY, baseUrl, dir, vocabulary: { '../evil': 'x' }, log }),
    ).rejects.toMatchObject({ code: 'TTS_CLIP_NAME_INVALID' });
    expect(fake.requests()).toHaveLength(0);
  });
});

describe('trimAndPad', () => {
  it('drops near-silence (0xFF, 0x7F and the rest of the lowest μ-law segment) at both ends, keeps 10 ms, pads with 0xFF', () => {
    const speech = Buffer.from([0x10, 0x90, 0x20, 0xa0, 0x7e, 0x30]);
    const raw = Buffer.concat([Buffer.alloc(400, 0xff), Buffer.alloc(100, 0x7f), speech, Buffer.alloc(300, 0xfe)]);
    const out = trimAndPad(raw);
    expect(out.length).toBe(320); // 80 + 6 + 80 = 166 → two frames
    expect(out.subarray(80, 86)).toEqual(speech);
    expect(out.subarray(0, 80).every((b) => b === 0x7f || b === 0xff)).toBe(true);
    expect(out.subarray(166).every((b) => b === 0xff)).toBe(true);
  });
  it('returns nothing for all-silent audio', () => {
    expect(trimAndPad(Buffer.alloc(1600, 0xff)).length).toBe(0);
  });
});
