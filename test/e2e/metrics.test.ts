// GET /metrics (src/http/metrics.ts, src/metrics.ts): every metric the dashboards and alerts read is there from the
// start, the Temporal SDK's own metrics come along, the counts follow what hand-offs did, and the endpoint is closed
// to anyone without a METRICS_TOKENS token. The leak scan of every end-to-end scenario scrapes it too
// (test/helpers/service.ts, expectNoLeaksIn).
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService } from '../helpers/service.js';

let svc: Awaited<ReturnType<typeof startTestService>>;
beforeAll(async () => {
  svc = await startTestService({ METRICS_TOKENS: 'metrics-token-0123456789' });
});
afterAll(async () => {
  await svc?.stop();
});

const AUTH = { authorization: 'Bearer metrics-token-0123456789' };

/** The value of one series in a scrape (0 when absent). */
function value(scrape: string, series: string): number {
  const line = scrape.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Every metric README.md ("Operating it") promises, by name. */
const PROMISED = [
  'handoff_started_total{channel="sms",passphrase="none"}',
  'handoff_started_total{channel="email",passphrase="sms"}',
  'handoff_finished_total{state="viewed"}',
  'handoff_finished_total{state="expired"}',
  'handoff_needs_technician',
  'handoff_duration_seconds_count{state="viewed"}',
  'handoff_link_sent_seconds_count',
  'handoff_service_ready{check="persistence"}',
  'ots_requests_total{op="create",outcome="ok"}',
  'ots_rate_limited_total',
  'ots_request_duration_seconds_count{op="create"}',
  'ots_api_version{version="v2"}',
  'ots_rate_budget_per_minute',
  'sms_sent_total{kind="link"}',
  'sms_sent_total{kind="passphrase"}',
  'sms_status_total{status="delivered"}',
  'voice_calls_active',
  'voice_readings_total{outcome="heard"}',
  'voice_frame_lateness_seconds_count',
  'voice_underruns_total',
  'webhook_rejected_total{route="sms_status",reason="forged"}',
  'webhook_rejected_total{route="media_stream",reason="replayed"}',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_seconds',
];

describe('GET /metrics', () => {
  it('lists every promised metric from the start (counters at 0) and the Temporal SDK metrics', async () => {
    const scrape = await svc.scrapeMetrics(AUTH);
    for (const series of PROMISED) expect(scrape, series).toMatch(new RegExp(`^${escape(series)} `, 'm'));
    expect(value(scrape, 'handoff_started_total{channel="sms",passphrase="none"}')).toBe(0);
    expect(value(scrape, `ots_api_version{version="${svc.ots.apiVersion}"}`)).toBe(1);
    // Core's exporter, relayed: the workers' slots and poll metrics under temporal_.
    expect(scrape).toMatch(/^temporal_worker_task_slots_available\{/m);
    expect(scrape).toMatch(/^temporal_num_pollers\{/m);
  });

  it('needs a METRICS_TOKENS token when they are set: 401 without, 403 with another (an agent token too)', async () => {
    const none = await request(`${svc.url}/metrics`);
    expect(none.statusCode).toBe(401);
    expect(await none.body.text()).not.toMatch(/handoff_/);
    const wrong = await request(`${svc.url}/metrics`, {
      headers: { authorization: 'Bearer not-the-metrics-token-00' },
    });
    expect(wrong.statusCode).toBe(403);
    await wrong.body.dump();
    // An agent API token is not a metrics token.
    const agent = await request(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${svc.token}` } });
    expect(agent.statusCode).toBe(403);
    await agent.body.dump();
  });

  it('counts what hand-offs did: started, link sent, SMS and their statuses, OTS calls, viewed, a technician pause, a forged webhook', async () => {
    const before = await svc.scrapeMetrics(AUTH);
    const secret = 'Metrics-Passw0rd-1!';
    const started = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-METRICS-1',
      secret: { value: secret },
      link: { channel: 'sms', to: '+15550190001' },
    });
    expect(started.status).toBe(202);
    const shareId = started.body.shareId as string;
    await svc.waitFor(shareId, (s) => s.link.deliveryStatus === 'delivered');
    await svc.openLink(svc.linkSentTo('+15550190001'));
    await svc.waitForState(shareId, 'viewed');

    // Twilio refuses the next hand-off's SMS: it pauses for a technician.
    svc.twilioFake!.failNext({ status: 400 });
    const paused = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-METRICS-2',
      secret: { value: 'Metrics-Passw0rd-2!' },
      link: { channel: 'sms', to: '+15550190002' },
    });
    expect(paused.status).toBe(202);
    await svc.waitForState(paused.body.shareId, 'needs_technician', 30_000);

    // A forged status callback.
    const forged = await request(`${svc.url}/twilio/sms-status?share=${shareId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'forged' },
      body: 'MessageSid=SM00000000000000000000000000000000&MessageStatus=delivered',
    });
    expect(forged.statusCode).toBe(403);
    await forged.body.dump();

    const delta = (after: string, series: string) => value(after, series) - value(before, series);
    let after = '';
    // The technician count comes from Temporal visibility, cached for 10 s a scrape.
    const deadline = Date.now() + 30_000;
    do {
      after = await svc.scrapeMetrics(AUTH);
      if (value(after, 'handoff_needs_technician') >= 1) break;
      await new Promise((r) => setTimeout(r, 500));
    } while (Date.now() < deadline);

    expect(delta(after, 'handoff_started_total{channel="sms",passphrase="none"}')).toBe(2);
    expect(delta(after, 'handoff_finished_total{state="viewed"}')).toBe(1);
    expect(delta(after, 'handoff_duration_seconds_count{state="viewed"}')).toBe(1);
    expect(delta(after, 'handoff_link_sent_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'sms_sent_total{kind="link"}')).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'sms_status_total{status="delivered"}')).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'ots_requests_total{op="create",outcome="ok"}')).toBe(2);
    expect(delta(after, 'ots_request_duration_seconds_count{op="create"}')).toBe(2);
    // The watch's batched receipt checks (429s and the other outcomes: test/unit/ots-client.test.ts).
    expect(delta(after, 'ots_requests_total{op="recent",outcome="ok"}')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'handoff_needs_technician')).toBe(1);
    expect(delta(after, 'webhook_rejected_total{route="sms_status",reason="forged"}')).toBe(1);
    // The SDK's activity metrics, per activity type (a name, never a hand-off).
    expect(after).toMatch(/^temporal_activity_execution_latency_count\{activity_type="createSecret"/m);

    await svc.expectNoLeaksIn({
      secrets: [secret, 'Metrics-Passw0rd-2!'],
      shareIds: [shareId, paused.body.shareId],
      links: [svc.linkSentTo('+15550190001')],
    });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
