// The payload codec on its own: what it writes, what it refuses, and key rotation.
import { UNDECRYPTABLE_PAYLOAD, UNENCRYPTED_PAYLOAD } from '../../workflows/input.js';
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { bearerChecker } from '../../src/http/auth.js';
import { codecGate, type CodecRequestFacts } from '../../src/http/codec-server.js';
import {
  CodecError,
  EncryptionCodec,
  ENCODING,
  formatPayloadKeys,
  generatePayloadKey,
  KEY_ID_HEADER,
  parsePayloadKeys,
} from '../../src/temporal/payload-codec.js';

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString();
const payload = (v: unknown): Payload => defaultPayloadConverter.toPayload(v);

describe('EncryptionCodec', () => {
  const k1 = generatePayloadKey('k1');
  const k2 = generatePayloadKey('k2');

  it('round-trips payloads and writes only ciphertext, with the key id and encoding in the metadata', async () => {
    const codec = new EncryptionCodec([k1]);
    const original = [
      payload({ ticketId: 'T-1', note: 'visible-marker-123' }),
      payload(null),
      payload('x'.repeat(100_000)),
    ];
    const encoded = await codec.encode(original);
    for (const p of encoded) {
      expect(text(p.metadata?.encoding)).toBe(ENCODING);
      expect(text(p.metadata?.[KEY_ID_HEADER])).toBe('k1');
      expect(text(p.data)).not.toContain('visible-marker-123');
      expect(text(p.data)).not.toContain('json/plain');
    }
    const decoded = await codec.decode(encoded);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      { ticketId: 'T-1', note: 'visible-marker-123' },
      null,
      'x'.repeat(100_000),
    ]);
  });

  it('uses a fresh nonce for every payload (the same value never encrypts the same way twice)', async () => {
    const codec = new EncryptionCodec([k1]);
    const [a, b] = await codec.encode([payload('same'), payload('same')]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('rotation: the first key encrypts, every listed key decrypts, so old history still decodes', async () => {
    const old = await new EncryptionCodec([k1]).encode([payload('written before rotation')]);
    const rotated = new EncryptionCodec([k2, k1]);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode(old))[0]!)).toBe('written before rotation');
    const fresh = await rotated.encode([payload('after')]);
    expect(text(fresh[0]!.metadata?.[KEY_ID_HEADER])).toBe('k2');
    // Dropping the old key makes old payloads undecodable, with a message naming the key id only: the codec server
    // says so; the workers get a marker with the reason (and tell the log), never the payload.
    await expect(new EncryptionCodec([k2], { unencrypted: 'pass' }).decode(old)).rejects.toThrow(
      /encrypted with key "k1", which is not in PAYLOAD_KEYS/,
    );
    const told: string[] = [];
    const [refused] = await new EncryptionCodec([k2], { onRefused: (r) => told.push(r) }).decode(old);
    expect(defaultPayloadConverter.fromPayload(refused!)).toEqual({
      ...UNDECRYPTABLE_PAYLOAD,
      reason: 'payload was encrypted with key "k1", which is not in PAYLOAD_KEYS',
    });
    expect(told).toEqual(['payload was encrypted with key "k1", which is not in PAYLOAD_KEYS']);
  });

  it('refuses altered ciphertext, a different key under the same id, and truncated data', async () => {
    const codec = new EncryptionCodec([k1], { unencrypted: 'pass' });
    const [p] = await codec.encode([payload('intact')]);
    const flipped = Buffer.from(p!.data!);
    flipped[20]! ^= 1;
    await expect(codec.decode([{ ...p!, data: flipped }])).rejects.toThrow(CodecError);
    await expect(new EncryptionCodec([generatePayloadKey('k1')], { unencrypted: 'pass' }).decode([p!])).rejects.toThrow(
      /does not decrypt with key "k1"/,
    );
    await expect(codec.decode([{ ...p!, data: Buffer.alloc(10) }])).rejects.toThrow(/truncated/);
    // The key id is authenticated: relabelling a payload to another listed key fails too.
    const both = new EncryptionCodec([k1, { id: 'k1b', key: k1.key }], { unencrypted: 'pass' });
    await expect(
      both.decode([{ ...p!, metadata: { ...p!.metadata, [KEY_ID_HEADER]: Buffer.from('k1b') } }]),
    ).rejects.toThrow(/does not decrypt/);
  });

  it('the codec server shows payloads it did not encode as they are', async () => {
    const plain = payload({ before: 'codec' });
    expect(await new EncryptionCodec([k1], { unencrypted: 'pass' }).decode([plain])).toEqual([plain]);
  });

  it('workers and the client get a refusal in place of a payload that was not encrypted', async () => {
    const plain = payload({ shareId: 'shr_x', link: { channel: 'sms', to: '+15559999999' } });
    const [decoded] = await new EncryptionCodec([k1]).decode([plain]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(UNENCRYPTED_PAYLOAD);
  });
});

