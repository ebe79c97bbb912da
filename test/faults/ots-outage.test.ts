// Onetime Secret outages against the real service: storms of 429 with Retry-After, 5xx, timeouts, connection resets
// and garbled JSON, injected into the OTS emulator. Retries honour Retry-After within a bound; when they run out
// the hand-off waits for a technician with a note, never falling back to cleartext; after the outage a technician's
// retry finishes it, and no storm ever leaves more than one secret per hand-off.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveSignal } from '../../workflows/messages.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { shareWorkflowId } from '../../workflows/ids.js';

let svc: TestService;
let scanned: { secrets: string[]; shareIds: string[]; links: string[] } = { secrets: [], shareIds: [], links: [] };

beforeAll(async () => {
  // A 1 s client deadline, so a stalled OTS answer is a timeout within the test's patience.
  svc = await startTestService({}, { otsTimeoutMs: 1_000 });
});
afterAll(async () => {
  await svc?.stop();
});
afterEach(async () => {
  await svc.expectNoLeaksIn(scanned);
  scanned = { secrets: [], shareIds: [], links: [] };
});

let n = 0;
async function share() {
  const value = `Outage-Secret-${++n}-${randomUUID().slice(0, 8)}`;
  const to = `+1555080${String(n).padStart(4, '0')}`;
  const res = await svc.api('POST', '/v1/shares', {
    ticketId: `T-OUT-${n}`,
    secret: { value },
    link: { channel: 'sms', to },
  });
  expect(res.status).toBe(202);
  scanned.secrets.push(value);
  scanned.shareIds.push(res.body.shareId);
  return { shareId: res.body.shareId as string, to, value };
}

const emu = () => svc.otsEmulator!;
const retry = (shareId: string) =>
  svc.temporal.client.workflow
    .getHandle(shareWorkflowId(shareId))
    .signal(resolveSignal, { action: 'retry', by: 'tech@example.com' });

/** Times at which injected faults get used up (sampled every 10 ms). */
function watchFaults(): { times: number[]; stop(): void } {
  const times: number[] = [];
  let left = emu().pendingFaults();
  const timer = setInterval(() => {
    const now = emu().pendingFaults();
    for (; left > now; left--) times.push(Date.now());
  }, 10);
  return { times, stop: () => clearInterval(timer) };
}

async function openAndFinish(s: { shareId: string; to: string; value: string }) {
  const link = svc.linkSentTo(s.to);
  scanned.links.push(link);
  expect((await svc.openLink(link)).value).toBe(s.value);
  await svc.waitForState(s.shareId, 'viewed');
}

describe('Onetime Secret outages', () => {
  it('a storm shorter than the retries (429 with Retry-After, a reset, a timeout after OTS made the secret) is ridden out with one secret', async () => {
    const before = emu().secretCount();
    emu().injectFault({
      method: 'POST',
      op: 'create',
      status: 429,
      headers: { 'Retry-After': '2' },
      body: 'Too Many Requests',
    });
    emu().injectFault({ method: 'POST', op: 'create', reset: true });
    emu().injectFault({ method: 'POST', op: 'create', stall: { ms: 3_000 } });
    const faults = watchFaults();
    const s = await share();
    const done = await svc.waitForState(s.shareId, 'awaiting_view', 30_000);
    faults.stop();
    expect(faults.times).toHaveLength(3);
    // Retry-After: 2 was honoured before the next attempt (the backoff alone would have waited 1 s).
    expect(faults.times[1]! - faults.times[0]!).toBeGreaterThanOrEqual(1_950);
    expect(done.notes.some((x) => x.followUp)).toBe(false);
    expect(done.notes.map((x) => x.text).join('\n')).toMatch(/Found again after an attempt whose answer was lost/);
    expect(emu().secretCount()).toBe(before + 1);
    await openAndFinish(s);
  }, 40_000);

  it('an outage longer than the retries pauses for a technician with a note and no SMS; after it, a retry finishes with one secret', async () => {
    const before = emu().secretCount();
    emu().injectFault({ method: 'POST', op: 'create', reset: true });
    emu().injectFault({
      method: 'POST',
      op: 'create',
      status: 503,
      headers: { 'content-type': 'text/html' },
      body: '<html>503 Service Unavailable</html>',
    });
    emu().injectFault({
      method: 'POST',
      op: 'create',
      times: 2,
      status: 429,
      headers: { 'Retry-After': '1' },
      body: 'Too Many Requests',
    });
    // The last attempt: OTS makes the secret, and the answer arrives cut in half.
    emu().injectFault({ method: 'POST', op: 'create', garble: true });
    const s = await share();
    const paused = await svc.waitForState(s.shareId, 'needs_technician', 30_000);
    const note = paused.notes.at(-1)!;
    expect(note.followUp).toBe(true);
    expect(note.text).toMatch(/Creating the Onetime Secret failed \(OTS_BAD_RESPONSE[\s\S]*No cleartext fallback/);
    expect(emu().pendingFaults()).toBe(0); // all five attempts were made
    expect(svc.twilioFake!.outbox().filter((m) => m.to === s.to)).toHaveLength(0);
    expect(emu().secretCount()).toBe(before + 1);

    await retry(s.shareId);
    const resumed = await svc.waitForState(s.shareId, 'awaiting_view');
    expect(resumed.notes.map((x) => x.text).join('\n')).toMatch(
      /Technician decision: retry[\s\S]*Found again after an attempt whose answer was lost/,
    );
    expect(emu().secretCount()).toBe(before + 1);
    await openAndFinish(s);
  }, 40_000);

  it('a Retry-After beyond the bound hands over at once, saying how long OTS asked to wait; a later retry finishes it', async () => {
    emu().injectFault({
      method: 'POST',
      op: 'create',
      status: 429,
      headers: { 'Retry-After': '3600' },
      body: 'Too Many Requests',
    });
    const started = Date.now();
    const s = await share();
    const paused = await svc.waitForState(s.shareId, 'needs_technician');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(paused.notes.at(-1)!.text).toMatch(/OTS_RATE_LIMITED[\s\S]*asked to wait 3600 s/);
    await retry(s.shareId);
    await svc.waitForState(s.shareId, 'awaiting_view');
    await openAndFinish(s);
  });

  it('receipt checks ride out 5xx and garbled answers while the link is watched', async () => {
    const s = await share();
    await svc.waitForState(s.shareId, 'awaiting_view');
    emu().injectFault({ method: 'GET', op: 'recent', status: 502, body: 'Bad Gateway' });
    emu().injectFault({ method: 'GET', op: 'recent', garble: true });
    await new Promise((r) => setTimeout(r, 500));
    await openAndFinish(s);
    expect(emu().pendingFaults()).toBe(0);
    expect((await svc.status(s.shareId)).notes.some((x) => x.followUp)).toBe(false);
  });
});
