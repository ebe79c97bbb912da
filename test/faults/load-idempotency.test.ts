// Load with idempotency: 1,000 concurrent share requests, 125 Idempotency-Keys used 8 times each, all at once.
// Exactly one hand-off per key (one workflow, one secret, one SMS), every repeat gets the same answer, no 5xx.
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';

let svc: TestService;
beforeAll(async () => {
  // The OTS budget is not what this test is about: let the 125 creates through at once. Slow polls keep the
  // watches quiet while the test checks them.
  svc = await startTestService({ OTS_RATE_LIMIT_PER_MINUTE: '60000', OTS_POLL_INTERVALS: '30' });
});
afterAll(async () => {
  await svc?.stop();
});

const KEYS = 125;
const REPEATS = 8;

describe('load with idempotency', () => {
  it('1,000 concurrent requests over 125 Idempotency-Keys: one hand-off per key, the same answer per repeat, no 5xx', async () => {
    const run = randomUUID().slice(0, 8);
    const bodies = Array.from({ length: KEYS }, (_, k) => ({
      key: `load-${run}-${k}`,
      body: {
        ticketId: `T-LOAD-${k}`,
        secret: { value: `Load-Secret-${run}-${k}` },
        link: { channel: 'sms', to: `+1555100${String(k).padStart(4, '0')}` },
      },
    }));
    // Interleaved, so repeats of a key race each other rather than arriving in a row.
    const calls = Array.from({ length: KEYS * REPEATS }, (_, i) => bodies[i % KEYS]!);
    const started = Date.now();
    const answers = await Promise.all(
      calls.map(async ({ key, body }) => {
        const res = await request(`${svc.url}/v1/shares`, {
          method: 'POST',
          headers: { authorization: `Bearer ${svc.token}`, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(body),
        });
        const text = await res.body.text();
        svc.responses.push(text);
        return { key, status: res.statusCode, text };
      }),
    );
    const elapsed = Date.now() - started;

    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    expect(Object.fromEntries(statuses)).toEqual({ 202: KEYS * REPEATS });
    const byKey = new Map<string, Set<string>>();
    for (const a of answers) byKey.set(a.key, (byKey.get(a.key) ?? new Set()).add(a.text));
    for (const [key, texts] of byKey) expect(texts.size, key).toBe(1);
    const shareIds = [...byKey.values()].map((t) => JSON.parse([...t][0]!).shareId as string);
    expect(new Set(shareIds).size).toBe(KEYS);

    // One workflow, one secret and one SMS per key.
    const deadline = Date.now() + 90_000;
    for (const id of shareIds) await svc.waitForState(id, 'awaiting_view', Math.max(1_000, deadline - Date.now()));
    expect(svc.otsEmulator!.secretCount()).toBe(KEYS);
    for (const { body } of bodies)
      expect(
        svc.twilioFake!.outbox().filter((m) => m.to === body.link.to),
        body.link.to,
      ).toHaveLength(1);
    const list = svc.temporal.client.workflow.list({
      // the hand-offs, not the fingerprint leases their creates took (src/ots/fingerprint-lease.ts)
      query: `TaskQueue = "${svc.config.TEMPORAL_TASK_QUEUE}" AND WorkflowType = "shareSecret"`,
    });
    let workflows = 0;
    for await (const _ of list) workflows++;
    expect(workflows).toBe(KEYS);
    console.log(
      `[load] ${KEYS * REPEATS} concurrent requests answered in ${elapsed} ms: ${JSON.stringify(Object.fromEntries(statuses))}; ${workflows} hand-offs, ${svc.otsEmulator!.secretCount()} secrets`,
    );

    // Logs, responses and SMS bodies of all 125; the histories (each decoded through the codec server) of every
    // fifth: they are the same workflow with other values, and decoding all of them was a third of this test.
    const scanStart = Date.now();
    await svc.expectNoLeaksIn({
      secrets: bodies.map((b) => b.body.secret.value),
      shareIds: shareIds.filter((_, i) => i % 5 === 0),
      links: bodies.map((b) => svc.linkSentTo(b.body.link.to)),
    });
    console.log(`[load] leak scan in ${Date.now() - scanStart} ms`);
    await Promise.all(
      shareIds.map((id) => svc.temporal.client.workflow.getHandle(shareWorkflowId(id)).terminate('load test over')),
    );
  }, 240_000);
});
