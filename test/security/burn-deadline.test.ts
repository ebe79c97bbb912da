// Attack: POST /v1/shares/:id/burn against a hand-off that no worker serves used to hang for minutes, and kept
// polling Temporal after the agent had hung up; enough of them hold every admission slot of the agent API
// (src/http/admission.ts). Against the real service and the run's dev server:
//  - the burn is bounded like the status: not taken up within the deadline → 503 with Retry-After;
//  - taken up but not finished within the deadline → 202 `burn_requested`, and the burn still happens;
// (the deadline is 10 s in production; here 3 s, through the service's temporalDeadlineMs knob, to keep it short).
//  - a client that disconnects leaves no Temporal call running.
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeShareInput } from '../../src/handoff-input.js';
import { tokenId } from '../../src/http/auth.js';
import { shareWorkflowId } from '../../workflows/ids.js';

import { startTestService, type TestService } from '../helpers/service.js';
import { burnPath } from '../helpers/ots-version.js';

/** The agent API's deadline for Temporal in this file. */
const DEADLINE_MS = 3_000;
let svc: TestService;
let scanned = { secrets: [] as string[], shareIds: [] as string[], links: [] as string[] };
/** Workflows on a task queue nobody polls: terminated after each test (their status cannot be queried). */
const unserved: string[] = [];
/** Temporal calls of the service's client still waiting for an answer. */
let inFlight = 0;

beforeAll(async () => {
  // A burn held back by OTS longer than the deadline must not time out in the client meanwhile.
  svc = await startTestService({}, { otsTimeoutMs: 30_000, temporalDeadlineMs: DEADLINE_MS });
  // Count the service client's update and query calls as they leave and as they settle (the SDK looks the method
  // up on this object for every call).
  const service = svc.temporal.client.workflowService as unknown as Record<string, (req: unknown) => Promise<unknown>>;
  for (const method of [
    'updateWorkflowExecution',
    'pollWorkflowExecutionUpdate',
    'queryWorkflow',
    'describeWorkflowExecution',
  ]) {
    const original = service[method]!.bind(service);
    service[method] = (req: unknown) => {
      inFlight += 1;
      return original(req).finally(() => {
        inFlight -= 1;
      });
    };
  }
});
afterAll(async () => {
  svc?.otsEmulator?.releaseStalled();
  await svc?.stop();
});
afterEach(async () => {
  for (const id of unserved.splice(0))
    await svc.temporal.client.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => undefined);
  svc.otsEmulator!.releaseStalled();
  // Receipt keys too: the direct burn opens them in the API process.
  await svc.expectNoLeaksIn({ ...scanned, secrets: [...scanned.secrets, ...svc.otsEmulator!.store.receipts.keys()] });
  scanned = { secrets: [], shareIds: [], links: [] };
});

/** A hand-off whose workflow sits on a task queue that no worker polls (its worker is down). */
async function unservedHandoff(): Promise<string> {
  const shareId = `shr_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  const value = `Unserved-${randomUUID().slice(0, 8)}`;
  scanned.secrets.push(value);
  // As the agent API makes it (src/handoff-input.ts): sealed for this hand-off, signed, this token's.
  const input = makeShareInput(
    svc.sealer,
    {
      shareId,
      link: { channel: 'sms', to: '+15550830001' },
      passphrase: { mode: 'none' },
      ticketId: 'T-BD-UNSERVED',
      agent: tokenId(svc.token),
      ttlSeconds: 3600,
      pollIntervals: [60],
      smsStatusCallback: `${svc.config.publicBaseUrl}/twilio/sms-status?share=${shareId}`,
      notesWebhook: false,
    },
    { value },
  );
  await svc.temporal.client.workflow.start('shareSecret', {
    taskQueue: `nobody-polls-${randomUUID()}`,
    workflowId: shareWorkflowId(shareId),
    args: [input],
  });
  unserved.push(shareWorkflowId(shareId));
  return shareId;
}

/** POST …/burn, with the response headers (svc.api keeps only the body). */
async function burn(shareId: string, signal?: AbortSignal) {
  const res = await request(`${svc.url}/v1/shares/${shareId}/burn`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc.token}` },
    signal,
  });
  const text = await res.body.text();
  svc.responses.push(text);
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) };
}

describe('POST /v1/shares/:id/burn is bounded', () => {
  it('against a hand-off no worker serves: 503 with Retry-After within about the deadline', async () => {
    const shareId = await unservedHandoff();
    const t0 = Date.now();
    const res = await burn(shareId);
    const ms = Date.now() - t0;
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body.error).toMatch(/did not take up the burn within 3 s/);
    expect(ms).toBeGreaterThan(DEADLINE_MS - 1_000);
    expect(ms).toBeLessThan(DEADLINE_MS + 2_500);
    // Nothing left waiting on Temporal once answered.
    expect(inFlight).toBe(0);
  }, 30_000);

  it('a client that hangs up leaves no Temporal call running', async () => {
    const shareId = await unservedHandoff();
    const hangUp = new AbortController();
    const pending = burn(shareId, hangUp.signal).catch((err: Error) => err);
    for (const deadline = Date.now() + 5_000; inFlight === 0;) {
      if (Date.now() > deadline) throw new Error('the burn never reached Temporal');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    hangUp.abort();
    expect(await pending).toBeInstanceOf(Error);
    const abortedAt = Date.now();
    for (const deadline = abortedAt + DEADLINE_MS - 1_000; inFlight > 0;) {
      // The deadline would end it too, later: it must end when the client leaves.
      if (Date.now() > deadline) throw new Error(`${inFlight} Temporal call(s) still running after the client left`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Date.now() - abortedAt).toBeLessThan(DEADLINE_MS - 1_000);
  }, 30_000);

  it('taken up but not finished within the deadline: 202 burn_requested, and the burn still happens', async () => {
    const value = `Slow-Burn-${randomUUID().slice(0, 8)}`;
    const to = '+15550830002';
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-BD-SLOW',
      secret: { value },
      link: { channel: 'sms', to },
    });
    const { shareId } = res.body;
    scanned.secrets.push(value);
    scanned.shareIds.push(shareId);
    await svc.waitForState(shareId, 'awaiting_view');
    const link = svc.linkSentTo(to);
    scanned.links.push(link);
    const receiptPrefix = (await svc.status(shareId)).notes[0]!.text.match(/receipt (\w{8})…/)![1]!;
    const receipt = [...svc.otsEmulator!.store.receipts.values()].find((r) => r.key.startsWith(receiptPrefix))!;
    // OTS burns at once but holds its answer for 3 s past the deadline.
    svc.otsEmulator!.injectFault({
      method: 'POST',
      path: burnPath(receipt.key, svc.ots.apiVersion),
      stall: { ms: DEADLINE_MS + 3_000 },
    });

    const t0 = Date.now();
    const answer = await burn(shareId);
    const ms = Date.now() - t0;
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ shareId, state: 'burn_requested', statusUrl: `${svc.url}/v1/shares/${shareId}` });
    expect(ms).toBeGreaterThan(DEADLINE_MS - 1_000);
    expect(ms).toBeLessThan(DEADLINE_MS + 2_000);
    expect(inFlight).toBe(0);

    const done = await svc.waitForState(shareId, 'burned', 20_000);
    expect(done.notes.at(-1)!.text).toBe(
      `Secret burned at the request of agent API (${tokenId(svc.token)}); the link no longer opens.`,
    );
    await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
  }, 45_000);
});
