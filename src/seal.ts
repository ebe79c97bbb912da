// Sealing: the secret value, the passphrase, the share link and the receipt key are encrypted with a key derived
// from SEAL_KEY before they enter Temporal (workflow inputs, activity arguments and results), and opened only inside
// the activities that must use them, so Temporal history, even decoded through the codec server, holds ciphertext
// for those fields. Only processes running workers hold SEAL_KEY (docs/architecture.md, "Confidentiality").
//
// Every sealed value is bound to where it may be used: the AES-GCM associated data is a context string (for a
// hand-off: its share id, which field, and its delivery targets, see `handoffContext`), and `open` must be given the
// same context, recomputed by the activity from its own arguments. A box copied into another hand-off, or into the
// same hand-off with another recipient, does not open (README.md, "Confidentiality and the threat model").
//
// The same key also authenticates whole workflow inputs (`mac`): the agent API signs the input it starts a
// hand-off with, and the first activity verifies it, so an input the API did not make never reaches Onetime Secret
// or Twilio.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { LinkTarget, PassphraseDelivery } from '../workflows/types.js';

/** A sealed string as it travels through workflow inputs and results. */
export interface Sealed {
  sealed: 'v2';
  /** base64 of nonce(12) | ciphertext | tag(16) */
  box: string;
}

export interface Sealer {
  /** Seals `plain` for use in `context` only. */
  seal(plain: string, context: string): Sealed;
  /** Opens a box sealed for `context`; a box sealed for any other context, or altered, throws SealError. */
  open(box: Sealed, context: string): string;
  /** An HMAC-SHA256 (base64url) of `data`, under a key of its own derived from SEAL_KEY. */
  mac(data: string): string;
  /** Whether `tag` is `mac(data)`, compared in constant time. */
  verifyMac(data: string, tag: unknown): boolean;
}

export class SealError extends Error {
  readonly code = 'SEAL_INVALID';
}

/** The fields of a hand-off that are sealed, each bound to its own name. */
export type SealedField = 'value' | 'passphrase' | 'link' | 'receipt';

/** What a hand-off's sealed values are bound to: the share, and everyone it may deliver to. */
export interface HandoffBinding {
  shareId: string;
  link: LinkTarget;
  passphrase: PassphraseDelivery;
}

/**
 * The context a hand-off's field is sealed for: share id, field and every delivery target (link channel and
 * recipient, passphrase mode and recipient, CallSid, format, SMS fallback). Field by field, in a fixed order, so
 * the API, the activities and the tests compute the same string from the same facts.
 */
export function handoffContext(field: SealedField, b: HandoffBinding): string {
  const pp = b.passphrase;
  return JSON.stringify([
    'ots-handoff/v2',
    field,
    b.shareId,
    b.link.channel,
    b.link.to,
    pp.mode,
    pp.mode === 'sms' ? pp.to : null,
    pp.mode === 'voice' ? pp.callSid : null,
    pp.mode === 'voice' ? pp.format : null,
    pp.mode === 'voice' ? (pp.fallbackTo ?? null) : null,
  ]);
}

/**
 * JSON with object keys sorted at every level, so a value signed before it travelled through Temporal (which keeps
 * key order, but a hand-written input may not) is signed and verified over the same text.
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const derive = (key: Buffer, info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));

export function createSealer(key: Buffer): Sealer {
  if (key.length !== 32) throw new SealError('SEAL_KEY must be 32 bytes (openssl rand -base64 32)');
  const boxKey = derive(key, 'ots-handoff seal v2');
  const macKey = derive(key, 'ots-handoff input mac v1');
  const aad = (context: string) => Buffer.from(`ots-handoff seal v2\0${context}`, 'utf8');
  const mac = (data: string) => createHmac('sha256', macKey).update(data, 'utf8').digest('base64url');
  return {
    seal(plain, context) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', boxKey, nonce);
      cipher.setAAD(aad(context));
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return { sealed: 'v2', box: Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64') };
    },
    open(sealed, context) {
      if (sealed?.sealed !== 'v2' || typeof sealed.box !== 'string')
        throw new SealError(
          (sealed as { sealed?: unknown } | undefined)?.sealed === 'v1'
            ? 'sealed value is of the old, unbound kind (v1), which is no longer opened: start a new hand-off'
            : 'sealed value is malformed',
        );
      const raw = Buffer.from(sealed.box, 'base64');
      if (raw.length < 28) throw new SealError('sealed value is malformed');
      const decipher = createDecipheriv('aes-256-gcm', boxKey, raw.subarray(0, 12));
      decipher.setAAD(aad(context));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      try {
        return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        throw new SealError(
          'sealed value does not open here: it was sealed for another hand-off or recipient, altered, or sealed ' +
            'with another SEAL_KEY',
        );
      }
    },
    mac,
    verifyMac(data, tag) {
      if (typeof tag !== 'string') return false;
      const want = Buffer.from(mac(data));
      const got = Buffer.from(tag);
      return got.length === want.length && timingSafeEqual(got, want);
    },
  };
}
