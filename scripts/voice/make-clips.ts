// Makes a clip set, <out>/<name>.ulaw + manifest.json + LICENSE-voice.txt, from CLIP_VOCABULARY with an offline TTS
// engine: the one reproducible way to make the committed set (assets/clips). A maintainer's tool only: the service and
// the tests read the committed files and never run it. docs/voice.md, "Clip set".
//
//   apt-get install -y festival festvox-us-slt-hts        # Debian/Ubuntu; the default engine and voice
//   npx tsx scripts/voice/make-clips.ts [--engine festival|flite|espeak-ng] [--voice <name>] [--stretch <x>]
//                                       [--out <dir>] [--id <set id>]
// then run `npx vitest run test/unit/voice-clips.test.ts` and commit the whole directory: other engine or voice
// versions give other bytes, so a set is always regenerated together; its manifest records how it was made.
//
// Engines (voice defaults in ENGINES):
//   festival   text2wave, voice cmu_us_slt_arctic_hts (Debian festvox-us-slt-hts; festvox-kallpc16k gives kal_diphone)
//   flite      flite -voice slt|kal16|awb|rms|kal (voices built into Debian's libflite1)
//   espeak-ng  the earlier engine, kept as a fallback: en-us, 150 words a minute
// --stretch x slows speech by x (1 = the engine's default pace, 1.1 = 10 % slower):
//   festival   HTS voices: hts_engine's speech-speed rate `-r 1/x` appended to hts_engine_params (an HTS voice
//              ignores Festival's Duration_Stretch: in festival 2.5.0 it left cmu_us_slt_arctic_hts's timing
//              unchanged); other voices: (Parameter.set 'Duration_Stretch x)
//   flite      --setf duration_stretch=x
//   espeak-ng  -s round(150 / x) words a minute
//
// Per clip: text (in a temporary file, never through a shell) -> engine -> 16-bit WAV -> mono -> peak to half scale
// (headroom for the resampler) -> resampled to 8 kHz -> phone tuning (scripts/voice/dsp.ts: 300–3400 Hz band,
// trim, fades, one active-speech level under a peak ceiling) -> G.711 μ-law -> padded with μ-law silence to whole
// 160-byte frames. Fails if a clip is silent or two clips start with the same frame (the recogniser tells clips
// apart by their first frame); lists the clips the peak ceiling kept under the target level.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEFAULT_CLIP_DIR,
  VOICE_LICENSE_FILE,
  writeClipSet,
  type ClipSynthesis,
  type ClipToWrite,
} from '../../src/voice/clips.js';
import { encodeMulaw, padToFrame } from '../../src/voice/mulaw.js';
import { SAMPLE_RATE } from '../../src/voice/types.js';
import { CLIP_VOCABULARY } from '../../src/voice/vocabulary.js';
import { PHONE_TUNING, tuneClip, type LevelReport } from './dsp.js';
import { normalizePeak, parseWav, resample } from './wav.js';

const ESPEAK_WORDS_PER_MINUTE = 150;
const FESTIVAL_VOICE_ROOT = '/usr/share/festival/voices';

interface Licence {
  /** SPDX-like expression for the manifest. */
  name: string;
  summary: string;
  /** Debian copyright files copied verbatim into LICENSE-voice.txt. */
  copyrightFiles: string[];
}

interface Engine {
  defaultVoice: string;
  /** Programs the engine runs, each with the Debian package that installs it. */
  programs: Record<string, string>;
  /** Throws, naming the package to install, unless `voice` is available. */
  checkVoice(voice: string): void;
  /** The engine's own version, from its --version output. */
  version(): string;
  /** Debian packages whose versions are recorded: the engine's and the voice's. */
  packages(voice: string): string[];
  licence(voice: string): Licence;
  /** Runs the engine: the text in `textFile`, a 16-bit PCM WAV to `wavFile`. */
  synthesise(voice: string, stretch: number, textFile: string, wavFile: string): void;
}

function run(program: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(program, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${program} failed to start: ${r.error.message}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function versionFrom(program: string, pattern: RegExp): string {
  const { stdout, stderr } = run(program, ['--version']);
  return pattern.exec(`${stdout}\n${stderr}`)?.[1] ?? 'unknown';
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, program)));
}

/** The installed version of a Debian package, or undefined (not installed, or not a Debian system). */
function debianVersion(pkg: string): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
}

