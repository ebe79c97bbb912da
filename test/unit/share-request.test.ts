import { describe, expect, it } from 'vitest';
import { describeIssues, shareRequestSchema, shareToolSchema } from '../../src/http/schemas.js';

const ok = { ticketId: 'T-1', secret: { value: 'Tr0ub4dor&3' }, link: { channel: 'sms', to: '+15551230001' } };

function issues(body: unknown) {
  const r = shareRequestSchema.safeParse(body);
  if (r.success) throw new Error('expected a validation error');
  return describeIssues(r.error);
}

describe('share request validation', () => {
  it('names unknown fields only when the names are plain words: anything else could be markup', () => {
    expect(issues({ ...ok, colour: 'red' })).toEqual([{ path: '(body)', message: 'unknown field: colour' }]);
    const shown = issues({ ...ok, '<img src=x onerror=alert(1)>': 1 });
    expect(shown).toEqual([{ path: '(body)', message: 'unknown fields (names not shown)' }]);
    expect(JSON.stringify(shown)).not.toContain('<img');
  });

  it('accepts the documented forms', () => {
    expect(shareRequestSchema.safeParse(ok).success).toBe(true);
    expect(shareRequestSchema.safeParse({ ...ok, secret: { generate: true }, ttl: '7d' }).success).toBe(true);
    expect(shareRequestSchema.safeParse({ ...ok, ttl: 3600 }).success).toBe(true);
    expect(
      shareRequestSchema.safeParse({
        ...ok,
        link: { channel: 'email', to: 'pat@example.com' },
        passphrase: 'sms',
        passphraseTo: '+15551230002',
      }).success,
    ).toBe(true);
    expect(shareRequestSchema.safeParse({ ...ok, passphrase: 'voice', callSid: `CA${'0'.repeat(32)}` }).success).toBe(
      true,
    );
  });

  it('names the wrong field', () => {
    expect(issues({ ...ok, link: { channel: 'sms', to: '555-1234' } })).toEqual([
      { path: 'link.to', message: expect.stringMatching(/E\.164/) },
    ]);
    expect(issues({ ...ok, ticketId: '' })[0]?.path).toBe('ticketId');
    expect(issues({ ...ok, ttl: '2w' })[0]?.path).toBe('ttl');
    expect(issues({ ...ok, passphrase: 'voice' })).toEqual([{ path: 'callSid', message: expect.any(String) }]);
    expect(issues({ ...ok, link: { channel: 'email', to: 'a@b.co' }, passphrase: 'sms' })[0]?.path).toBe(
      'passphraseTo',
    );
    expect(issues({ ...ok, passphrase: 'sms', passphraseTo: '+15551230002' }).map((i) => i.path)).toContain(
      'passphrase',
    );
    // A voice passphrase falls back to SMS only when the link goes by email: never on the link's channel.
    expect(
      issues({ ...ok, passphrase: 'voice', callSid: `CA${'0'.repeat(32)}`, passphraseTo: '+15551230002' }),
    ).toEqual([{ path: 'passphraseTo', message: expect.stringMatching(/link's channel/) }]);
    expect(issues({ ...ok, extra: 1 })[0]?.path).toBe('(body)');
    expect(issues(null)[0]?.path).toBe('(body)');
  });

  it('rejects a secret over 10,000 bytes and never echoes a secret in an error', () => {
    const big = 'é'.repeat(5001); // 10,002 bytes
    const list = issues({ ...ok, secret: { value: big } });
    expect(list[0]?.path).toMatch(/^secret/);
    expect(JSON.stringify(list)).not.toContain('é');
    const wrongType = issues({ ...ok, secret: { value: 'Tr0ub4dor&3', generate: true } });
    expect(JSON.stringify(wrongType)).not.toContain('Tr0ub4dor');
  });

  it('publishes a JSON Schema tool definition of the same request', () => {
    const tool = shareToolSchema();
    expect(tool.name).toBe('share_credential');
    const schema = tool.input_schema as { type: string; required: string[]; properties: Record<string, unknown> };
    expect(schema.type).toBe('object');
    expect(schema.required).toEqual(expect.arrayContaining(['ticketId', 'secret', 'link']));
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['ttl', 'passphrase', 'callSid']));
  });
});
