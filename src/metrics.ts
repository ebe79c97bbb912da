// The service's Prometheus metrics (prom-client), one registry per running service, served on GET /metrics with the
// Temporal SDK's own metrics (Core's Prometheus exporter, src/temporal/runtime-logging.ts) appended. README.md
// ("Operating it") lists them; deploy/grafana and deploy/prometheus build the dashboard and the alerts on these names.
//
// Labels have bounded values only (a state, a channel, an outcome, a status Twilio defines): never a secret, a
// passphrase, a link, a phone number or email, a ticket id or a share id. The leak scan of every end-to-end scenario
// (test/helpers/service.ts, expectNoLeaksIn) scrapes /metrics and checks it.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InjectedSinks } from '@temporalio/worker';
import type { HandoffMetricsSinks } from '../workflows/metrics.js';
import { FINAL_STATES } from '../workflows/types.js';
import type { OtsApiVersion } from './ots/schemas.js';

/** What one request to Onetime Secret came to (src/ots/client.ts reports each one). */
export type OtsOutcome =
  'ok' | 'rate_limited' | 'client_error' | 'server_error' | 'unreachable' | 'timeout' | 'protocol_error';
export type OtsOp = 'create' | 'reveal' | 'receipt' | 'recent' | 'burn' | 'status' | 'account';
export type WebhookRoute = 'sms_status' | 'voice' | 'call_status' | 'media_stream';
export type WebhookRejection = 'forged' | 'replayed' | 'malformed';

/** Seconds from a request to a link sent, or to a final state: seconds to days. */
const HANDOFF_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600];
const REQUEST_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A 20 ms frame late by more than its lead (60 ms by default) is heard as a gap. */
const LATENESS_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25];

export const SMS_KINDS = ['link', 'passphrase'] as const;

/** Read at scrape time, cached: what Temporal says of the fleet, and what /readyz checks. */
export interface ScrapeSources {
  /** Hand-offs paused for a technician, fleet-wide (a visibility count). */
  needsTechnician?: () => Promise<number>;
  ready?: () => Promise<Record<string, boolean>>;
}

/** How long a scrape reuses the last visibility count and readiness (several Prometheus servers, or a fast one). */
const SCRAPE_CACHE_MS = 10_000;

/** `fn` at most once per SCRAPE_CACHE_MS; a failure keeps the last value (a scrape never fails on Temporal). */
function cached<T>(fn: () => Promise<T> | undefined): () => Promise<T | undefined> {
  let last: { at: number; value: T | undefined } | undefined;
  return async () => {
    if (last && Date.now() - last.at < SCRAPE_CACHE_MS) return last.value;
    let value = last?.value;
    try {
      value = await fn();
    } catch {
      // keep the last value
    }
    last = { at: Date.now(), value };
    return value;
  };
}

