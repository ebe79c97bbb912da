// A clip set synthesised ONCE through Deepgram REST TTS and cached on disk (docs/deepgram.md, "Text to speech"):
// only the fixed vocabulary (clip name → text) is ever sent to Deepgram. This function takes no passphrase and never
// will; a passphrase is composed locally from these clips (src/voice/compose.ts).
//
// Directory format, the same one src/voice/clips.ts `loadClipSet(dir)` reads (its schema is the source of truth;
// this writer adds `source` at the top and `file` per clip, which that loader ignores):
//   manifest.json  {
//     "format": 1,
//     "id": "deepgram:<model>",                       // ClipSet.id
//     "source": "deepgram:<model>",
//     "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, "frameBytes": 160,
//     "clips": [ { "name": "7", "text": "seven", "file": "7.ulaw", "bytes": 3040, "sha256": "<hex of the file>",
//                  "source": "deepgram:<model>" | "deepgram:<model>@speed=<speed>" }, … ]
//   }
//   <name>.ulaw    raw G.711 μ-law, 8 kHz, mono, no header; leading/trailing near-silence trimmed (keeping 10 ms),
//                  padded with 0xFF to a multiple of 160 bytes.
// A clip whose entry has the same text and source and whose file still matches its sha256 is reused, not requested.
//
// Wire: POST /v1/speak?model=…&encoding=mulaw&sample_rate=8000&container=none, JSON {"text"} → raw audio bytes;
// without container=none the REST default is a WAV container whose header plays as a click
// (https://developers.deepgram.com/docs/tts-media-output-settings; twilio-labs/call-gpt#33).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeepgramClient } from '@deepgram/sdk';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { FRAME_BYTES, MULAW_SILENCE, SAMPLE_RATE } from '../voice/types.js';

export const MANIFEST_FILE = 'manifest.json';
export const DEFAULT_TTS_MODEL = 'aura-2-thalia-en';
/** The same rule as src/voice/vocabulary.ts CLIP_NAME_PATTERN: `<name>.ulaw` can never leave the directory. */
const CLIP_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Audio kept either side of the speech, so quiet onsets ("f" in "five") are not clipped: 10 ms. */
const EDGE_KEEP_BYTES = SAMPLE_RATE / 100;
const CONCURRENCY = 4;

export type TtsClipErrorCode =
  'TTS_CLIP_NAME_INVALID' | 'TTS_REQUEST_FAILED' | 'TTS_AUDIO_SILENT' | 'TTS_FIRST_FRAME_NOT_UNIQUE';

export class TtsClipError extends Error {
  constructor(
    readonly code: TtsClipErrorCode,
    message: string,
    readonly clip?: string,
  ) {
    super(message);
    this.name = 'TtsClipError';
  }
}

export interface SynthesizeClipSetOptions {
  apiKey: string;
  baseUrl?: string;
  /** An Aura-2 voice; default aura-2-thalia-en. */
  model?: string;
  dir: string;
  /** Clip name → the text Deepgram is given. */
  vocabulary: Record<string, string>;
  /** Aura-2 speaking rate, 0.7–1.5 (docs/deepgram.md, "Text to speech"); default Deepgram's own (1.0). */
  speed?: number;
  log: Logger;
}

const optionsSchema = z.object({
  apiKey: z.string().min(1, 'DEEPGRAM_API_KEY is empty'),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  model: z
    .string()
    .regex(/^aura-[a-z0-9-]+$/, 'model must be a Deepgram Aura voice such as aura-2-thalia-en')
    .default(DEFAULT_TTS_MODEL),
  dir: z.string().min(1),
  speed: z.number().min(0.7).max(1.5).optional(),
});

const cachedManifest = z.object({
  clips: z.array(
    z.object({ name: z.string(), text: z.string(), bytes: z.number(), sha256: z.string(), source: z.string() }),
  ),
});

interface Entry {
  name: string;
  text: string;
  file: string;
  bytes: number;
  sha256: string;
  source: string;
}

const sha256Hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** μ-law codes of the lowest segment (|sample| ≤ 120 of 32 124, about −48 dBFS): 0x70–0x7F and 0xF0–0xFF. */
function nearSilence(b: number): boolean {
  return (b & 0x70) === 0x70;
}

/** Trims leading/trailing near-silence (keeping EDGE_KEEP_BYTES) and pads with 0xFF to whole 20 ms frames. */
export function trimAndPad(audio: Uint8Array): Buffer {
  let start = 0;
  let end = audio.length;
  while (start < end && nearSilence(audio[start]!)) start++;
  while (end > start && nearSilence(audio[end - 1]!)) end--;
  if (start === end) return Buffer.alloc(0);
  start = Math.max(0, start - EDGE_KEEP_BYTES);
  end = Math.min(audio.length, end + EDGE_KEEP_BYTES);
  const padded = Math.ceil((end - start) / FRAME_BYTES) * FRAME_BYTES;
  const out = Buffer.alloc(padded, MULAW_SILENCE);
  out.set(audio.subarray(start, end));
  return out;
}

