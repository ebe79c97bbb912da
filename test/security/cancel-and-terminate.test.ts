// Attack: end a hand-off from Temporal instead of through the hand-off itself, and see whether its link stays live.
// Against the real service and the run's dev server, with the sandbox's Onetime Secret emulator as the record of
// what is live:
//  - cancelled (Temporal UI "Request Cancellation", `temporal workflow cancel`, handle.cancel()) during the watch,
//    during a create whose answer is lost, while paused for a technician, and with a burn that fails: the secret is
//    burned (or a follow-up note says it is not), the hand-off ends `cancelled` and the workflow Canceled;
//  - terminated or timed out: the status API says `terminated` instead of the state it froze in, and POST …/burn
//    burns the secret directly; a second burn answers 409 `burned`.
// Every scenario ends with the leak scan.
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { makeShareInput } from '../../src/handoff-input.js';
import { tokenId } from '../../src/http/auth.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { burnMaterialQuery } from '../../workflows/messages.js';
import type { ShareStatus } from '../../workflows/types.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { authRefusal, burnPath } from '../helpers/ots-version.js';

let svc: TestService;
const fresh = () => ({
  secrets: [] as string[],
  shareIds: [] as string[],
  links: [] as string[],
  allowSms: new Set<string>(),
});
let scanned = fresh();

beforeAll(async () => {
  // A create whose answer is held back times out after 2 s, so its retry (which finds the secret again) comes soon.
  svc = await startTestService({ AGENT_API_TOKENS: `${AGENT_A},${AGENT_B}` }, { otsTimeoutMs: 2_000 });
});
afterAll(async () => {
  svc?.otsEmulator?.releaseStalled();
  await svc?.stop();
});
afterEach(async () => {
  svc.otsEmulator!.releaseStalled();
  // Receipt keys too: the direct burn opens them in the API process.
  await svc.expectNoLeaksIn({ ...scanned, secrets: [...scanned.secrets, ...emu().store.receipts.keys()] });
  scanned = fresh();
});

const AGENT_A = 'agent-a-token-0123456789abcdef';
const AGENT_B = 'agent-b-token-0123456789abcdef';
const CANCELLED_NOTE = /^Cancelled in Temporal \(a workflow cancellation request: /;
const emu = () => svc.otsEmulator!;
const handle = (shareId: string) => svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId));

let n = 0;
async function share(link: 'sms' | 'email' = 'sms') {
  const value = `Cancel-Attack-${++n}-${randomUUID().slice(0, 8)}`;
  const to = link === 'sms' ? `+1555070${String(n).padStart(4, '0')}` : `caller-${n}@example.com`;
  const res = await svc.api('POST', '/v1/shares', {
    ticketId: `T-CX-${n}`,
    secret: { value },
    link: { channel: link, to },
    ...(link === 'email' ? { passphrase: 'sms', passphraseTo: `+1555071${String(n).padStart(4, '0')}` } : {}),
  });
  expect(res.status).toBe(202);
  scanned.secrets.push(value);
  scanned.shareIds.push(res.body.shareId);
  return { shareId: res.body.shareId as string, to, value };
}

/** The emulator's receipt of a hand-off's secret, found by the receipt prefix in its "created" note. */
async function receiptOf(shareId: string) {
  const s = await svc.waitFor(shareId, (x) => x.notes.some((nt) => /receipt \w{8}…/.test(nt.text)));
  const prefix = s.notes.map((nt) => nt.text.match(/receipt (\w{8})…/)?.[1]).find(Boolean)!;
  const receipt = [...emu().store.receipts.values()].find((r) => r.key.startsWith(prefix));
  if (!receipt) throw new Error(`no receipt ${prefix}… in the emulator`);
  return receipt;
}
const receiptState = async (shareId: string) => (await receiptOf(shareId)).state;