/** The directory of an installed Festival voice (/usr/share/festival/voices/<language>/<voice>), if any. */
function festivalVoiceDir(voice: string): string | undefined {
  if (!existsSync(FESTIVAL_VOICE_ROOT)) return undefined;
  for (const lang of readdirSync(FESTIVAL_VOICE_ROOT)) {
    const dir = join(FESTIVAL_VOICE_ROOT, lang, voice);
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

/** The Debian package that installed a Festival voice, or undefined. */
function festivalVoicePackage(voice: string): string | undefined {
  const dir = festivalVoiceDir(voice);
  if (!dir) return undefined;
  const r = spawnSync('dpkg-query', ['-S', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(':')[0]?.trim() || undefined : undefined;
}

/** Debian packages of the Festival voices this script knows, for install hints and licence names. */
const FESTIVAL_VOICES: Record<string, { package: string; licence: string; summary: string }> = {
  cmu_us_slt_arctic_hts: {
    package: 'festvox-us-slt-hts',
    licence: 'LicenseRef-EST-2003 AND LicenseRef-EST-2000 AND BSD-3-Clause',
    summary:
      'CMU ARCTIC "slt" HTS voice for Festival, (c) 2003 Carnegie Mellon University and others: free to use, copy, ' +
      'modify and distribute, keeping the copyright notices, marking modifications and keeping the authors’ names; ' +
      'no warranty. Full text: LICENSE-voice.txt (Debian festvox-us-slt-hts, /usr/share/doc/festvox-us-slt-hts/copyright).',
  },
  kal_diphone: {
    package: 'festvox-kallpc16k',
    licence: 'LicenseRef-Festival-kal-diphone',
    summary:
      'Festival kal_diphone voice, (c) 1998 Alan W Black and Kevin Lenzo: free to use and distribute, keeping the ' +
      'copyright notice, marking modifications and keeping the authors’ names; no warranty. Full text: ' +
      'LICENSE-voice.txt (Debian festvox-kallpc16k, /usr/share/doc/festvox-kallpc16k/copyright).',
  },
};

/** A number as Scheme reads it (the stretch is a checked finite number, so nothing else reaches -eval). */
function scheme(n: number): string {
  return Number(n.toFixed(6)).toString();
}

const ENGINES: Record<string, Engine> = {
  festival: {
    defaultVoice: 'cmu_us_slt_arctic_hts',
    programs: { festival: 'festival', text2wave: 'festival' },
    checkVoice(voice) {
      if (!/^[a-z0-9_]+$/.test(voice)) throw new Error(`"${voice}" is not a Festival voice name`);
      if (!festivalVoiceDir(voice)) {
        const pkg = FESTIVAL_VOICES[voice]?.package;
        throw new Error(
          `Festival voice ${voice} is not installed` +
            (pkg ? `; install it first (apt-get install -y ${pkg})` : ` under ${FESTIVAL_VOICE_ROOT}`),
        );
      }
    },
    version: () => versionFrom('festival', /System: (\d+\.\d+(?:\.\d+)?)/),
    packages: (voice) => ['festival', ...[festivalVoicePackage(voice)].filter((p): p is string => !!p)],
    licence(voice) {
      const known = FESTIVAL_VOICES[voice];
      const pkg = festivalVoicePackage(voice) ?? known?.package;
      return {
        name: known?.licence ?? 'LicenseRef-see-LICENSE-voice.txt',
        summary: known?.summary ?? `Festival voice ${voice}: see LICENSE-voice.txt.`,
        copyrightFiles: pkg ? [`/usr/share/doc/${pkg}/copyright`] : [],
      };
    },
    synthesise(voice, stretch, textFile, wavFile) {
      const args = ['-eval', `(voice_${voice})`];
      if (stretch !== 1) {
        args.push(
          '-eval',
          voice.endsWith('_hts')
            ? `(set! hts_engine_params (append hts_engine_params (list (list "-r" ${scheme(1 / stretch)}))))`
            : `(Parameter.set 'Duration_Stretch ${scheme(stretch)})`,
        );
      }
      const r = run('text2wave', [...args, '-o', wavFile, textFile]);
      // text2wave exits 0 even when the voice fails to load; it then writes no file and says why on stderr.
      if (r.status !== 0 || !existsSync(wavFile)) {
        throw new Error(`text2wave (voice ${voice}) made no audio: ${r.stderr.trim() || `exit ${r.status}`}`);
      }
    },
  },
  flite: {
    defaultVoice: 'slt',
    programs: { flite: 'flite' },
    checkVoice(voice) {
      // flite falls back to its default voice, silently, for a name it does not know.
      const listed = run('flite', ['-lv']).stdout.replace(/^.*?:/s, '').trim().split(/\s+/);
      if (!listed.includes(voice)) throw new Error(`flite has no voice "${voice}" (it has: ${listed.join(', ')})`);
    },
    version: () => versionFrom('flite', /flite-(\d+\.\d+(?:\.\d+)?)/),
    packages: () => ['flite', 'libflite1'],
    licence: () => ({
      name: 'LicenseRef-Flite',
      summary:
        'CMU Flite and its built-in voices, (c) 1999-2001 Language Technologies Institute, Carnegie Mellon ' +
        'University and others: free to use and distribute, keeping the copyright notice, marking modifications and ' +
        'keeping the authors’ names; no warranty. Full text: LICENSE-voice.txt (Debian libflite1, ' +
        '/usr/share/doc/libflite1/copyright).',
      copyrightFiles: ['/usr/share/doc/libflite1/copyright'],
    }),
    synthesise(voice, stretch, textFile, wavFile) {
      const r = run('flite', ['-voice', voice, '--setf', `duration_stretch=${stretch}`, '-f', textFile, '-o', wavFile]);
      if (r.status !== 0 || !existsSync(wavFile)) {
        throw new Error(`flite (voice ${voice}) made no audio: ${r.stderr.trim() || `exit ${r.status}`}`);
      }
    },
  },
  'espeak-ng': {
    defaultVoice: 'en-us',
    programs: { 'espeak-ng': 'espeak-ng' },
    checkVoice(voice) {
      if (!/^[a-z0-9+-]+$/i.test(voice)) throw new Error(`"${voice}" is not an espeak-ng voice name`);
    },
    version: () => versionFrom('espeak-ng', /(\d+\.\d+(?:\.\d+)?)/),
    packages: () => ['espeak-ng', 'espeak-ng-data'],
    licence: () => ({
      name: 'GPL-3.0-or-later',
      summary:
        'eSpeak NG and its language data, (c) 2005-2016 Jonathan Duddington, Reece H. Dunn and others, GNU GPL ' +
        'version 3 or later. Full text: LICENSE-voice.txt (Debian espeak-ng and espeak-ng-data, ' +
        '/usr/share/doc/espeak-ng/copyright) and https://www.gnu.org/licenses/gpl-3.0.txt.',
      copyrightFiles: ['/usr/share/doc/espeak-ng/copyright', '/usr/share/doc/espeak-ng-data/copyright'],
    }),
    synthesise(voice, stretch, textFile, wavFile) {
      const wpm = String(Math.round(ESPEAK_WORDS_PER_MINUTE / stretch));
      const r = run('espeak-ng', ['-v', voice, '-s', wpm, '-w', wavFile, '-f', textFile]);
      if (r.status !== 0 || !existsSync(wavFile)) {
        throw new Error(`espeak-ng (voice ${voice}) made no audio: ${r.stderr.trim() || `exit ${r.status}`}`);
      }
    },
  },
};

const USAGE = `usage: npx tsx scripts/voice/make-clips.ts [--engine ${Object.keys(ENGINES).join('|')}] [--voice <name>]
                                   [--stretch <x>] [--out <dir>] [--id <set id>]
  --engine   festival (default), flite, or espeak-ng (the fallback)
  --voice    festival: cmu_us_slt_arctic_hts (default); flite: slt (default), kal16, awb, rms, kal;
             espeak-ng: en-us (default)
  --stretch  speaking rate, 1 = the engine's default pace, 1.1 = 10 % slower (0.5–2)
  --out      output directory (default assets/clips)
  --id       clip-set id recorded in the manifest (default committed)`;

interface Options {
  engine: string;
  voice: string;
  stretch: number;
  out: string;
  id: string;
}

function options(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      engine: { type: 'string', default: 'festival' },
      voice: { type: 'string' },
      stretch: { type: 'string', default: '1' },
      out: { type: 'string', default: DEFAULT_CLIP_DIR },
      id: { type: 'string', default: 'committed' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const engine = ENGINES[values.engine];
  if (!engine) throw new Error(`unknown engine "${values.engine}"\n${USAGE}`);
  const stretch = Number(values.stretch);
  if (!Number.isFinite(stretch) || stretch < 0.5 || stretch > 2) {
    throw new Error(`--stretch must be a number from 0.5 to 2, not "${values.stretch}"`);
  }
  if (values.out === '' || values.id === '') throw new Error(`--out and --id need a value\n${USAGE}`);
  return { engine: values.engine, voice: values.voice ?? engine.defaultVoice, stretch, out: values.out, id: values.id };
}

/** Throws, naming the program and the Debian package to install, for the first program of `engine` not on PATH. */
function checkPrograms(name: string, engine: Engine): void {
  for (const [program, pkg] of Object.entries(engine.programs)) {
    if (!onPath(program)) {
      throw new Error(`${program} is not installed (engine ${name}); install it first: apt-get install -y ${pkg}`);
    }
  }
}

function licenceFile(opts: Options, synthesis: ClipSynthesis, licence: Licence): string {
  const copied = new Map<string, string>(); // text → first file it came from (espeak-ng's two files are identical)
  for (const file of licence.copyrightFiles) {
    if (!existsSync(file)) throw new Error(`cannot copy the voice's licence: ${file} does not exist`);
    const text = readFileSync(file, 'utf8');
    if (!copied.has(text)) copied.set(text, file);
  }
  if (copied.size === 0) throw new Error(`no licence text known for ${opts.engine} voice ${opts.voice}`);
  const versions = Object.entries(synthesis.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `Licence of the voice that spoke the clips in this directory (clip set "${opts.id}", made by`,
    `scripts/voice/make-clips.ts with ${opts.engine}, voice ${opts.voice}).`,
    `Versions: ${versions}.`,
    '',
    `Licence: ${licence.name}`,
    '',
    licence.summary,
    '',
    ...[...copied].flatMap(([text, file]) => [`----- copied verbatim from ${file} -----`, '', text.trimEnd(), '']),
  ].join('\n');
}

function main(): void {
  const opts = options(process.argv.slice(2));
  if (!opts) {
    console.log(USAGE);
    return;
  }
  const engine = ENGINES[opts.engine] as Engine;
  checkPrograms(opts.engine, engine);
  engine.checkVoice(opts.voice);
  const version = engine.version();
  const versions: Record<string, string> = { [opts.engine]: version };
  for (const pkg of engine.packages(opts.voice)) {
    const v = debianVersion(pkg);
    if (v) versions[`debian:${pkg}`] = v;
  }
  const licence = engine.licence(opts.voice);
  const synthesis: ClipSynthesis = {
    engine: opts.engine,
    voice: opts.voice,
    stretch: opts.stretch,
    versions,
    tuning: { ...PHONE_TUNING },
    license: { name: licence.name, summary: licence.summary, file: VOICE_LICENSE_FILE },
  };
  const source = `${opts.engine} ${version} ${opts.voice}${opts.stretch === 1 ? '' : ` stretch ${opts.stretch}`}`;
  const work = mkdtempSync(join(tmpdir(), 'make-clips-'));
  try {
    const reports: [string, LevelReport][] = [];
    const clips: ClipToWrite[] = Object.entries(CLIP_VOCABULARY).map(([name, text]) => {
      const textFile = join(work, `${name}.txt`);
      const wavFile = join(work, `${name}.wav`);
      writeFileSync(textFile, `${text}\n`);
      engine.synthesise(opts.voice, opts.stretch, textFile, wavFile);
      const wav = parseWav(readFileSync(wavFile));
      const pcm = resample(normalizePeak(wav.samples, 0.5), wav.sampleRate, SAMPLE_RATE);
      const tuned = tuneClip(pcm);
      if (tuned.samples.length === 0) throw new Error(`${opts.engine} produced only silence for clip "${name}"`);
      reports.push([name, tuned.report]);
      return { name, text, source, audio: padToFrame(encodeMulaw(tuned.samples)) };
    });
    // Throws if two clips share a first frame.
    const manifest = writeClipSet(opts.out, opts.id, clips, {
      synthesis,
      files: { [VOICE_LICENSE_FILE]: licenceFile(opts, synthesis, licence) },
    });
    const total = manifest.clips.reduce((n, c) => n + c.bytes, 0);
    console.log(
      `wrote ${manifest.clips.length} clips (${total} bytes, ${(total / SAMPLE_RATE).toFixed(1)} s) to ${opts.out} ` +
        `with ${source}`,
    );
    const limited = reports.filter(([, r]) => r.limited);
    const [loudest, loudestReport] = reports.reduce((a, b) => (b[1].peakDbfs > a[1].peakDbfs ? b : a));
    console.log(
      limited.length === 0
        ? `every clip at ${PHONE_TUNING.targetActiveDbfs} dBFS active speech; highest peak ` +
            `${loudestReport.peakDbfs.toFixed(2)} dBFS (${loudest}), ceiling ${PHONE_TUNING.peakCeilingDbfs} dBFS`
        : `limited by the ${PHONE_TUNING.peakCeilingDbfs} dBFS peak ceiling (active level below the ` +
            `${PHONE_TUNING.targetActiveDbfs} dBFS target): ` +
            limited.map(([n, r]) => `${n} (-${r.shortfallDb.toFixed(1)} dB)`).join(', '),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`make-clips: ${(err as Error).message}`);
  process.exitCode = 1;
}
