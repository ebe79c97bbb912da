// Clip sets on disk: the committed set in assets/clips (made by scripts/voice/make-clips.ts) and any set in the same
// format, such as the one synthesised once through Deepgram TTS into a cache directory.
//
// Format of a clip-set directory:
//   manifest.json  {
//                    "format": 1,
//                    "id": "committed" | "deepgram:<model>" | …,      // becomes ClipSet.id
//                    "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, "frameBytes": 160,
//                    "synthesis": { … },                               // optional: how the set was made, below
//                    "clips": [ { "name": "7", "text": "seven", "bytes": 3040,
//                                 "sha256": "<hex of the .ulaw file>", "source": "festival 2.5.0 …" }, … ]
//                  }
//   <name>.ulaw    raw G.711 μ-law, 8 kHz, mono, no header (a WAV header would play as a click; docs/voice.md,
//                  "G.711 μ-law"),
//                  trimmed of leading/trailing silence, padded with 0xFF to a multiple of 160 bytes (whole 20 ms
//                  frames), and its first frame differs from every other clip's first frame (the recogniser,
//                  src/voice/recognizer.ts, tells clips apart by it).
//   other files    ignored by the loader, e.g. LICENSE-voice.txt, the licence of the voice that spoke the clips.
// Names match CLIP_NAME_PATTERN, so `<name>.ulaw` never leaves the directory.
//
// `synthesis` (written by scripts/voice/make-clips.ts; a set without it loads the same):
//   { "engine": "festival" | "flite" | "espeak-ng", "voice": "cmu_us_slt_arctic_hts", "stretch": 1,
//     "versions": { "festival": "2.5.0", "debian:festvox-us-slt-hts": "0.2010.10.25-4", … },  // program and Debian packages
//     "tuning": { "highPassHz": 300, … },              // scripts/voice/dsp.ts PHONE_TUNING as used
//     "license": { "name": "<SPDX-like expression>", "summary": "<one paragraph>", "file": "LICENSE-voice.txt" } }
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { FRAME_BYTES, MULAW_SILENCE, SAMPLE_RATE, type Clip, type ClipSet } from './types.js';
import { CLIP_NAME_PATTERN, SERVICE_CLIP_NAMES } from './vocabulary.js';

/** The committed clip set (assets/clips at the repository root). */
export const DEFAULT_CLIP_DIR = fileURLToPath(new URL('../../assets/clips', import.meta.url));
export const MANIFEST_FILE = 'manifest.json';
/** μ-law's other code for a zero sample. */
const MULAW_NEGATIVE_ZERO = 0x7f;

const clipEntrySchema = z.object({
  name: z.string().regex(CLIP_NAME_PATTERN, 'a clip name is lower-case letters, digits and inner "-"'),
  text: z.string().min(1),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lower-case hex digits'),
  source: z.string().min(1),
});

/** A file beside the clips that is not a clip or the manifest (e.g. VOICE_LICENSE_FILE): a plain file name. */
const EXTRA_FILE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The licence of the voice that spoke a set, written beside its clips by scripts/voice/make-clips.ts. */
export const VOICE_LICENSE_FILE = 'LICENSE-voice.txt';

/** How a set was made (the `synthesis` block above); informational, the loader checks only its shape. */
const synthesisSchema = z.object({
  engine: z.string().min(1),
  voice: z.string().min(1),
  stretch: z.number().positive(),
  versions: z.record(z.string(), z.string()),
  tuning: z.record(z.string(), z.union([z.number(), z.string()])),
  license: z.object({
    name: z.string().min(1),
    summary: z.string().min(1),
    file: z.string().regex(EXTRA_FILE_PATTERN, 'the licence file is a plain file name in the set').optional(),
  }),
});

export const clipManifestSchema = z.object({
  format: z.literal(1),
  id: z.string().min(1),
  encoding: z.literal('audio/x-mulaw'),
  sampleRate: z.literal(SAMPLE_RATE),
  channels: z.literal(1),
  frameBytes: z.literal(FRAME_BYTES),
  synthesis: synthesisSchema.optional(),
  clips: z.array(clipEntrySchema).min(1),
});

