// The agent API signs every hand-off's workflow input, and the first activity checks the signature before the
// hand-off reaches Onetime Secret or Twilio: a shareSecret workflow started from Temporal UI or the CLI with an input
// the API did not make (a copied sealed box with another recipient, a plain-JSON input, a changed poll schedule) is
// refused there. (Continued runs carry the first run's input; workflows/input.ts refuses a `resume` on any other.) The key
// is derived from SEAL_KEY (src/seal.ts), which only the API and the workers hold. See README.md ("Confidentiality
// and the threat model").
import { canonicalJson, handoffContext, type Sealer } from './seal.js';
import type { ShareInput } from '../workflows/types.js';

/** The signed text: the whole input except the signature itself and what a continued run carries over. */
function signedText(input: Omit<ShareInput, 'mac'> & { mac?: unknown }): string {
  return canonicalJson({ ...input, mac: undefined, resume: undefined });
}

export function signInput(sealer: Sealer, input: Omit<ShareInput, 'mac'>): ShareInput {
  return { ...input, mac: sealer.mac(signedText(input)) };
}

/** What a hand-off's input holds besides its secret material, which `makeShareInput` seals. */
export type ShareFields = Omit<ShareInput, 'mac' | 'secret' | 'resume'>;

/**
 * A hand-off's workflow input as the agent API makes it (src/http/shares.ts; the tests make theirs here too): the
 * secret value (none: Onetime Secret generates one) and the passphrase sealed for this hand-off and its recipients
 * only (src/seal.ts), and the whole signed.
 */
export function makeShareInput(
  sealer: Sealer,
  fields: ShareFields,
  material: { value?: string; passphrase?: string },
): ShareInput {
  return signInput(sealer, {
    ...fields,
    secret: {
      ...(material.value !== undefined
        ? { value: sealer.seal(material.value, handoffContext('value', fields)) }
        : { generate: true as const }),
      ...(material.passphrase !== undefined
        ? { passphrase: sealer.seal(material.passphrase, handoffContext('passphrase', fields)) }
        : {}),
    },
  });
}

export function verifyInput(sealer: Sealer, input: ShareInput): boolean {
  return sealer.verifyMac(signedText(input), input?.mac);
}
