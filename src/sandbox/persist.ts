// Keeps the sandbox's Onetime Secret emulator state across restarts, as the dev server keeps the workflows, so a
// hand-off watched before a restart still finds its secret after it. The file is one sealed box (AES-256-GCM with
// the seal key): the emulator holds secret values in the clear in memory, like any OTS server, but never on disk.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { RequestHandler } from 'express';
import type { Sealer } from '../seal.js';
import type { OtsEmulator, OtsEmulatorSnapshot } from './ots-emulator.js';

/** What the state file's box is sealed for (src/seal.ts): it opens as nothing else. */
const CONTEXT = 'ots-handoff sandbox ots-emulator state';

export function persistEmulator(emulator: OtsEmulator, file: string, sealer: Sealer) {
  if (existsSync(file)) {
    try {
      emulator.restore(JSON.parse(sealer.open(JSON.parse(readFileSync(file, 'utf8')), CONTEXT)) as OtsEmulatorSnapshot);
    } catch {
      // A file sealed with another key (the sandbox secrets were deleted) cannot be read: start empty.
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const save = () => {
    timer = undefined;
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(sealer.seal(JSON.stringify(emulator.snapshot()), CONTEXT)), { mode: 0o600 });
    renameSync(tmp, file);
  };
  /** Mounted in front of the emulator: any request may change its state (even a receipt read marks expiry). */
  const middleware: RequestHandler = (_req, res, next) => {
    res.on('finish', () => {
      timer ??= setTimeout(save, 200);
    });
    next();
  };
  return {
    middleware,
    flush() {
      if (timer) clearTimeout(timer);
      save();
    },
  };
}