export type ClipManifest = z.infer<typeof clipManifestSchema>;
export type ClipSynthesis = z.infer<typeof synthesisSchema>;
export type ClipManifestEntry = z.infer<typeof clipEntrySchema>;

export type ClipSetErrorCode =
  | 'CLIP_MANIFEST_MISSING'
  | 'CLIP_MANIFEST_INVALID'
  | 'CLIP_MISSING'
  | 'CLIP_CHECKSUM_MISMATCH'
  | 'CLIP_LENGTH_INVALID'
  | 'CLIP_FIRST_FRAME_NOT_UNIQUE'
  | 'CLIP_STARTS_SILENT'
  | 'CLIP_REQUIRED_MISSING'
  | 'CLIP_UNKNOWN';

/** A clip set that cannot be used; `clip` names the offending clip when there is one. */
export class ClipSetError extends Error {
  constructor(
    readonly code: ClipSetErrorCode,
    message: string,
    readonly clip?: string,
  ) {
    super(message);
    this.name = 'ClipSetError';
  }
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** An in-memory ClipSet over already checked clips. */
export function clipSetOf(id: string, clips: Iterable<Clip>): ClipSet {
  const byName = new Map<string, Clip>();
  for (const clip of clips) byName.set(clip.name, clip);
  return {
    id,
    has: (name) => byName.has(name),
    get(name) {
      const clip = byName.get(name);
      if (!clip) throw new ClipSetError('CLIP_UNKNOWN', `clip set "${id}" has no clip named "${name}"`, name);
      return clip;
    },
    names: () => [...byName.keys()],
  };
}

/**
 * Throws unless every clip's audio is whole frames, its first frame is not pure silence, and its first frame differs
 * from every other clip's first frame (the recogniser starts matching a clip on its first frame).
 */
export function checkClipFrames(clips: Iterable<Clip>): void {
  const firstFrames = new Map<string, string>();
  for (const { name, audio } of clips) {
    if (audio.length === 0 || audio.length % FRAME_BYTES !== 0) {
      throw new ClipSetError(
        'CLIP_LENGTH_INVALID',
        `clip "${name}" is ${audio.length} bytes, not a positive multiple of ${FRAME_BYTES} (whole 20 ms frames)`,
        name,
      );
    }
    const first = audio.subarray(0, FRAME_BYTES);
    if (first.every((b) => b === MULAW_SILENCE || b === MULAW_NEGATIVE_ZERO)) {
      throw new ClipSetError(
        'CLIP_STARTS_SILENT',
        `clip "${name}" starts with a silent frame; trim its leading silence (it could not be told from a pause)`,
        name,
      );
    }
    const key = first.toString('base64');
    const other = firstFrames.get(key);
    if (other !== undefined) {
      throw new ClipSetError(
        'CLIP_FIRST_FRAME_NOT_UNIQUE',
        `clips "${other}" and "${name}" start with the same 20 ms frame, so they cannot be told apart; re-synthesise one of them`,
        name,
      );
    }
    firstFrames.set(key, name);
  }
}

export interface LoadClipSetOptions {
  /** Names that must be present (default: every clip the service speaks, SERVICE_CLIP_NAMES). */
  required?: readonly string[];
}

/**
 * Loads and checks a clip-set directory (default: the committed assets/clips). Every listed file must exist, match
 * its sha256 and byte count, be whole 160-byte frames, and start with a frame no other clip starts with. Errors are
 * ClipSetErrors naming the clip and the directory.
 */
export function loadClipSet(dir: string = DEFAULT_CLIP_DIR, opts: LoadClipSetOptions = {}): ClipSet {
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) {
    throw new ClipSetError('CLIP_MANIFEST_MISSING', `no ${MANIFEST_FILE} in clip directory ${dir}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new ClipSetError('CLIP_MANIFEST_INVALID', `${manifestPath} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = clipManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') || '(root)' : '(root)';
    throw new ClipSetError('CLIP_MANIFEST_INVALID', `${manifestPath}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const manifest = parsed.data;
  const clips: Clip[] = [];
  const seen = new Set<string>();
  for (const entry of manifest.clips) {
    if (seen.has(entry.name)) {
      throw new ClipSetError('CLIP_MANIFEST_INVALID', `${manifestPath} lists clip "${entry.name}" twice`, entry.name);
    }
    seen.add(entry.name);
    const file = join(dir, `${entry.name}.ulaw`);
    if (!existsSync(file)) {
      throw new ClipSetError(
        'CLIP_MISSING',
        `clip "${entry.name}" is listed in ${manifestPath} but ${file} does not exist`,
        entry.name,
      );
    }
    const audio = readFileSync(file);
    if (sha256Hex(audio) !== entry.sha256 || audio.length !== entry.bytes) {
      throw new ClipSetError(
        'CLIP_CHECKSUM_MISMATCH',
        `clip "${entry.name}" (${file}) does not match its manifest entry (sha256 or size differ); regenerate the set`,
        entry.name,
      );
    }
    clips.push({ name: entry.name, audio });
  }
  checkClipFrames(clips);
  for (const name of opts.required ?? SERVICE_CLIP_NAMES) {
    if (!seen.has(name)) {
      throw new ClipSetError('CLIP_REQUIRED_MISSING', `clip set in ${dir} has no clip "${name}"`, name);
    }
  }
  return clipSetOf(manifest.id, clips);
}

export interface ClipToWrite extends Clip {
  text: string;
  source: string;
}

export interface WriteClipSetOptions {
  /** Recorded as the manifest's `synthesis` block. */
  synthesis?: ClipSynthesis;
  /** Other files to write beside the clips (file name → text), e.g. { [VOICE_LICENSE_FILE]: licence }. */
  files?: Record<string, string>;
}

/**
 * Writes a clip-set directory in the format above (the maintainer's make-clips script; a TTS cache). Checks the clips
 * first, writes the audio files and any extra files, then the manifest last through a rename, so a reader never sees
 * a manifest naming files that are not there yet.
 */
export function writeClipSet(
  dir: string,
  id: string,
  clips: readonly ClipToWrite[],
  opts: WriteClipSetOptions = {},
): ClipManifest {
  checkClipFrames(clips);
  for (const { name } of clips) {
    if (!CLIP_NAME_PATTERN.test(name))
      throw new ClipSetError('CLIP_MANIFEST_INVALID', `"${name}" is not a valid clip name`, name);
  }
  const files = Object.entries(opts.files ?? {});
  for (const [file] of files) {
    if (!EXTRA_FILE_PATTERN.test(file) || file === MANIFEST_FILE || /\.(ulaw|tmp)$/.test(file)) {
      throw new ClipSetError('CLIP_MANIFEST_INVALID', `"${file}" cannot be written beside the clips`);
    }
  }
  mkdirSync(dir, { recursive: true });
  const manifest: ClipManifest = {
    format: 1,
    id,
    encoding: 'audio/x-mulaw',
    sampleRate: SAMPLE_RATE,
    channels: 1,
    frameBytes: FRAME_BYTES,
    ...(opts.synthesis ? { synthesis: synthesisSchema.parse(opts.synthesis) } : {}),
    clips: clips.map(({ name, text, source, audio }) => ({
      name,
      text,
      bytes: audio.length,
      sha256: sha256Hex(audio),
      source,
    })),
  };
  for (const { name, audio } of clips) writeFileSync(join(dir, `${name}.ulaw`), audio);
  for (const [file, text] of files) writeFileSync(join(dir, file), text);
  const tmp = join(dir, `${MANIFEST_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, join(dir, MANIFEST_FILE));
  return manifest;
}
