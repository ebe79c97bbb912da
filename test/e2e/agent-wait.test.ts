// The agent's wait for a change (GET /v1/shares/:id?waitFor=change) and the live window's fast path: a receipt the
// process's batched list sees opened is signalled to its workflow at once, not at the workflow's next timer
// (src/ots/receipt-batcher.ts, workflows/handoff.ts watch). The poll schedule here is "2,120": one check 2 s after
// the link, the next two minutes later, and the batched list at most 2 s old, so an opening seen within seconds can
// only have come through the live watch.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../helpers/service.js';
import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import { receiptChangedSignal, waitForChangeUpdate } from '../../workflows/messages.js';
import { shareWorkflowId } from '../../workflows/ids.js';

const AGENT_A = 'agent-a-token-0123456789abcdef';
const AGENT_B = 'agent-b-token-0123456789abcdef';
let svc: TestService;
const used = { secrets: [] as string[], shareIds: [] as string[], links: [] as string[] };

beforeAll(async () => {
  svc = await startTestService({ AGENT_API_TOKENS: `${AGENT_A},${AGENT_B}`, OTS_POLL_INTERVALS: '2,120' });
});
afterAll(async () => {
  await svc?.stop();
});
afterEach(async () => {
  await svc.expectNoLeaksIn({ secrets: used.secrets, shareIds: used.shareIds, links: used.links });
  used.secrets = [];
  used.shareIds = [];
  used.links = [];
});

const phone = (n: number) => `+1555020${String(n).padStart(4, '0')}`;

/** A hand-off in awaiting_view, its first timer check done (so the next timer is two minutes away). */
async function awaitingView(n: number): Promise<{ shareId: string; to: string }> {
  const secret = `Wait-Passw0rd-${n}-${Date.now()}`;
  used.secrets.push(secret);
  const to = phone(n);
  const res = await svc.api('POST', '/v1/shares', {
    ticketId: `T-WAIT-${n}`,
    secret: { value: secret },
    link: { channel: 'sms', to },
  });
  expect(res.status).toBe(202);
  used.shareIds.push(res.body.shareId);
  await svc.waitForState(res.body.shareId, 'awaiting_view');
  used.links.push(svc.linkSentTo(to));
  return { shareId: res.body.shareId, to };
}

const eventsOf = async (shareId: string) => (await svc.rawHistory(shareId)).events ?? [];
/** checkSecret activities scheduled over every run of the hand-off (a flood of signals may continue it as new). */
async function checksIn(shareId: string): Promise<number> {
  const wf = svc.temporal.client.workflow;
  let n = 0;
  for await (const run of wf.list({ query: `WorkflowId = "${shareWorkflowId(shareId)}"` })) {
    const h = await wf.getHandle(run.workflowId, run.runId).fetchHistory();
    n += (h.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkSecret',
    ).length;
  }
  return n;
}

