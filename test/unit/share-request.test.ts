import { describe, expect, it } from 'vitest';
import {
  describeIssues,
  SESSION_ID_PATTERN,
  shareRequestSchema,
  shareToolSchema,
  TICKET_ID_PATTERN,
} from '../../src/http/schemas.js';

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

  it('takes ticket ids as PSAs write them, and nothing with spaces, brackets or other punctuation', () => {
    for (const id of [
      'INC0012345',
      'RITM0010001',
      'PROJ-123',
      '#4521',
      'T20251130.0042',
      '123456',
      'org/repo#12',
      'A_1',
    ])
      expect(shareRequestSchema.safeParse({ ...ok, ticketId: id }).success, id).toBe(true);
    expect(shareRequestSchema.parse({ ...ok, ticketId: '  PROJ-123 ' }).ticketId).toBe('PROJ-123');
    expect(shareRequestSchema.safeParse({ ...ok, ticketId: 'T'.repeat(128) }).success).toBe(true);
    const bad = [
      'T-9 [Open the password](http://evil.example/phish)', // a Markdown link for the technician's screen
      'T-9 <a href="http://evil.example">x</a>',
      'http://evil.example/phish',
      'T 9',
      'T-9\nsecond line',
      '(T-9)',
      'Tr0ub4dor&3', // a password pasted into the wrong field
      'Summer2025!',
      '-T9',
      '.T9',
      '##4521',
      'T'.repeat(129),
      'TÉ-1',
      '',
    ];
    for (const id of bad) {
      const list = issues({ ...ok, ticketId: id });
      expect(list, id).toEqual([
        { path: 'ticketId', message: expect.stringMatching(/letters A-Z a-z, digits 0-9 and \. _ \/ # -/) },
      ]);
      if (id) expect(JSON.stringify(list)).not.toContain(id);
    }
  });

  it('takes session ids of the same plain alphabet (plus ":")', () => {
    for (const id of ['3f1c2a9e-7b4d-4c1e-9f0a-2b6d8e4c1a7f', 'call_8a7b6c', `CA${'0'.repeat(32)}`, 'urn:uuid:1-2'])
      expect(shareRequestSchema.safeParse({ ...ok, sessionId: id }).success, id).toBe(true);
    for (const id of ['[x](http://evil.example)', 'a b', '', ':x', 's'.repeat(129)])
      expect(issues({ ...ok, sessionId: id }), id).toEqual([
        { path: 'sessionId', message: expect.stringMatching(/letters A-Z a-z, digits 0-9 and \. _ : \/ # -/) },
      ]);
  });

  it("tells the agent's LLM the ticket and session id alphabets in the tool schema", () => {
    const props = (shareToolSchema().input_schema as { properties: Record<string, any> }).properties;
    expect(props.ticketId).toMatchObject({ type: 'string', pattern: TICKET_ID_PATTERN, maxLength: 128 });
    expect(props.ticketId.description).toMatch(/letters, digits and \. _ \/ # - only/);
    expect(props.sessionId).toMatchObject({ type: 'string', pattern: SESSION_ID_PATTERN, maxLength: 128 });
    // The published pattern is the one the API enforces.
    for (const id of ['PROJ-123', '#4521', 'T-9 [x](http://e)', 'a b', '-x'])
      expect(new RegExp(props.ticketId.pattern).test(id), id).toBe(
        shareRequestSchema.safeParse({ ...ok, ticketId: id }).success,
      );
  });
});
