// VOICE_CLIPS=deepgram: the service synthesises its fixed vocabulary once through Deepgram TTS (here a local fake
// speaking Deepgram's REST protocol), caches it under DATA_DIR and speaks from it; a restart asks for nothing again.
// Only the vocabulary's words ever reach Deepgram.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeepgramFake } from '../../src/sandbox/index.js';
import { CLIP_VOCABULARY, SERVICE_CLIP_NAMES } from '../../src/voice/vocabulary.js';
import { startTestService } from '../helpers/service.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ots-handoff-dgclips-'));
const fake = createDeepgramFake({ apiKey: 'dg-test-key-0123456789' });
const server = await fake.listen();
afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Deepgram TTS clip set', () => {
  it('is synthesised once from the fixed vocabulary, cached in DATA_DIR, and reused after a restart', async () => {
    const env = {
      VOICE_CLIPS: 'deepgram',
      DEEPGRAM_API_KEY: 'dg-test-key-0123456789',
      DEEPGRAM_BASE_URL: server.baseUrl,
      DATA_DIR: dataDir,
    };
    const first = await startTestService(env);
    try {
      expect(first.voice.clips.id).toBe('deepgram:aura-2-thalia-en');
      expect(first.voice.clips.names().sort()).toEqual([...SERVICE_CLIP_NAMES].sort());
    } finally {
      await first.stop();
    }
    const speak = fake.requests().filter((r) => r.kind === 'speak');
    expect(speak).toHaveLength(SERVICE_CLIP_NAMES.length);
    const vocabulary = new Set(SERVICE_CLIP_NAMES.map((n) => CLIP_VOCABULARY[n]));
    for (const r of speak) {
      expect(r.authOk).toBe(true);
      expect(r.query).toMatchObject({
        encoding: ['mulaw'],
        sample_rate: ['8000'],
        container: ['none'],
        model: ['aura-2-thalia-en'],
      });
      expect(vocabulary.has(JSON.parse(r.body!).text)).toBe(true);
    }

    const second = await startTestService(env);
    try {
      expect(second.voice.clips.id).toBe('deepgram:aura-2-thalia-en');
    } finally {
      await second.stop();
    }
    expect(fake.requests().filter((r) => r.kind === 'speak')).toHaveLength(SERVICE_CLIP_NAMES.length);
  });

  it('a broken clip set stops start-up with the clip named', async () => {
    await expect(startTestService({ VOICE_CLIPS_DIR: join(dataDir, 'nowhere') })).rejects.toThrow(
      /voice clips: .*nowhere/,
    );
  });
});