/** Waits for the workflow to close; returns Temporal's status name. */
async function closed(shareId: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await handle(shareId).describe();
    if (d.status.name !== 'RUNNING') return d.status.name;
    if (Date.now() > deadline) throw new Error(`${shareId} still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const lastNote = (s: ShareStatus) => s.notes.at(-1)!;
const paused = (s: ShareStatus) => s.notes.some((nt) => /paused until a technician/.test(nt.text));

describe('cancelled in Temporal', () => {
  it('during the watch (handle.cancel()): the secret is burned, the hand-off ends cancelled and the workflow Canceled', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    const link = svc.linkSentTo(s.to);
    scanned.links.push(link);

    await handle(s.shareId).cancel();
    expect(await closed(s.shareId)).toBe('CANCELLED');
    const after = await svc.status(s.shareId);
    expect(after.state).toBe('cancelled');
    expect(paused(after)).toBe(false);
    expect(lastNote(after).text).toMatch(CANCELLED_NOTE);
    expect(lastNote(after).text).toMatch(/The secret was burned: the link no longer opens\.$/);
    expect(await receiptState(s.shareId)).toBe('burned');
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });

    const api = await svc.api('GET', `/v1/shares/${s.shareId}`);
    expect(api.body).toMatchObject({ state: 'cancelled' });
    const burn = await svc.api('POST', `/v1/shares/${s.shareId}/burn`);
    expect(burn.status).toBe(409);
    expect(burn.body.state).toBe('cancelled');
  });

  it('while the create is in flight and its answer is lost: the create is let finish and found again, then burned; nothing is sent', async () => {
    const before = emu().secretCount();
    // OTS makes the secret but holds the answer back; the client gives up after 2 s.
    emu().injectFault({ method: 'POST', op: 'create', stall: {} });
    const s = await share();
    for (const deadline = Date.now() + 15_000; emu().secretCount() === before;) {
      if (Date.now() > deadline) throw new Error('the create never reached OTS');
      await new Promise((r) => setTimeout(r, 20));
    }
    await handle(s.shareId).cancel();
    expect(await closed(s.shareId)).toBe('CANCELLED');

    const after = await svc.status(s.shareId);
    expect(after.state).toBe('cancelled');
    expect(paused(after)).toBe(false);
    expect(after.notes.map((nt) => nt.text).join('\n')).toMatch(/Found again after an attempt whose answer was lost/);
    expect(lastNote(after).text).toMatch(/The secret was burned: the link no longer opens\.$/);
    // One secret, burned: none left live.
    expect(emu().secretCount()).toBe(before + 1);
    expect(await receiptState(s.shareId)).toBe('burned');
    expect(svc.twilioFake!.outbox().filter((m) => m.to === s.to)).toHaveLength(0);
  });

  it('while paused for a technician (`temporal workflow cancel`): the secret that exists is burned, no technician needed', async () => {
    const s = await share();
    svc.twilioFake!.undeliverable.add(s.to);
    await svc.waitForState(s.shareId, 'needs_technician');
    scanned.links.push(svc.linkSentTo(s.to));

    const cli = await ensureTemporalCli({ projectDir: fileURLToPath(new URL('../..', import.meta.url)) });
    await promisify(execFile)(cli, [
      'workflow',
      'cancel',
      '--address',
      inject('temporalAddress'),
      '--namespace',
      svc.config.TEMPORAL_NAMESPACE,
      '--workflow-id',
      shareWorkflowId(s.shareId),
    ]);
    expect(await closed(s.shareId)).toBe('CANCELLED');
    const after = await svc.status(s.shareId);
    expect(after.state).toBe('cancelled');
    expect(lastNote(after).text).toMatch(CANCELLED_NOTE);
    expect(await receiptState(s.shareId)).toBe('burned');
  });

  it('with a burn that Onetime Secret refuses: a follow-up note says the link stays live, and POST …/burn then burns it directly', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    const link = svc.linkSentTo(s.to);
    scanned.links.push(link);
    const { key } = await receiptOf(s.shareId);
    emu().injectFault({ method: 'POST', path: burnPath(key, svc.ots.apiVersion), ...authRefusal(svc.ots.apiVersion) });

    await handle(s.shareId).cancel();
    expect(await closed(s.shareId)).toBe('CANCELLED');
    const after = await svc.status(s.shareId);
    expect(after.state).toBe('cancelled');
    expect(paused(after)).toBe(false);
    expect(lastNote(after).followUp).toBe(true);
    expect(lastNote(after).text).toMatch(
      new RegExp(
        `Burning the secret failed \\(OTS_AUTH: .*\\): the link was NOT burned and stays live until it expires at ${after.expiresAt}\\. Burn it with POST /v1/shares/${s.shareId}/burn`,
      ),
    );
    expect(await receiptState(s.shareId)).toBe('new');

    const burned = await svc.api('POST', `/v1/shares/${s.shareId}/burn`);
    expect(burned.status).toBe(200);
    expect(burned.body).toMatchObject({
      shareId: s.shareId,
      state: 'burned',
      closed: { workflowStatus: 'CANCELLED', lastState: 'cancelled' },
    });
    expect(burned.body.closed.note).toMatch(/burned the secret directly in Onetime Secret: the link no longer opens/);
    expect(await receiptState(s.shareId)).toBe('burned');
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
    const again = await svc.api('POST', `/v1/shares/${s.shareId}/burn`);
    expect(again.status).toBe(409);
    expect(again.body.state).toBe('burned');
  });
});

describe('terminated or timed out in Temporal', () => {
  it('terminated while watching (passphrase-protected link): the status says terminated, POST …/burn burns it directly, then 409 burned', async () => {
    const s = await share('email');
    await svc.waitForState(s.shareId, 'awaiting_view');
    const mail = emu()
      .mail()
      .find((m) => m.to === s.to)!;
    scanned.links.push(mail.link);
    // The passphrase SMS is the one place the passphrase may be written.
    for (const m of svc.twilioFake!.outbox().filter((x) => x.to.startsWith('+1555071'))) scanned.allowSms.add(m.sid);
    scanned.secrets.push(await svc.passphraseOf(s.shareId));

    await handle(s.shareId).terminate('attack: terminated from Temporal UI');
    expect(await closed(s.shareId)).toBe('TERMINATED');

    const status = await svc.api('GET', `/v1/shares/${s.shareId}`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      shareId: s.shareId,
      state: 'terminated',
      closed: { workflowStatus: 'TERMINATED', lastState: 'awaiting_view', at: expect.any(String) },
    });
    expect(status.body.closed.note).toContain(`the link may still open until ${status.body.expiresAt}`);
    expect(await receiptState(s.shareId)).toBe('new');

    // Another agent's token: no such hand-off, and its burn burns nothing.
    const asB = { authorization: `Bearer ${AGENT_B}` };
    expect((await svc.api('GET', `/v1/shares/${s.shareId}`, undefined, asB)).status).toBe(404);
    expect((await svc.api('POST', `/v1/shares/${s.shareId}/burn`, undefined, asB)).status).toBe(404);
    expect(await receiptState(s.shareId)).toBe('new');

    const burned = await svc.api('POST', `/v1/shares/${s.shareId}/burn`);
    expect(burned.status).toBe(200);
    expect(burned.body).toMatchObject({ state: 'burned', closed: { workflowStatus: 'TERMINATED' } });
    expect(await receiptState(s.shareId)).toBe('burned');
    await expect(svc.openLink(mail.link, await svc.passphraseOf(s.shareId))).rejects.toMatchObject({
      code: 'OTS_NOT_FOUND',
    });

    const again = await svc.api('POST', `/v1/shares/${s.shareId}/burn`);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({
      error: 'the link no longer opens: Onetime Secret says it was burned',
      state: 'burned',
    });
    expect((await svc.api('GET', `/v1/shares/${s.shareId}`)).body.state).toBe('terminated');
  });

  it('timed out (a workflow execution timeout): reported as terminated, and burned directly', async () => {
    // Started as the API would, but with an execution timeout, which the API never sets.
    const shareId = `shr_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    const value = `Timeout-Attack-${randomUUID().slice(0, 8)}`;
    const to = '+15550729999';
    scanned.secrets.push(value);
    scanned.shareIds.push(shareId);
    // As the agent API makes it (src/handoff-input.ts): sealed for this hand-off, signed, this token's.
    const input = makeShareInput(
      svc.sealer,
      {
        shareId,
        link: { channel: 'sms', to },
        passphrase: { mode: 'none' },
        ticketId: 'T-CX-TIMEOUT',
        agent: tokenId(svc.token),
        ttlSeconds: 3600,
        pollIntervals: svc.config.OTS_POLL_INTERVALS,
        smsStatusCallback: `${svc.config.publicBaseUrl}/twilio/sms-status?share=${shareId}`,
        notesWebhook: false,
      },
      { value },
    );
    await svc.temporal.client.workflow.start('shareSecret', {
      taskQueue: svc.config.TEMPORAL_TASK_QUEUE,
      workflowId: shareWorkflowId(shareId),
      args: [input],
      workflowExecutionTimeout: '4s',
    });
    await svc.waitForState(shareId, 'awaiting_view');
    scanned.links.push(svc.linkSentTo(to));
    expect(await closed(shareId)).toBe('TIMED_OUT');

    const status = await svc.api('GET', `/v1/shares/${shareId}`);
    expect(status.body).toMatchObject({ state: 'terminated', closed: { workflowStatus: 'TIMED_OUT' } });
    const burned = await svc.api('POST', `/v1/shares/${shareId}/burn`);
    expect(burned.status).toBe(200);
    expect(burned.body.state).toBe('burned');
    expect(await receiptState(shareId)).toBe('burned');
  });

  it('terminated before a secret was recorded: the status says so, and a burn answers 409 with nothing to burn', async () => {
    emu().injectFault({ method: 'POST', op: 'create', stall: {} });
    const before = emu().secretCount();
    const s = await share();
    for (const deadline = Date.now() + 15_000; emu().secretCount() === before;) {
      if (Date.now() > deadline) throw new Error('the create never reached OTS');
      await new Promise((r) => setTimeout(r, 20));
    }
    await handle(s.shareId).terminate('attack: terminated mid-create');
    expect(await closed(s.shareId)).toBe('TERMINATED');
    expect(await handle(s.shareId).query(burnMaterialQuery)).toEqual({});
    const status = await svc.api('GET', `/v1/shares/${s.shareId}`);
    expect(status.body).toMatchObject({ state: 'terminated', closed: { lastState: 'creating' } });
    expect(status.body.closed.note).toMatch(/No secret was recorded, so no link was sent\.$/);
    const burn = await svc.api('POST', `/v1/shares/${s.shareId}/burn`);
    expect(burn.status).toBe(409);
    expect(burn.body).toMatchObject({ state: 'terminated', error: expect.stringMatching(/nothing to burn/) });
  });
});
