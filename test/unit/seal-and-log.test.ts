import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer, SealError } from '../../src/seal.js';
import { captureLog } from '../helpers/log-capture.js';

describe('sealing', () => {
  it('round-trips and hides the plaintext', () => {
    const s = createSealer(randomBytes(32));
    const box = s.seal('correct horse battery staple');
    expect(JSON.stringify(box)).not.toContain('horse');
    expect(s.open(box)).toBe('correct horse battery staple');
    expect(s.seal('x').box).not.toBe(s.seal('x').box);
  });
  it('refuses a box sealed with another key or tampered with', () => {
    const a = createSealer(randomBytes(32));
    const b = createSealer(randomBytes(32));
    expect(() => b.open(a.seal('x'))).toThrow(SealError);
    const box = a.seal('hello');
    const raw = Buffer.from(box.box, 'base64');
    raw[14] = (raw[14] ?? 0) ^ 1;
    expect(() => a.open({ sealed: 'v1', box: raw.toString('base64') })).toThrow(SealError);
  });
});

describe('log redaction', () => {
  it('redacts every field that can hold a secret, passphrase or link', () => {
    const { log, lines } = captureLog('info');
    const secret = 'S3cr3t-value-9f2';
    log.info(
      {
        secret,
        passphrase: secret,
        link: `http://x/secret/${secret}`,
        body: secret,
        req: { headers: { authorization: `Bearer ${secret}` } },
      },
      'a',
    );
    log.info({ input: { secret: { value: secret }, passphrase: secret, credential: secret } }, 'b');
    log.child({ shareId: 's1' }).warn({ args: { password: secret, apiKey: secret, authToken: secret } }, 'c');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).not.toContain(secret);
    expect(lines[2]).toContain('"shareId":"s1"');
  });
});