describe('waiting for a change', () => {
  it('an opening reaches a waiting agent within seconds through the live watch, long before the next timer', async () => {
    const { shareId, to } = await awaitingView(1);
    // Past the first timer check (2 s after the link): the next is 120 s away.
    await new Promise((r) => setTimeout(r, 3_000));
    const t0 = Date.now();
    const waiting = svc.api('GET', `/v1/shares/${shareId}?waitFor=change&since=awaiting_view&timeout=30`);
    await new Promise((r) => setTimeout(r, 500));
    const opened = Date.now();
    await svc.openLink(svc.linkSentTo(to));
    const res = await waiting;
    const tookS = (Date.now() - opened) / 1000;
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('viewed');
    expect(res.body.agentHint).toBe(
      'The caller opened the link; the secret has been destroyed and cannot be opened again.',
    );
    // One list refresh (2 s here) plus the signal and the check: far below the 120 s timer.
    expect(tookS).toBeLessThan(8);
    expect(Date.now() - t0).toBeGreaterThan(500);
    const events = await eventsOf(shareId);
    expect(events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'receiptChanged')).toBe(true);
    expect(
      events.some(
        (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'waitForChange',
      ),
    ).toBe(true);
  });

  it('answers at once when the state already differs from since, and after the timeout when nothing changes', async () => {
    const { shareId } = await awaitingView(2);
    let t = Date.now();
    const differs = await svc.api('GET', `/v1/shares/${shareId}?waitFor=change&since=delivering&timeout=30`);
    expect(differs.status).toBe(200);
    expect(differs.body.state).toBe('awaiting_view');
    expect(differs.body.agentHint).toMatch(/^The link was sent by text message; ask the caller to open it/);
    expect(Date.now() - t).toBeLessThan(3_000);

    t = Date.now();
    const timedOut = await svc.api('GET', `/v1/shares/${shareId}?waitFor=change&timeout=2`);
    expect(timedOut.status).toBe(200);
    expect(timedOut.body.state).toBe('awaiting_view');
    expect(Date.now() - t).toBeGreaterThanOrEqual(1_900);
    expect(Date.now() - t).toBeLessThan(8_000);

    // A burn while an agent waits: the wait answers with the end.
    const waiting = svc.api('GET', `/v1/shares/${shareId}?waitFor=change&since=awaiting_view&timeout=30`);
    await new Promise((r) => setTimeout(r, 500));
    t = Date.now();
    const burned = await svc.api('POST', `/v1/shares/${shareId}/burn`);
    expect(burned.body.state).toBe('burned');
    expect(burned.body.agentHint).toBe('The link was cancelled and no longer opens.');
    expect((await waiting).body.state).toBe('burned');
    expect(Date.now() - t).toBeLessThan(5_000);
    // Over: a wait answers at once.
    t = Date.now();
    expect((await svc.api('GET', `/v1/shares/${shareId}?waitFor=change&timeout=30`)).body.state).toBe('burned');
    expect(Date.now() - t).toBeLessThan(3_000);
  });

  it("another agent's wait is told there is no such share, at once, and leaves nothing in the history", async () => {
    const { shareId } = await awaitingView(3);
    // Past the first timer check, so the history does not move by itself.
    await new Promise((r) => setTimeout(r, 3_000));
    const before = (await eventsOf(shareId)).length;
    const t = Date.now();
    const res = await svc.api('GET', `/v1/shares/${shareId}?waitFor=change&timeout=30`, undefined, {
      authorization: `Bearer ${AGENT_B}`,
    });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'no such share' });
    expect(Date.now() - t).toBeLessThan(3_000);
    expect((await eventsOf(shareId)).length).toBe(before);
    // Past the API, straight to the workflow (anyone who can reach Temporal): the update's validator refuses
    // another agent's wait before anything is written.
    const handle = svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId));
    const refused = await handle
      .executeUpdate(waitForChangeUpdate, {
        args: [{ agent: 'agt_0123456789ab', since: 'awaiting_view', timeoutMs: 30_000 }],
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((refused as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('NOT_FOUND');
    expect((await eventsOf(shareId)).length).toBe(before);
    await svc.api('POST', `/v1/shares/${shareId}/burn`);
  });

  it('many agents waiting on one hand-off at once leave room for a burn, and all learn of it', async () => {
    const { shareId } = await awaitingView(5);
    const waits = Array.from({ length: 8 }, () =>
      svc.api('GET', `/v1/shares/${shareId}?waitFor=change&since=awaiting_view&timeout=30`),
    );
    await new Promise((r) => setTimeout(r, 1_500));
    const t = Date.now();
    const burned = await svc.api('POST', `/v1/shares/${shareId}/burn`);
    expect(burned.status).toBe(200);
    expect(burned.body.state).toBe('burned');
    const answers = await Promise.all(waits);
    expect(answers.map((a) => a.body.state)).toEqual(Array(8).fill('burned'));
    // Three wait in the workflow and answer at once; the others read the status every 2 s.
    expect(Date.now() - t).toBeLessThan(6_000);
  });

  it.each([
    ['waitFor=soon', 'waitFor'],
    ['waitFor=change&timeout=0', 'timeout'],
    ['waitFor=change&timeout=61', 'timeout'],
    ['waitFor=change&timeout=abc', 'timeout'],
    ['waitFor=change&since=opened', 'since'],
    ['since=awaiting_view', 'since'],
    ['timeout=10', 'timeout'],
  ])('?%s is a 400 naming %s', async (query, field) => {
    const res = await svc.api('GET', `/v1/shares/shr_0000000000000000000000000?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid status request');
    expect(res.body.issues.map((i: { path: string }) => i.path)).toEqual([field]);
  });

  it('receiptChanged signals from anyone who can reach Temporal only make the workflow look, no more than every 2 s', async () => {
    const { shareId } = await awaitingView(4);
    await new Promise((r) => setTimeout(r, 2_500));
    const before = await checksIn(shareId);
    const handle = svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId));
    const t = Date.now();
    for (let i = 0; i < 20; i++) await handle.signal(receiptChangedSignal);
    await new Promise((r) => setTimeout(r, 3_000));
    const elapsedS = (Date.now() - t) / 1000;
    expect((await svc.status(shareId)).state).toBe('awaiting_view');
    const checks = (await checksIn(shareId)) - before;
    expect(checks).toBeGreaterThanOrEqual(1);
    expect(checks).toBeLessThanOrEqual(Math.ceil(elapsedS / 2) + 1);
    await svc.api('POST', `/v1/shares/${shareId}/burn`);
  });
});
