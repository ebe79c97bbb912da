// Credentials the sandbox makes up for itself, kept in the git-ignored data dir (mode 0600) so that a restart keeps
// the same agent token and, above all, the same SEAL_KEY: hand-offs in the dev server's SQLite file survive a
// restart only if their sealed fields can still be opened, and the same payload key: the dev server's history
// is encrypted with it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseKey32 } from '../key-material.js';
import { formatPayloadKeys, generatePayloadKey, parsePayloadKeys } from '../temporal/payload-codec.js';

/** Credentials the sandbox makes up for itself, used wherever the environment sets none. */
export interface SandboxSecrets {
  agentToken: string;
  sealKey: string;
  /** PAYLOAD_KEYS format: generated for the sandbox, never for production. */
  payloadKeys: string;
  otsUsername: string;
  otsApiKey: string;
  twilioAccountSid: string;
  twilioAuthToken: string;
  twilioFrom: string;
  /** The key the sandbox's fake Deepgram accepts. */
  deepgramApiKey: string;
}

export function makeSandboxSecrets(): SandboxSecrets {
  return {
    agentToken: `sandbox_${randomBytes(18).toString('base64url')}`,
    sealKey: randomBytes(32).toString('base64'),
    payloadKeys: formatPayloadKeys([generatePayloadKey(`sandbox-${new Date().toISOString().slice(0, 10)}`)]),
    otsUsername: 'sandbox@ots-handoff.invalid',
    otsApiKey: randomBytes(25).toString('hex').slice(0, 50),
    twilioAccountSid: `AC${randomBytes(16).toString('hex')}`,
    twilioAuthToken: randomBytes(16).toString('hex'),
    deepgramApiKey: randomBytes(20).toString('hex'),
    // Twilio's documented magic test number: never a real recipient.
    twilioFrom: '+15005550006',
  };
}

/** The sandbox's credentials file cannot be used as it is; nothing was changed. */
export class SandboxSecretsError extends Error {
  readonly code = 'SANDBOX_SECRETS_DAMAGED';
}

/**
 * The sandbox's credentials from `<dataDir>/sandbox-secrets.json`, made on first start. A file that exists but
 * cannot be used is never replaced: new keys would leave every stored hand-off unreadable (sealed fields and the
 * dev server's encrypted history). Start-up stops instead and says what to do.
 */
export function loadSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = join(dataDir, 'sandbox-secrets.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SandboxSecretsError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    const fresh = makeSandboxSecrets();
    mkdirSync(dataDir, { recursive: true });
    writeAtomically(file, fresh);
    return fresh;
  }
  const saved = checkSaved(file, text);
  const merged = { ...makeSandboxSecrets(), ...saved };
  // A file from an older version lacks newer entries (e.g. payloadKeys): save them now, or they would change on
  // every start.
  if (Object.keys(merged).some((k) => !(k in saved))) writeAtomically(file, merged);
  return merged;
}

/** What the file holds, if every entry in it is usable; otherwise a SandboxSecretsError naming the entry. */
function checkSaved(file: string, text: string): Partial<SandboxSecrets> {
  const damaged = (what: string) =>
    new SandboxSecretsError(
      `${file} is damaged (${what}). The hand-offs kept in ${dirname(file)} can only be opened with the keys it ` +
        'held: restore it from a backup, or move the whole data directory aside to start afresh.',
    );
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch {
    throw damaged('not JSON');
  }
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) throw damaged('not a JSON object');
  const known = Object.keys(makeSandboxSecrets());
  for (const [k, v] of Object.entries(saved)) {
    if (!known.includes(k)) continue;
    if (typeof v !== 'string' || v.length === 0) throw damaged(`${k} is not a non-empty string`);
  }
  const entries = saved as Partial<SandboxSecrets>;
  if (entries.sealKey !== undefined && 'problem' in parseKey32(entries.sealKey)) throw damaged('sealKey is not a key');
  if (entries.payloadKeys !== undefined) {
    try {
      parsePayloadKeys(entries.payloadKeys);
    } catch {
      throw damaged('payloadKeys is not a key list');
    }
  }
  if (entries.sealKey === undefined) throw damaged('sealKey is missing');
  return entries;
}

/** Writes the file whole or not at all (a crash mid-write leaves the old file), readable by this user only. */
function writeAtomically(file: string, secrets: SandboxSecrets): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
}
