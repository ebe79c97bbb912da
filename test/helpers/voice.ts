// Voice test helpers: a short clip set (every clip three 20 ms frames of distinct noise) so a whole reading plays in
// a few seconds of real time; the committed set makes it last ~30 s (research: pace 0.5).
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeClipSet } from '../../src/voice/clips.js';
import { FRAME_BYTES } from '../../src/voice/types.js';
import { CLIP_VOCABULARY, SERVICE_CLIP_NAMES } from '../../src/voice/vocabulary.js';

/** Writes the short clip set into a fresh temporary directory and returns it (for VOICE_CLIPS_DIR). */
export function shortClipSetDir(frames = 3): string {
  const dir = mkdtempSync(join(tmpdir(), 'ots-handoff-clips-'));
  writeClipSet(
    dir,
    'test-short',
    SERVICE_CLIP_NAMES.map((name) => {
      // Deterministic bytes in 0x00–0x6F (loud μ-law codes, never near-silence), different for every clip.
      const audio = Buffer.alloc(frames * FRAME_BYTES);
      let block = Buffer.alloc(0);
      for (let i = 0; i < audio.length; i++) {
        if (i % 32 === 0) block = createHash('sha256').update(`${name}:${i}`).digest();
        audio[i] = block[i % 32]! % 0x70;
      }
      return { name, text: CLIP_VOCABULARY[name]!, audio, source: 'test noise' };
    }),
  );
  return dir;
}

/** Polls `cond` every `everyMs` until it holds; throws "timed out waiting for <what>" after `timeoutMs`. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
