// Makes the committed clip set, assets/clips/<name>.ulaw + manifest.json, from CLIP_VOCABULARY with espeak-ng.
// A maintainer's tool only: the service and the tests read the committed files and never run it.
//
// Regenerate (after changing src/voice/vocabulary.ts, or to change the voice):
//   apt-get install -y espeak-ng          # Debian/Ubuntu; any espeak-ng ≥ 1.50 works
//   npx tsx scripts/voice/make-clips.ts   # optional: --out <dir> (default assets/clips)
// then run `npx vitest run test/unit/voice-clips.test.ts` and commit assets/clips. Different espeak-ng versions give
// different bytes, so the whole set is regenerated together; the manifest records the version.
//
// Per clip: espeak-ng (US English, slightly slow) -> 16-bit WAV -> mono -> resampled to 8 kHz -> peak-normalised ->
// G.711 μ-law -> leading/trailing near-silence trimmed -> padded with silence to whole 160-byte frames. The script
// fails if two clips start with the same frame (the recogniser tells clips apart by their first frame).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLIP_DIR, writeClipSet, type ClipToWrite } from '../../src/voice/clips.js';
import { encodeMulaw, padToFrame, trimSilence } from '../../src/voice/mulaw.js';
import { SAMPLE_RATE } from '../../src/voice/types.js';
import { CLIP_VOCABULARY } from '../../src/voice/vocabulary.js';
import { normalizePeak, parseWav, resample } from './wav.js';

const VOICE = 'en-us';
const WORDS_PER_MINUTE = '150';

function espeakVersion(): string {
  let out: string;
  try {
    out = execFileSync('espeak-ng', ['--version'], { encoding: 'utf8' });
  } catch {
    throw new Error('espeak-ng is not installed; install it first (apt-get install -y espeak-ng)');
  }
  const m = /(\d+\.\d+(?:\.\d+)?)/.exec(out);
  return m?.[1] ?? 'unknown';
}

function synthesise(text: string, work: string, source: string, name: string): ClipToWrite {
  const wavPath = join(work, `${name}.wav`);
  // Arguments as an array, no shell: the text is passed verbatim.
  execFileSync('espeak-ng', ['-v', VOICE, '-s', WORDS_PER_MINUTE, '-w', wavPath, text]);
  const wav = parseWav(readFileSync(wavPath));
  const pcm = normalizePeak(resample(wav.samples, wav.sampleRate, SAMPLE_RATE));
  const audio = padToFrame(trimSilence(encodeMulaw(pcm)));
  if (audio.length === 0) throw new Error(`espeak-ng produced only silence for clip "${name}"`);
  return { name, text, source, audio };
}

function main(): void {
  const outIdx = process.argv.indexOf('--out');
  const out = outIdx > 0 ? process.argv[outIdx + 1] : DEFAULT_CLIP_DIR;
  if (!out) throw new Error('--out needs a directory');
  const source = `espeak-ng ${espeakVersion()}`;
  const work = mkdtempSync(join(tmpdir(), 'make-clips-'));
  try {
    const clips = Object.entries(CLIP_VOCABULARY).map(([name, text]) => synthesise(text, work, source, name));
    const manifest = writeClipSet(out, 'committed', clips); // throws if two clips share a first frame
    const total = manifest.clips.reduce((n, c) => n + c.bytes, 0);
    console.log(
      `wrote ${manifest.clips.length} clips (${total} bytes, ${(total / SAMPLE_RATE).toFixed(1)} s) to ${out} with ${source}`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
