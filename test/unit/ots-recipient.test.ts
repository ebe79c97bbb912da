// Email recipients as Onetime Secret accepts them (src/ots/recipient.ts: Truemail's regex, which the server applies
// before it mails a link). The agent API refuses the rest with 400 naming link.to, before anything is created.
import { describe, expect, it } from 'vitest';
import { describeIssues, shareRequestSchema } from '../../src/http/schemas.js';
import { isOtsRecipient } from '../../src/ots/recipient.js';

// Accepted by Truemail's REGEX_EMAIL_PATTERN (truemail-rb/truemail lib/truemail/core.rb).
const accepted = [
  'pat@example.com',
  'a@b.co', // 6 characters, the minimum
  'Pat.Smith+tickets@Example.COM',
  'ops_team-1@mail.example.co.uk',
  'a|b@example.com', // "|" is inside Truemail's character class
  `${'a'.repeat(64)}@${'b'.repeat(182)}.example`, // 255 characters
];

// Refused by it, most of which a generic email check lets through.
const refused = [
  '_ops@example.com', // the local part must start with a letter or digit
  '+tag@example.com',
  '.dot@example.com',
  'a@b.c', // 5 characters, and a one-letter top-level domain
  'pat@localhost', // no top-level domain
  'pat@example.c0m', // the top-level domain is letters only
  'pat@-example.com',
  'pat@example..com',
  'pat@exa_mple.com',
  "o'brien@example.com", // apostrophe: valid in RFC 5322, not in Truemail's class
  'pat smith@example.com',
  'pàt@example.com', // Ruby's \w is ASCII
  'pat@example.com\n',
  `${'a'.repeat(64)}@${'b'.repeat(183)}.example`, // 256 characters
];

describe('Onetime Secret email recipients', () => {
  it('accepts what the server accepts', () => {
    for (const a of accepted) expect(isOtsRecipient(a), a).toBe(true);
  });

  it('refuses what the server refuses', () => {
    for (const a of refused) expect(isOtsRecipient(a), JSON.stringify(a)).toBe(false);
  });

  it('the agent API answers a refused address with an error naming link.to', () => {
    const body = (to: string) => ({ ticketId: 'T-1', secret: { generate: true }, link: { channel: 'email', to } });
    for (const a of accepted) expect(shareRequestSchema.safeParse(body(a)).success, a).toBe(true);
    for (const a of refused) {
      const r = shareRequestSchema.safeParse(body(a));
      expect(r.success, JSON.stringify(a)).toBe(false);
      const issues = describeIssues(r.error!);
      expect(issues).toEqual([{ path: 'link.to', message: expect.stringContaining('Onetime Secret accepts') }]);
    }
  });
});
