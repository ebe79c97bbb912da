// `npm run bench -- --listen`: how well a listener that is not ours hears the passphrase readings, as a stand-in for
// a caller writing them down (README.md, "The passphrase, read over the call"; docs/voice.md, "Intelligibility").
//
// For each clip set (the committed one, the previous espeak-ng set kept in scripts/bench/listen/espeak-ng-clips for
// comparison, and any --listen-clips <dir>), each passphrase format and each line condition, the same N seeded
// passphrases are read exactly as the service reads them (composeReading → the μ-law bytes that go on the wire), played
// through the simulated line (line.ts: the same seeds for the same reading in every set); the part from the first read to the end of the second ("Again." between them)
// is cut out with a little of the pauses around it and transcribed by faster-whisper with the Whisper base model
// (listener.py), offline, on the CPU. The intro and the repeat prompt are left out of the cut so their words
// ("twelve", "three", "one", "two") are not scored as passphrase characters. score.ts turns transcripts into
// characters and counts. Whisper pads every input to a 30 s window, so a transcription costs about the same whatever
// its length (about 2.5 s on a 2-core machine): one per reading, not one per read, unless the reading is too slow
// to fit the window (listenerCuts).
//
// The listener is installed by `npm run listen:install` (install.ts) into .cache/listen; without it this part skips
// with a message saying so. Nothing is installed or downloaded here.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PASSPHRASE_FORMATS, type PassphraseFormat } from '../../../src/passphrase.js';
import { loadClipSet, sha256Hex } from '../../../src/voice/clips.js';
import {
  BASE_PAUSES_MS,
  composeReading,
  concatSegments,
  PAUSE,
  type ComposeOptions,
} from '../../../src/voice/compose.js';
import { SAMPLE_RATE, type ClipSet, type Segment } from '../../../src/voice/types.js';
import { NATO_WORDS, DIGIT_WORDS } from '../../../src/voice/vocabulary.js';
import { listenerInstall, type ListenerInstall } from './install.js';
import { seededRandom } from '../stats.js';
import { phoneLine, wavFile } from './line.js';
import { score, type Intelligibility, type ReadingHeard } from './score.js';

export interface ListenOptions {
  root: string;
  work: string;
  /** Readings per format, clip set and condition. */
  n: number;
  seed: number;
  /** The noisy condition: SNR in dB and frame-loss probability. */
  snrDb: number;
  loss: number;
  /** Extra clip sets to compare, by directory. */
  clipDirs: string[];
  /** Composer options for every reading (pace, pauses). */
  compose: ComposeOptions;
  /** Listener configurations to run, by name (default: all of LISTENER_CONFIGS). */
  configs?: string[];
  /** Where to write every passphrase and transcript (JSON), if anywhere. */
  transcriptsFile?: string;
  say(line: string): void;
}

export interface ListenerConfig {
  name: string;
  prompt: string | null;
  beamSize: number;
}

/**
 * Two listener configurations, so the clips are not tuned to one: Whisper base told what vocabulary to expect (a
 * caller knows a passphrase of digits or NATO words is coming), and the same model with no prompt at all.
 */
export const LISTENER_CONFIGS: readonly ListenerConfig[] = [
  {
    name: 'base+vocabulary',
    prompt: `A passphrase read over the phone: ${Object.values(DIGIT_WORDS).join(', ')}; ${Object.values(NATO_WORDS).join(', ')}.`,
    beamSize: 5,
  },
  { name: 'base, no prompt', prompt: null, beamSize: 5 },
];

export const LINE_CONDITIONS = ['clean', 'line'] as const;
export type LineCondition = (typeof LINE_CONDITIONS)[number];

/** Silence kept around a read when it is cut out (from the pauses next to it), ms. */
const READ_MARGIN_MS = 300;

export interface ListenResults {
  listener: ListenerInstall['describe'];
  n: number;
  seed: number;
  line: { snrDb: number; loss: number };
  compose: ComposeOptions;
  sets: { name: string; dir: string; id: string }[];
  /** results[config][set][format][condition] */
  results: Record<string, Record<string, Record<PassphraseFormat, Record<LineCondition, Intelligibility>>>>;
  transcribeSeconds: number;
}

export type ListenOutcome = { skipped: string } | ListenResults;

/** n seeded passphrases of a format (bench only: Math-style PRNG, never for a real passphrase). */
export function benchPassphrases(format: PassphraseFormat, n: number, seed: number): string[] {
  const { alphabet, length } = PASSPHRASE_FORMATS[format];
  const random = seededRandom(seed);
  return Array.from({ length: n }, () =>
    Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''),
  );
}

