// The Temporal payload codec: every payload the client and the workers send to Temporal (workflow inputs and
// results, activity arguments, signals, queries, updates, memo, user metadata, and failure text through
// failure-converter.cjs) is encrypted with AES-256-GCM before it leaves the process, so Temporal history holds
// only ciphertext. Pattern: temporalio/samples-typescript encryption/src/encryption-codec.ts (docs/temporal.md,
// "Payload codec and codec server"),
// with node:crypto instead of WebCrypto (synchronous, no per-call promise hop) and the key id bound as AAD.
//
// PAYLOAD_KEYS lists several keys for rotation: the FIRST encrypts, every listed key decrypts, so a new key goes
// at the front and an old one is dropped only after every workflow encoded with it has been deleted from history.
import { parseKey32 } from '../key-material.js';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { UNDECRYPTABLE_PAYLOAD, UNENCRYPTED_PAYLOAD } from '../../workflows/input.js';

// @temporalio/proto is CommonJS without named exports that Node's ESM loader can see: take it from the default.
const { temporal } = proto;

export const ENCODING = 'binary/encrypted';
export const KEY_ID_HEADER = 'encryption-key-id';
const CIPHER_HEADER = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface PayloadKey {
  id: string;
  key: Buffer;
}

export class CodecError extends Error {
  readonly code = 'PAYLOAD_CODEC';
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
export const PAYLOAD_KEYS_RULE =
  'must be a comma list of <key id>:<32 bytes in base64>, newest first, e.g. k2025-11:$(openssl rand -base64 32)';

/**
 * Parses PAYLOAD_KEYS (`id:base64,id:base64`, newest first). Throws a message that names the problem but never
 * echoes key material.
 */
export function parsePayloadKeys(text: string): PayloadKey[] {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new CodecError(PAYLOAD_KEYS_RULE);
  const keys = entries.map((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    const b64 = colon > 0 ? entry.slice(colon + 1) : '';
    if (!KEY_ID.test(id))
      throw new CodecError(`entry ${i + 1}: the key id must be 1-64 of A-Z a-z 0-9 . _ - (${PAYLOAD_KEYS_RULE})`);
    const parsed = parseKey32(b64);
    if ('problem' in parsed) throw new CodecError(`entry ${i + 1} (${id}): the key ${parsed.problem}`);
    return { id, key: parsed.key };
  });
  const ids = new Set(keys.map((k) => k.id));
  if (ids.size !== keys.length) throw new CodecError('each key id may appear only once');
  return keys;
}

export function formatPayloadKeys(keys: PayloadKey[]): string {
  return keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');
}

export function generatePayloadKey(id: string): PayloadKey {
  return { id, key: randomBytes(32) };
}

/**
 * What a worker and the service's client do with a payload that is not encrypted (a workflow started, or a signal
 * sent, from Temporal UI or the CLI without the codec), or that claims to be and does not decrypt (an unknown key id,
 * cut short, altered): `refuse` hands the workflow code a marker in its place (UNENCRYPTED_PAYLOAD or
 * UNDECRYPTABLE_PAYLOAD, workflows/input.ts), which no input check or handler accepts, so whoever can only reach the
 * Temporal frontend can neither start a hand-off nor signal one. Failing the decode instead would fail the workflow
 * task on every replay and wedge the hand-off: one forged signal would keep its link from ever being burned. `pass`
 * (the codec server) shows a payload that is not encrypted as it is, and names the one that does not decrypt.
 */
export type UnencryptedPayloads = 'refuse' | 'pass';

const marker = (v: unknown): Payload => ({
  metadata: { encoding: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify(v)),
});
/** The payload UNENCRYPTED_PAYLOAD travels as. */
const REFUSED = marker(UNENCRYPTED_PAYLOAD);

export class EncryptionCodec implements PayloadCodec {
  private readonly current: PayloadKey;
  private readonly byId: Map<string, Buffer>;
  private readonly unencrypted: UnencryptedPayloads;

  private readonly onRefused: ((reason: string) => void) | undefined;

  constructor(
    keys: readonly PayloadKey[],
    opts: {
      unencrypted?: UnencryptedPayloads;
      /** Told why each payload that does not decrypt was refused (the service logs it; no payload content). */
      onRefused?: (reason: string) => void;
    } = {},
  ) {
    if (keys.length === 0) throw new CodecError('at least one payload key is needed');
    this.current = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
    this.unencrypted = opts.unencrypted ?? 'refuse';
    this.onRefused = opts.onRefused;
  }

  /** The keys, newest first (to build another codec over the same keys). */
  get keys(): PayloadKey[] {
    return [...this.byId].map(([id, key]) => ({ id, key }));
  }

  get keyIds(): string[] {
    return [...this.byId.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encodeOne(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decodeOne(p));
  }

  encodeOne(payload: Payload): Payload {
    const { id, key } = this.current;
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(id));
    const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        encoding: Buffer.from(ENCODING),
        [KEY_ID_HEADER]: Buffer.from(id),
        [CIPHER_HEADER]: Buffer.from(CIPHER),
      },
      data,
    };
  }

  /**
   * A payload not encoded by this codec is refused (see UnencryptedPayloads), or passed through untouched by the
   * codec server.
   */
  decodeOne(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding;
    if (!encoding || Buffer.from(encoding).toString() !== ENCODING)
      return this.unencrypted === 'pass' ? payload : REFUSED;
    if (this.unencrypted === 'pass') return this.decrypt(payload);
    try {
      return this.decrypt(payload);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      this.onRefused?.(err.message);
      return marker({ ...UNDECRYPTABLE_PAYLOAD, reason: err.message });
    }
  }

  private decrypt(payload: Payload): Payload {
    const idBytes = payload.metadata?.[KEY_ID_HEADER];
    const id = idBytes ? Buffer.from(idBytes).toString() : '';
    const key = this.byId.get(id);
    if (!key) throw new CodecError(`payload was encrypted with key "${id}", which is not in PAYLOAD_KEYS`);
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES) throw new CodecError('encrypted payload is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new CodecError(`payload does not decrypt with key "${id}" (altered, or a different key under that id)`);
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}
