// Sealing: the secret value and passphrase are encrypted with SEAL_KEY before they enter a workflow's input and
// opened only inside the activities that must use them, so Temporal history (and anyone decoding it) holds
// ciphertext for those fields. Only processes running workers hold SEAL_KEY (docs/architecture.md, "Confidentiality").
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A sealed string as it travels through workflow inputs and results. */
export interface Sealed {
  sealed: 'v1';
  /** base64 of nonce(12) | ciphertext | tag(16) */
  box: string;
}

export interface Sealer {
  seal(plain: string): Sealed;
  open(box: Sealed): string;
}

export class SealError extends Error {
  readonly code = 'SEAL_INVALID';
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== 32) throw new SealError('SEAL_KEY must be 32 bytes (openssl rand -base64 32)');
  return {
    seal(plain) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return { sealed: 'v1', box: Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64') };
    },
    open(sealed) {
      const raw = Buffer.from(sealed.box, 'base64');
      if (sealed.sealed !== 'v1' || raw.length < 28) throw new SealError('sealed value is malformed');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      try {
        return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        throw new SealError('sealed value cannot be opened with this SEAL_KEY (was the key changed?)');
      }
    },
  };
}