/** Byte ranges of the reading's two reads in the concatenated audio (from the first to the last character clip). */
export function readRanges(segments: readonly Segment[]): [number, number][] {
  const ranges: [number, number][] = [];
  let offset = 0;
  let current: [number, number] | undefined;
  for (const s of segments) {
    const isChar = s.name.length === 1 && s.name !== PAUSE;
    if (isChar) {
      if (!current) current = [offset, offset + s.audio.length];
      else current[1] = offset + s.audio.length;
    } else if (s.name !== PAUSE && current) {
      ranges.push(current);
      current = undefined;
    }
    offset += s.audio.length;
  }
  if (current) ranges.push(current);
  return ranges;
}

/** Whisper hears at most 30 s at a time (faster-whisper moves on a whole window without timestamps); 0.5 s spare. */
const WINDOW_BYTES = 29.5 * SAMPLE_RATE;

/**
 * What the listener is given of one reading, as byte ranges of its audio: the two reads with "Again." between them,
 * with up to READ_MARGIN_MS of the pauses around them (never reaching the intro or the repeat prompt). When that is
 * longer than Whisper's window (slow paces), each read on its own; the transcripts are then joined with "again".
 */
export function listenerCuts(segments: readonly Segment[], pace: number): [number, number][] {
  const ranges = readRanges(segments);
  // 0.8 of the neighbouring pauses at most: pauses are rounded to whole frames after scaling.
  const marginMs = Math.min(
    READ_MARGIN_MS,
    0.8 * BASE_PAUSES_MS.afterIntro * pace,
    0.8 * BASE_PAUSES_MS.beforeRepeatPrompt * pace,
  );
  const margin = Math.floor((marginMs * SAMPLE_RATE) / 1000);
  const total = segments.reduce((n, s) => n + s.audio.length, 0);
  const widen = ([start, end]: [number, number]): [number, number] => [
    Math.max(0, start - margin),
    Math.min(total, end + margin),
  ];
  const whole = widen([ranges[0]![0], ranges[ranges.length - 1]![1]]);
  return whole[1] - whole[0] <= WINDOW_BYTES ? [whole] : ranges.map(widen);
}

/** Names for the clip sets in the results, unique: 'committed' for assets/clips, else the folder's name (+ "#2"…). */
export function setNames(dirs: readonly string[], root: string): string[] {
  const seen = new Map<string, number>();
  return dirs.map((dir) => {
    const base = dir === join(root, 'assets', 'clips') ? 'committed' : basename(dir);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  });
}

async function transcribe(
  install: ListenerInstall,
  configs: readonly ListenerConfig[],
  files: { id: string; path: string }[],
  say: (line: string) => void,
): Promise<Map<string, string>> {
  const job = { modelDir: install.modelDir, threads: 2, configs, files };
  const child = spawn(install.python, [install.script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new Map<string, string>();
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as { config: string; id: string; text: string };
        out.set(`${r.config}\u0000${r.id}`, r.text);
      } catch {
        say(`listener: ignored a line that is not a transcript: ${line.slice(0, 200)}`);
      }
    }
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
    for (const l of chunk.split('\n')) if (/files\/s/.test(l)) say(`listener: ${l.trim()}`);
  });
  child.stdin.end(JSON.stringify(job));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`the listener (${install.python} ${install.script}) exited with ${code}: ${stderr}`);
  return out;
}

