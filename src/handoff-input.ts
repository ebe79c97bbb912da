// The agent API signs every hand-off's workflow input, and the first activity checks the signature before the
// hand-off reaches Onetime Secret or Twilio: a shareSecret workflow started from Temporal UI or the CLI with an input
// the API did not make (a copied sealed box with another recipient, a plain-JSON input, a changed poll schedule) is
// refused there. (Continued runs carry the first run's input; workflows/input.ts refuses a `resume` on any other.) The key
// is derived from SEAL_KEY (src/seal.ts), which only the API and the workers hold. See README.md ("Confidentiality
// and the threat model").
import { canonicalJson, type Sealer } from './seal.js';
import type { ShareInput } from '../workflows/types.js';

/** The signed text: the whole input except the signature itself and what a continued run carries over. */
function signedText(input: Omit<ShareInput, 'mac'> & { mac?: unknown }): string {
  return canonicalJson({ ...input, mac: undefined, resume: undefined });
}

export function signInput(sealer: Sealer, input: Omit<ShareInput, 'mac'>): ShareInput {
  return { ...input, mac: sealer.mac(signedText(input)) };
}

export function verifyInput(sealer: Sealer, input: ShareInput): boolean {
  return sealer.verifyMac(signedText(input), input?.mac);
}
