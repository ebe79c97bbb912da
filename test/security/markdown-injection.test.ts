// Attack: agent- or technician-supplied text rendered as Markdown in a technician's Temporal UI. Temporal UI renders
// user metadata (summary, details, current details) as Markdown, with live links (workflows/technician-view.ts has
// the renderer's files). A ticket id such as `T-9 [Open the password](http://…/phish)`, a resolve comment or the
// "by" of a burn request must not become a link on the technician's screen. Real service, real dev server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { burnSignal, resolveSignal } from '../../workflows/messages.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { startTestService, type TestService } from '../helpers/service.js';

const PHISH = '[Open the password](http://evil.example/phish)';

let svc: TestService;
const scanned: { secrets: string[]; shareIds: string[] } = { secrets: [], shareIds: [] };
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  if (svc) await svc.expectNoLeaksIn(scanned);
  await svc?.stop();
});

/** What a Markdown renderer would read as a link, HTML or an autolink: `[`, `]`, `<`, `>` or `://` not escaped. */
function liveSyntax(md: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < md.length; i++) {
    if (md[i] === '\\') i++;
    else if ('[]<>'.includes(md[i]!)) found.push(md[i]!);
    else if (md.startsWith('://', i)) found.push('://');
  }
  return found;
}

async function currentDetails(shareId: string): Promise<string> {
  const handle = svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId));
  return (await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata')).currentDetails;
}

let n = 0;
async function share(extra: Record<string, unknown> = {}) {
  const value = `Md-Injection-Secret-${++n}`;
  const res = await svc.api('POST', '/v1/shares', {
    ticketId: `T-MD-${n}`,
    secret: { value },
    link: { channel: 'sms', to: `+1555070${String(n).padStart(4, '0')}` },
    ...extra,
  });
  expect(res.status, res.text).toBe(202);
  scanned.secrets.push(value);
  scanned.shareIds.push(res.body.shareId);
  return res.body.shareId as string;
}

describe('Markdown injection into Temporal UI', () => {
  // First in the file: the fault below must meet this hand-off's create, not another's.
  it("a technician's resolve comment with a Markdown link shows escaped in the current details", async () => {
    // Onetime Secret asks for an hour's wait: the hand-off pauses for a technician at once.
    svc.otsEmulator!.injectFault({
      method: 'POST',
      op: 'create',
      status: 429,
      headers: { 'Retry-After': '3600' },
      body: 'Too Many Requests',
    });
    const shareId = await share();
    await svc.waitForState(shareId, 'needs_technician');
    await svc.temporal.client.workflow
      .getHandle(shareWorkflowId(shareId))
      .signal(resolveSignal, { action: 'cancel', by: 'alex', comment: `${PHISH} <b>now</b>` });
    const done = await svc.waitForState(shareId, 'cancelled');
    // The note list (API, PSA) keeps the text as written; only its Markdown rendering is escaped.
    expect(done.notes.at(-1)!.text).toBe(`Technician decision: cancel by alex (${PHISH} <b>now</b>).`);
    const md = await currentDetails(shareId);
    expect(md).toContain(
      'Technician decision: cancel by alex (\\[Open the password\\](http\\://evil.example/phish) \\<b\\>now\\</b\\>).',
    );
    expect(liveSyntax(md)).toEqual([]);
  });

  it('the "by" of a burn request with a Markdown link shows escaped in the current details', async () => {
    const shareId = await share();
    await svc.waitForState(shareId, 'awaiting_view');
    await svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId)).signal(burnSignal, { by: PHISH });
    await svc.waitForState(shareId, 'burned');
    const md = await currentDetails(shareId);
    expect(md).toContain('Secret burned at the request of \\[Open the password\\](http\\://evil.example/phish);');
    expect(liveSyntax(md)).toEqual([]);
  });

  it('refuses a ticket id or session id carrying a Markdown link with 400, naming the field and its alphabet', async () => {
    for (const field of ['ticketId', 'sessionId'] as const) {
      const res = await svc.api('POST', '/v1/shares', {
        ticketId: 'T-9',
        secret: { value: 'Never-Started-1' },
        link: { channel: 'sms', to: '+15550709999' },
        [field]: `T-9 ${PHISH}`,
      });
      expect(res.status, field).toBe(400);
      expect(res.body).toEqual({
        error: 'invalid share request',
        issues: [{ path: field, message: expect.stringMatching(/letters A-Z a-z, digits 0-9 and \. _ (: )?\/ # -/) }],
      });
      expect(res.text).not.toContain('evil.example');
    }
    // The summary and details of an accepted request carry the ids as they are.
    const shareId = await share({ sessionId: 'sess-42' });
    const description = await svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId)).describe();
    expect(await description.staticSummary()).toMatch(/^Ticket T-MD-\d+: link by SMS to \+155\*+\d{3}, valid 1 d$/);
    expect(await description.staticDetails()).toMatch(/^\*\*Ticket:\*\* T-MD-\d+ \(agent session sess-42\)\n\n/);
  });
});