export async function measureListening(o: ListenOptions): Promise<ListenOutcome> {
  const install = listenerInstall(o.root);
  if ('missing' in install) return { skipped: install.missing };
  const committed = join(o.root, 'assets', 'clips');
  const espeak = join(o.root, 'scripts', 'bench', 'listen', 'espeak-ng-clips');
  const configs = o.configs?.length ? LISTENER_CONFIGS.filter((c) => o.configs!.includes(c.name)) : LISTENER_CONFIGS;
  if (o.configs?.length && configs.length !== o.configs.length) {
    throw new Error(`--listen-config must name one of: ${LISTENER_CONFIGS.map((c) => c.name).join(' | ')}`);
  }
  // A set with the same clips (names and bytes) as an earlier one is the same audio: heard once.
  const sets: { name: string; dir: string; clips: ClipSet }[] = [];
  const seen = new Map<string, string>();
  const dirs = [...new Set([committed, espeak, ...o.clipDirs])];
  const names = setNames(dirs, o.root);
  dirs.forEach((dir, k) => {
    let clips: ClipSet;
    try {
      clips = loadClipSet(dir);
    } catch (err) {
      throw new Error(`--listen-clips ${dir}: ${(err as Error).message}`);
    }
    const key = clips
      .names()
      .sort()
      .map((n) => `${n}:${sha256Hex(clips.get(n).audio)}`)
      .join(',');
    const same = seen.get(key);
    if (same) {
      o.say(`listen: ${dir} has the same clips as ${same}; heard once`);
      return;
    }
    seen.set(key, names[k]!);
    sets.push({ name: names[k]!, dir, clips });
  });
  const formats: PassphraseFormat[] = ['digits', 'letters'];
  const passphrases = Object.fromEntries(formats.map((f, k) => [f, benchPassphrases(f, o.n, o.seed + k)])) as Record<
    PassphraseFormat,
    string[]
  >;

  // Render every read to a WAV file.
  const wavDir = join(o.work, 'listen');
  mkdirSync(wavDir, { recursive: true });
  const files: { id: string; path: string }[] = [];
  /** The file ids whose transcripts make up one reading's, by reading id. */
  const parts = new Map<string, string[]>();
  for (const set of sets) {
    for (const format of formats) {
      passphrases[format].forEach((passphrase, i) => {
        const segments = composeReading(passphrase, set.clips, o.compose);
        const audio = concatSegments(segments);
        const cuts = listenerCuts(segments, o.compose.pace);
        for (const condition of LINE_CONDITIONS) {
          // The same line (noise and losses) for the same reading index in every clip set.
          const lineSeed = o.seed * 7919 + i * 31 + (format === 'digits' ? 1 : 2);
          const pcm =
            condition === 'clean'
              ? phoneLine(audio, { seed: lineSeed })
              : phoneLine(audio, { seed: lineSeed, snrDb: o.snrDb, loss: o.loss });
          const reading = `${set.name}|${format}|${condition}|${i}`;
          parts.set(
            reading,
            cuts.map(([start, end], c) => {
              const path = join(wavDir, `${files.length}.wav`);
              writeFileSync(path, wavFile(pcm.subarray(start, end), SAMPLE_RATE));
              files.push({ id: `${reading}|${c}`, path });
              return `${reading}|${c}`;
            }),
          );
        }
      });
    }
  }
  o.say(
    `listen: ${files.length} readings × ${configs.length} listener configurations to transcribe (${sets.map((s) => s.name).join(', ')})`,
  );
  const t0 = performance.now();
  const heard = await transcribe(install, configs, files, o.say);
  const transcribeSeconds = (performance.now() - t0) / 1000;
  if (heard.size !== files.length * configs.length) {
    throw new Error(`the listener returned ${heard.size} transcripts for ${files.length * configs.length} files`);
  }
  const transcriptOf = (config: string, reading: string) =>
    parts
      .get(reading)!
      .map((id) => heard.get(`${config}\u0000${id}`)!)
      .join(' again ');

  const results: ListenResults['results'] = {};
  for (const config of configs) {
    const byConfig: ListenResults['results'][string] = (results[config.name] = {});
    for (const set of sets) {
      const bySet = (byConfig[set.name] = {} as Record<PassphraseFormat, Record<LineCondition, Intelligibility>>);
      for (const format of formats) {
        bySet[format] = {} as Record<LineCondition, Intelligibility>;
        for (const condition of LINE_CONDITIONS) {
          const readings: ReadingHeard[] = passphrases[format].map((passphrase, i) => ({
            passphrase,
            transcript: transcriptOf(config.name, `${set.name}|${format}|${condition}|${i}`),
          }));
          bySet[format][condition] = score(format, readings);
        }
      }
    }
  }
  if (o.transcriptsFile) {
    // Bench passphrases only (seeded, never a real one): what was read and what was heard, for looking at errors.
    const readings = [...parts.keys()].map((reading) => ({
      reading,
      ...Object.fromEntries(configs.map((c) => [c.name, transcriptOf(c.name, reading)])),
    }));
    writeFileSync(o.transcriptsFile, `${JSON.stringify({ passphrases, readings }, null, 1)}\n`);
  }
  return {
    listener: install.describe,
    n: o.n,
    seed: o.seed,
    line: { snrDb: o.snrDb, loss: o.loss },
    compose: o.compose,
    sets: sets.map((s) => ({ name: s.name, dir: s.dir, id: s.clips.id })),
    results,
    transcribeSeconds,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The figures as table rows: one per listener, set, format and condition. */
export function listenTable(r: ListenResults): string[] {
  const rows = [
    `listener figures: N=${r.n} readings per row (2 reads each), seed ${r.seed}; line = ${r.line.snrDb} dB SNR, G.711 twice, ${pct(r.line.loss)} frames lost`,
    'listener            | clip set          | format  | line  | chars right | reads exact | readings with an exact read',
  ];
  for (const [config, bySet] of Object.entries(r.results)) {
    for (const [set, byFormat] of Object.entries(bySet)) {
      for (const [format, byCond] of Object.entries(byFormat)) {
        for (const [cond, s] of Object.entries(byCond)) {
          rows.push(
            `${config.padEnd(19)} | ${set.padEnd(17)} | ${format.padEnd(7)} | ${cond.padEnd(5)} | ${pct(s.charactersRight).padStart(11)} | ${pct(s.readsExact).padStart(11)} | ${pct(s.readingsWithExactRead).padStart(10)}`,
          );
        }
      }
    }
  }
  return rows;
}
