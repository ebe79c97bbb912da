import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  escapeMarkdown,
  maskRecipient,
  technicianDetails,
  technicianStaticDetails,
  technicianSummary,
} from '../../workflows/technician-view.js';

describe('maskRecipient', () => {
  it('masks phone numbers and emails', () => {
    expect(maskRecipient('+15551230001')).toBe('+155*****001');
    expect(maskRecipient('pat.smith@example.com')).toBe('p***@e***.com');
  });
});

/** Undoes CommonMark backslash escapes (any ASCII punctuation after a backslash renders as itself). */
const unescape = (md: string) => md.replace(/\\([!-/:-@[-`{-~])/g, '$1');
/** The characters of `md` that a Markdown renderer reads as syntax, i.e. those not preceded by an escaping backslash. */
function unescaped(md: string): string {
  let out = '';
  for (let i = 0; i < md.length; i++) {
    if (md[i] === '\\' && i + 1 < md.length) i++;
    else out += md[i];
  }
  return out;
}

/** Characters that mean something to Markdown, line breaks, and any other code point. */
const markdownish = fc.oneof(
  fc.constantFrom(...'[]()<>&`*_~|{}@\\:/.#+-=!1wW\n\r\u2028\u0000 '),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

describe('escapeMarkdown', () => {
  it('turns the phishing ticket id into plain text: no link, no HTML, no autolink', () => {
    const md = escapeMarkdown('T-9 [Open the password](http://evil.example/phish)');
    expect(md).toBe('T-9 \\[Open the password\\](http\\://evil.example/phish)');
    expect(escapeMarkdown('<a href="http://evil.example">x</a> <http://evil.example> &lt;b&gt;')).toBe(
      '\\<a href="http\\://evil.example"\\>x\\</a\\> \\<http\\://evil.example\\> \\&lt;b\\&gt;',
    );
    expect(escapeMarkdown('![img](http://evil.example/x.png)')).toBe('!\\[img\\](http\\://evil.example/x.png)');
  });

  it('keeps bare URLs and emails from autolinking (GFM extended autolinks)', () => {
    expect(escapeMarkdown('see https://evil.example and WWW.evil.example or bob@evil.example')).toBe(
      'see https\\://evil.example and WWW\\.evil.example or bob\\@evil.example',
    );
  });

  it('escapes emphasis, code, tables, strikethrough and the UI templates; line breaks become spaces', () => {
    expect(escapeMarkdown('*a* _b_ `c` ~~d~~ | e {workflowId} \\')).toBe(
      '\\*a\\* \\_b\\_ \\`c\\` \\~\\~d\\~\\~ \\| e \\{workflowId\\} \\\\',
    );
    expect(escapeMarkdown('ok\n# Heading\r\n\r\n> quote\u2028x\u0000y')).toBe('ok # Heading \\> quote x y');
  });

  it('escapes a leading block marker, and leaves plain ids as they are', () => {
    expect(escapeMarkdown('# h')).toBe('\\# h');
    expect(escapeMarkdown('- item')).toBe('\\- item');
    expect(escapeMarkdown('+ item')).toBe('\\+ item');
    expect(escapeMarkdown('===')).toBe('\\===');
    expect(escapeMarkdown('12. item')).toBe('12\\. item');
    expect(escapeMarkdown('3) item')).toBe('3\\) item');
    expect(escapeMarkdown('   - item')).toBe('   \\- item');
    for (const id of ['INC0012345', 'PROJ-123', 'T20251130.0042', 'T-CONF-ab12', '2026-11-30T10:00:00.000Z'])
      expect(escapeMarkdown(id)).toBe(id);
    expect(escapeMarkdown('#4521')).toBe('\\#4521');
  });

  it('for any text: renders back to the same characters, and leaves no syntax unescaped', () => {
    fc.assert(
      fc.property(fc.string({ unit: markdownish, maxLength: 60 }), (s) => {
        const md = escapeMarkdown(s);
        // eslint-disable-next-line no-control-regex
        expect(unescape(md)).toBe(s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' '));
        const bare = unescaped(md);
        expect(bare).not.toMatch(/[[\]<>&`*_~|{}@\\\n\r]/);
        expect(bare).not.toMatch(/:\/\/|www\./i);
        expect(md).not.toMatch(/^ *([#+=-]|\d+[.)])/);
      }),
      { numRuns: 3_000 },
    );
  });
});

const status = {
  ticketId: 'T-1',
  state: 'needs_technician' as const,
  link: {
    channel: 'sms' as const,
    to: '+155*****001',
    sentAt: '2026-11-30T10:00:00.000Z',
    deliveryStatus: 'failed' as const,
  },
  passphrase: { mode: 'none' as const },
  notes: [{ at: '2026-11-30T10:01:00.000Z', text: 'Technician decision: cancel by alex ([x](http://evil)).' }],
};

describe("the technician's view in Temporal UI", () => {
  it('escapes a note that quotes a resolve comment or a burn requester', () => {
    const md = technicianDetails(status);
    expect(md).toContain(
      '**Last note:** 2026-11-30T10:01:00.000Z Technician decision: cancel by alex (\\[x\\](http\\://evil)).',
    );
    expect(md).not.toContain('[x]');
    const burn = technicianDetails({
      ...status,
      notes: [{ at: 'now', text: 'Burn requested by <img src=x> **boss** before a secret existed; nothing was sent.' }],
    });
    expect(burn).toContain('Burn requested by \\<img src=x\\> \\*\\*boss\\*\\* before');
  });

  it('keeps its own Markdown and the masked recipients as they were', () => {
    const md = technicianDetails(status);
    expect(md.split('\n\n')).toEqual([
      '**State:** needs_technician',
      '**Ticket:** T-1',
      '**Link:** SMS to +155*****001, sent 2026-11-30T10:00:00.000Z (failed)',
      '**Passphrase:** none',
      '**Expires:** not created yet',
      expect.stringMatching(/^\*\*Last note:\*\* /),
    ]);
    const summary = {
      link: { channel: 'email' as const, to: 'caller@example.org' },
      passphrase: 'sms',
      ttlSeconds: 86_400,
    };
    expect(technicianSummary({ ...summary, ticketId: 'T-CONF-1' })).toBe(
      'Ticket T-CONF-1: link by email to c***@e***.org, passphrase by SMS, valid 1 d',
    );
    // A recipient whose kept characters could pair the mask's stars into emphasis is escaped whole.
    expect(
      technicianSummary({ ...summary, ticketId: 'T-1', link: { channel: 'email', to: '_x@example.org' } }),
    ).toContain('to \\_\\*\\*\\*\\@e\\*\\*\\*.org,');
  });

  it('escapes the ticket and session ids in the summary and the static details (defence behind the API check)', () => {
    const ticketId = 'T-9 [Open the password](http://evil.example/phish)';
    expect(
      technicianSummary({
        ticketId,
        link: { channel: 'sms', to: '+15551230001' },
        passphrase: 'none',
        ttlSeconds: 3600,
      }),
    ).toBe('Ticket T-9 \\[Open the password\\](http\\://evil.example/phish): link by SMS to +155*****001, valid 1 h');
    const details = technicianStaticDetails({
      ticketId,
      sessionId: '<script>x</script>',
      shareId: 'shr_0abc',
      requestedAt: '2026-11-30T10:00:00.000Z',
      ttlSeconds: 86_400,
    });
    expect(details.split('\n\n')).toEqual([
      '**Ticket:** T-9 \\[Open the password\\](http\\://evil.example/phish) (agent session \\<script\\>x\\</script\\>)',
      '**Hand-off:** shr_0abc',
      '**Requested:** 2026-11-30T10:00:00.000Z, link valid 1 d',
      '**Secret and passphrase:** sealed (never shown here)',
      '**When paused:** send the `resolve` signal (README, "For technicians")',
    ]);
  });
});