export function createMetrics() {
  const registry = new Registry();
  const r = [registry];
  collectDefaultMetrics({ register: registry });
  const sources: ScrapeSources = {};
  const needsTechnician = cached(() => sources.needsTechnician?.());
  const ready = cached(() => sources.ready?.());

  const m = {
    registry,
    /** Set by the service once Temporal is connected (src/service.ts). */
    sources,
    handoffStarted: new Counter({
      name: 'handoff_started_total',
      help: 'Hand-offs started through the agent API (an idempotent repeat is not counted), by link channel and passphrase mode.',
      labelNames: ['channel', 'passphrase'] as const,
      registers: r,
    }),
    handoffFinished: new Counter({
      name: 'handoff_finished_total',
      help: 'Hand-offs that reached a final state (expired = the link expired unopened).',
      labelNames: ['state'] as const,
      registers: r,
    }),
    handoffNeedsTechnician: new Gauge({
      name: 'handoff_needs_technician',
      help: 'Hand-offs paused for a technician now, fleet-wide (from Temporal visibility; every replica reports the same count: aggregate with max).',
      registers: r,
      async collect() {
        const n = await needsTechnician();
        if (n !== undefined) this.set(n);
      },
    }),
    handoffDuration: new Histogram({
      name: 'handoff_duration_seconds',
      help: 'From the share request to the final state.',
      labelNames: ['state'] as const,
      buckets: HANDOFF_BUCKETS,
      registers: r,
    }),
    handoffLinkSent: new Histogram({
      name: 'handoff_link_sent_seconds',
      help: 'From the share request to the link SMS accepted by Twilio or the email queued by Onetime Secret.',
      buckets: HANDOFF_BUCKETS,
      registers: r,
    }),
    ready: new Gauge({
      name: 'handoff_service_ready',
      help: 'What GET /readyz checks, 1 when it passes: temporal (frontend), persistence (its database), worker.',
      labelNames: ['check'] as const,
      registers: r,
      async collect() {
        const checks = await ready();
        for (const [check, ok] of Object.entries(checks ?? {})) this.labels(check).set(ok ? 1 : 0);
      },
    }),
    otsRequests: new Counter({
      name: 'ots_requests_total',
      help: 'Requests to Onetime Secret by operation and outcome.',
      labelNames: ['op', 'outcome'] as const,
      registers: r,
    }),
    otsRateLimited: new Counter({
      name: 'ots_rate_limited_total',
      help: 'Requests Onetime Secret answered with HTTP 429 (rate limit).',
      registers: r,
    }),
    otsDuration: new Histogram({
      name: 'ots_request_duration_seconds',
      help: 'Onetime Secret request time, headers and body.',
      labelNames: ['op'] as const,
      buckets: REQUEST_BUCKETS,
      registers: r,
    }),
    otsApiVersion: new Gauge({
      name: 'ots_api_version',
      help: 'The Onetime Secret API version in use (1 on the version chosen at start-up).',
      labelNames: ['version'] as const,
      registers: r,
    }),
    otsRateBudget: new Gauge({
      name: 'ots_rate_budget_per_minute',
      help: 'OTS_RATE_LIMIT_PER_MINUTE: the account limit the fleet shares (it uses 90 % of it).',
      registers: r,
    }),
    smsSent: new Counter({
      name: 'sms_sent_total',
      help: 'SMS accepted by Twilio, by kind (link or passphrase).',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    smsStatus: new Counter({
      name: 'sms_status_total',
      help: "Twilio's message status callbacks, by status.",
      labelNames: ['status'] as const,
      registers: r,
    }),
    voiceCallsActive: new Gauge({
      name: 'voice_calls_active',
      help: 'Call media streams this replica holds now.',
      registers: r,
    }),
    voiceReadings: new Counter({
      name: 'voice_readings_total',
      help: 'Passphrase readings over a live call, by outcome (heard, hung_up, not_heard).',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    voiceFrameLateness: new Histogram({
      name: 'voice_frame_lateness_seconds',
      help: 'How late each outbound media message left against its schedule.',
      buckets: LATENESS_BUCKETS,
      registers: r,
    }),
    voiceUnderruns: new Counter({
      name: 'voice_underruns_total',
      help: 'Times Twilio ran out of passphrase audio to play because a message left too late (heard as a gap).',
      registers: r,
    }),
    webhookRejected: new Counter({
      name: 'webhook_rejected_total',
      help: 'Twilio webhooks and media-stream upgrades refused, by route and reason (forged, replayed, malformed).',
      labelNames: ['route', 'reason'] as const,
      registers: r,
    }),
  };
  // Every series a dashboard or an alert reads is listed from the start, at 0.
  for (const channel of ['sms', 'email'])
    for (const passphrase of ['none', 'sms', 'voice']) m.handoffStarted.labels(channel, passphrase).inc(0);
  for (const s of FINAL_STATES) {
    m.handoffFinished.labels(s).inc(0);
    m.handoffDuration.zero({ state: s });
  }
  for (const k of SMS_KINDS) m.smsSent.labels(k).inc(0);
  for (const s of ['delivered', 'undelivered', 'failed']) m.smsStatus.labels(s).inc(0);
  for (const o of ['heard', 'hung_up', 'not_heard']) m.voiceReadings.labels(o).inc(0);
  for (const route of ['sms_status', 'voice', 'call_status', 'media_stream'] satisfies WebhookRoute[])
    for (const reason of ['forged', 'replayed', 'malformed'] satisfies WebhookRejection[])
      m.webhookRejected.labels(route, reason).inc(0);
  for (const op of ['create', 'receipt', 'recent', 'burn'] satisfies OtsOp[]) {
    for (const outcome of ['ok', 'rate_limited', 'server_error', 'unreachable', 'timeout'] satisfies OtsOutcome[])
      m.otsRequests.labels(op, outcome).inc(0);
    m.otsDuration.zero({ op });
  }
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The workflow's metrics sink (workflows/metrics.ts) on the worker side: not called again on replay. Every worker
 * that runs shareSecret registers it (without `metrics`, calls are dropped), or the SDK logs an error per call.
 */
export function handoffMetricsSink(metrics?: Metrics): InjectedSinks<HandoffMetricsSinks>['handoffMetrics'] {
  return {
    finished: {
      fn: (_info, state, seconds) => {
        if (!metrics || !(FINAL_STATES as readonly string[]).includes(state)) return;
        metrics.handoffFinished.labels(state).inc();
        metrics.handoffDuration.labels(state).observe(seconds);
      },
      callDuringReplay: false,
    },
    linkSent: {
      fn: (_info, seconds) => metrics?.handoffLinkSent.observe(seconds),
      callDuringReplay: false,
    },
  };
}

/** Records what the OTS client reports of one request. */
export function otsObserver(metrics: Metrics) {
  return (call: { op: OtsOp; outcome: OtsOutcome; seconds: number }) => {
    metrics.otsRequests.labels(call.op, call.outcome).inc();
    metrics.otsDuration.labels(call.op).observe(call.seconds);
    if (call.outcome === 'rate_limited') metrics.otsRateLimited.inc();
  };
}

export function setOtsApiVersion(metrics: Metrics, version: OtsApiVersion): void {
  metrics.otsApiVersion.reset();
  metrics.otsApiVersion.labels(version).set(1);
}