describe('PAYLOAD_KEYS', () => {
  it('parses id:base64 lists, newest first, and formats them back', () => {
    const keys = [generatePayloadKey('2026-11'), generatePayloadKey('2026-05')];
    const parsed = parsePayloadKeys(formatPayloadKeys(keys));
    expect(parsed.map((k) => k.id)).toEqual(['2026-11', '2026-05']);
    expect(parsed[0]!.key.equals(keys[0]!.key)).toBe(true);
  });

  it('rejects an empty list, missing ids, short keys and duplicates', () => {
    const key = randomBytes(32).toString('base64');
    for (const bad of ['', ' , ', key, `:${key}`, `k:${Buffer.alloc(31).toString('base64')}`, `k:${key},k:${key}`]) {
      expect(() => parsePayloadKeys(bad), bad).toThrow(CodecError);
    }
  });
});

describe('codec server gate (codecGate)', () => {
  const checkBearer = bearerChecker(['codec-token-0123456789']);
  const ui = {
    origin: 'http://localhost:8233',
    host: '127.0.0.1:3000',
    peer: '127.0.0.1',
    headerNames: ['origin', 'host', 'content-type', 'x-namespace'],
  };
  const gate = (facts: Partial<CodecRequestFacts>, localUi = true) =>
    codecGate({ ...ui, ...facts, headerNames: facts.headerNames ?? ui.headerNames }, { checkBearer, localUi })?.status;

  it('lets the embedded UI in without a token only from this machine, directly, and only when local UI is on', () => {
    expect(gate({})).toBeUndefined();
    expect(gate({ peer: '::1', host: 'localhost:3000' })).toBeUndefined();
    expect(gate({ peer: '::ffff:127.0.0.1', host: '[::1]:3000' })).toBeUndefined();
    expect(gate({}, false)).toBe(401); // live mode, a shared Temporal, or CODEC_LOCAL_UI=false
    expect(gate({ peer: '10.0.0.7' })).toBe(401);
    expect(gate({ peer: '::ffff:10.0.0.7' })).toBe(401);
    expect(gate({ origin: undefined })).toBe(401); // not a browser
    // A tunnel or local reverse proxy connects from loopback too: its forwarding headers or public Host give it away.
    for (const h of ['x-forwarded-for', 'Forwarded', 'x-real-ip', 'via', 'x-forwarded-host'])
      expect(gate({ headerNames: [...ui.headerNames, h] }), h).toBe(401);
    expect(gate({ host: 'abcd.ngrok.app' })).toBe(401);
  });

  it('accepts a codec token from anywhere and refuses a wrong one', () => {
    expect(
      gate(
        {
          authorization: 'Bearer codec-token-0123456789',
          peer: '203.0.113.9',
          host: 'ots.example.org',
          origin: undefined,
        },
        false,
      ),
    ).toBeUndefined();
    expect(gate({ authorization: 'Bearer wrong-token-0123456789' })).toBe(403);
  });
});
