import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signInput, verifyInput } from '../../src/handoff-input.js';
import { createSealer, handoffContext, SealError, type HandoffBinding, type SealedField } from '../../src/seal.js';
import { captureLog } from '../helpers/log-capture.js';

describe('sealing', () => {
  const C = 'context-a';
  it('round-trips and hides the plaintext', () => {
    const s = createSealer(randomBytes(32));
    const box = s.seal('correct horse battery staple', C);
    expect(JSON.stringify(box)).not.toContain('horse');
    expect(s.open(box, C)).toBe('correct horse battery staple');
    expect(s.seal('x', C).box).not.toBe(s.seal('x', C).box);
  });
  it('refuses a box sealed with another key or tampered with', () => {
    const a = createSealer(randomBytes(32));
    const b = createSealer(randomBytes(32));
    expect(() => b.open(a.seal('x', C), C)).toThrow(SealError);
    const box = a.seal('hello', C);
    const raw = Buffer.from(box.box, 'base64');
    raw[14] = (raw[14] ?? 0) ^ 1;
    expect(() => a.open({ sealed: 'v2', box: raw.toString('base64') }, C)).toThrow(SealError);
  });
  it('refuses the old unbound kind of box', () => {
    const a = createSealer(randomBytes(32));
    const box = a.seal('hello', C);
    expect(() => a.open({ sealed: 'v1', box: box.box } as never, C)).toThrow(/unbound kind \(v1\)/);
  });

  // The attack: a technician who decodes a hand-off's input copies its sealed values into a workflow of their own
  // with another recipient, another share id, or into another field. Each change of context must refuse to open.
  describe('a box opens only for its own hand-off, field and recipients', () => {
    const s = createSealer(randomBytes(32));
    const victim: HandoffBinding = {
      shareId: 'shr_0000000000000000000000001',
      link: { channel: 'sms', to: '+15550000001' },
      passphrase: { mode: 'voice', callSid: 'CA' + 'a'.repeat(32), format: 'digits', fallbackTo: undefined },
    };
    const box = s.seal('the secret', handoffContext('value', victim));
    const variants: [string, HandoffBinding, SealedField][] = [
      ['another link recipient', { ...victim, link: { channel: 'sms', to: '+15559999999' } }, 'value'],
      ['the link by email', { ...victim, link: { channel: 'email', to: '+15550000001' } }, 'value'],
      ['another share id', { ...victim, shareId: 'shr_0000000000000000000000002' }, 'value'],
      [
        'another call',
        { ...victim, passphrase: { ...victim.passphrase, callSid: 'CA' + 'b'.repeat(32) } as never },
        'value',
      ],
      [
        'an SMS fallback added',
        { ...victim, passphrase: { ...victim.passphrase, fallbackTo: '+15559999999' } as never },
        'value',
      ],
      ['passphrase by SMS instead', { ...victim, passphrase: { mode: 'sms', to: '+15559999999' } }, 'value'],
      ['another field (link)', victim, 'link'],
      ['another field (passphrase)', victim, 'passphrase'],
      ['another field (receipt)', victim, 'receipt'],
    ];
    it('opens in its own context', () => {
      expect(s.open(box, handoffContext('value', victim))).toBe('the secret');
    });
    it.each(variants)('does not open with %s', (_what, binding, field) => {
      expect(() => s.open(box, handoffContext(field, binding))).toThrow(SealError);
    });
  });

  it('signs workflow inputs: any change, or another key, fails the check', () => {
    const s = createSealer(randomBytes(32));
    const input = signInput(s, {
      shareId: 'shr_0000000000000000000000001',
      ticketId: 'T-1',
      agent: 'agt_0123456789ab',
      secret: { generate: true },
      ttlSeconds: 3600,
      link: { channel: 'sms', to: '+15550000001' },
      passphrase: { mode: 'none' },
      pollIntervals: [15, 30],
      smsStatusCallback: 'http://127.0.0.1:3000/twilio/sms-status?share=shr_0000000000000000000000001',
      notesWebhook: false,
    });
    expect(verifyInput(s, input)).toBe(true);
    // Key order does not matter (canonical JSON); `resume` is not signed (a continued run adds it).
    const reordered = Object.fromEntries(Object.entries(input).reverse()) as typeof input;
    expect(verifyInput(s, reordered)).toBe(true);
    expect(verifyInput(s, { ...input, resume: { state: 'creating' } as never })).toBe(true);
    expect(verifyInput(s, { ...input, link: { channel: 'sms', to: '+15559999999' } })).toBe(false);
    expect(verifyInput(s, { ...input, pollIntervals: [0.001] })).toBe(false);
    expect(verifyInput(s, { ...input, agent: 'agt_ffffffffffff' })).toBe(false);
    expect(verifyInput(s, { ...input, mac: undefined as never })).toBe(false);
    expect(verifyInput(createSealer(randomBytes(32)), input)).toBe(false);
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