function readCache(dir: string): Map<string, Entry> {
  const cache = new Map<string, Entry>();
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return cache;
  let parsed;
  try {
    parsed = cachedManifest.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return cache; // unreadable: resynthesise everything
  }
  if (!parsed.success) return cache;
  for (const c of parsed.data.clips) {
    if (CLIP_NAME.test(c.name)) cache.set(c.name, { ...c, file: `${c.name}.ulaw` });
  }
  return cache;
}

function stillValid(dir: string, entry: Entry): boolean {
  const file = join(dir, entry.file);
  if (!existsSync(file)) return false;
  const audio = readFileSync(file);
  return audio.length === entry.bytes && sha256Hex(audio) === entry.sha256;
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export async function synthesizeClipSet(
  opts: SynthesizeClipSetOptions,
): Promise<{ dir: string; created: number; cached: number }> {
  const { log, vocabulary } = opts;
  const { apiKey, baseUrl, model, dir, speed } = optionsSchema.parse({
    apiKey: opts.apiKey,
    baseUrl: opts.baseUrl,
    model: opts.model,
    dir: opts.dir,
    speed: opts.speed,
  });
  const id = `deepgram:${model}`;
  const source = speed === undefined ? id : `${id}@speed=${speed}`;
  const names = Object.keys(vocabulary);
  for (const name of names) {
    if (!CLIP_NAME.test(name))
      throw new TtsClipError(
        'TTS_CLIP_NAME_INVALID',
        `"${name}" is not a clip name (lower-case letters, digits, inner "-")`,
        name,
      );
    if (!vocabulary[name]?.trim()) throw new TtsClipError('TTS_CLIP_NAME_INVALID', `clip "${name}" has no text`, name);
  }
  mkdirSync(dir, { recursive: true });
  const cache = readCache(dir);
  const entries = new Map<string, Entry>();
  const todo: string[] = [];
  for (const name of names) {
    const hit = cache.get(name);
    if (hit && hit.text === vocabulary[name] && hit.source === source && stillValid(dir, hit)) entries.set(name, hit);
    else todo.push(name);
  }
  const cached = entries.size;

  const client = new DeepgramClient({ apiKey, ...(baseUrl ? { baseUrl } : {}), logging: { silent: true } });
  const synthesise = async (name: string) => {
    const text = vocabulary[name]!;
    let raw: Uint8Array;
    try {
      const res = await client.speak.v1.audio.generate({
        text,
        model,
        encoding: 'mulaw',
        sample_rate: SAMPLE_RATE,
        container: 'none',
        ...(speed === undefined ? {} : { speed }),
      });
      raw = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      throw new TtsClipError(
        'TTS_REQUEST_FAILED',
        `Deepgram TTS failed for clip "${name}"${status ? ` (HTTP ${status})` : ''}: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`,
        name,
      );
    }
    const audio = trimAndPad(raw);
    if (audio.length === 0)
      throw new TtsClipError('TTS_AUDIO_SILENT', `Deepgram TTS returned only silence for clip "${name}"`, name);
    const file = `${name}.ulaw`;
    writeAtomically(join(dir, file), audio);
    entries.set(name, { name, text, file, bytes: audio.length, sha256: sha256Hex(audio), source });
    log.info({ event: 'deepgram.tts.clip', clip: name, bytes: audio.length }, 'clip synthesised');
  };

  let failure: unknown;
  const queue = [...todo];
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let name = queue.shift(); name !== undefined && failure === undefined; name = queue.shift()) {
        try {
          await synthesise(name);
        } catch (err) {
          failure ??= err;
        }
      }
    }),
  );

  // The manifest is written even after a failure, so the clips already made are not requested again next time.
  const clips = names.filter((n) => entries.has(n)).map((n) => entries.get(n)!);
  if (clips.length > 0) {
    writeAtomically(
      join(dir, MANIFEST_FILE),
      `${JSON.stringify({ format: 1, id, source: id, encoding: 'audio/x-mulaw', sampleRate: SAMPLE_RATE, channels: 1, frameBytes: FRAME_BYTES, clips }, null, 2)}\n`,
    );
  }
  if (failure !== undefined) throw failure;
  checkFirstFramesUnique(dir, clips);
  log.info({ event: 'deepgram.tts.clip_set', id, created: todo.length, cached }, 'clip set ready');
  return { dir, created: todo.length, cached };
}

/** The recogniser tells clips apart by their first frame (src/voice/clips.ts checkClipFrames); fail here, by name. */
function checkFirstFramesUnique(dir: string, clips: Entry[]): void {
  const seen = new Map<string, string>();
  for (const c of clips) {
    const key = readFileSync(join(dir, c.file)).subarray(0, FRAME_BYTES).toString('base64');
    const other = seen.get(key);
    if (other !== undefined) {
      throw new TtsClipError(
        'TTS_FIRST_FRAME_NOT_UNIQUE',
        `clips "${other}" and "${c.name}" start with the same 20 ms frame; change one's text or the voice`,
        c.name,
      );
    }
    seen.set(key, c.name);
  }
}
