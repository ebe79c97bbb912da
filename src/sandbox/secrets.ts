// Credentials the sandbox makes up for itself, kept in the git-ignored data dir (mode 0600) so that a restart keeps
// the same agent token and, above all, the same SEAL_KEY: hand-offs in the dev server's SQLite file survive a
// restart only if their sealed fields can still be opened, and the same payload key: the dev server's history
// is encrypted with it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatPayloadKeys, generatePayloadKey } from '../temporal/payload-codec.js';

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

export function loadSandboxSecrets(dataDir: string): SandboxSecrets {
  const file = join(dataDir, 'sandbox-secrets.json');
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxSecrets>;
    const merged = { ...makeSandboxSecrets(), ...saved };
    // A file from an older version lacks newer entries (e.g. payloadKeys): save them now, or they would change
    // on every start.
    if (Object.keys(merged).some((k) => !(k in saved)))
      writeFileSync(file, JSON.stringify(merged, null, 2), { mode: 0o600 });
    return merged;
  } catch {
    const fresh = makeSandboxSecrets();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(fresh, null, 2), { mode: 0o600 });
    return fresh;
  }
}
