// Starts the real service (src/service.ts) in this test process against the run's shared dev server, on a free
// loopback port and its own task queue, and records what it writes: log lines and every API response body.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { OTS_API_VERSION_UNDER_TEST } from './ots-version.js';
import { createLogger } from '../../src/log.js';
import { makeSandboxSecrets, startService, type ServiceOptions } from '../../src/service.js';
import { freePort } from '../../src/temporal/ports.js';
import { statusQuery } from '../../workflows/messages.js';
import type { ShareInput, ShareState, ShareStatus } from '../../workflows/types.js';
import { handoffContext } from '../../src/seal.js';
import { decodeThroughCodecServer, expectOnlyCiphertext } from './history.js';
import { expectNoLeaks, expectSafeMetricLabels, type Written } from './leak-scan.js';
import { shareWorkflowId } from '../../workflows/ids.js';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  text: string;
}

/** Lets the tests' own codec-server calls in (the service's default would allow only the local UI). */
export const TEST_CODEC_TOKEN = 'test-codec-token-0123456789';

export async function startTestService(
  env: Record<string, string> = {},
  sandbox?: ServiceOptions['sandbox'],
  temporalAddress = inject('temporalAddress'),
) {
  const port = await freePort();
  const config = loadConfig({
    PORT: String(port),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    OTS_POLL_INTERVALS: '0.3',
    CODEC_TOKENS: TEST_CODEC_TOKEN,
    OTS_API_VERSION: OTS_API_VERSION_UNDER_TEST,
    ...env,
  });
  const logs: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }) as never,
  });
  const sandboxSecrets = makeSandboxSecrets();
  const svc = await startService({
    config,
    temporalAddress,
    // With tracing, the workflows are bundled at start with Temporal's OpenTelemetry workflow interceptors
    // (src/temporal/worker.ts); the prebuilt bundle has none.
    workflowBundlePath: config.OTEL_EXPORTER_OTLP_ENDPOINT ? undefined : inject('workflowBundlePath'),
    log,
    sandboxSecrets,
    sandbox,
  });
  const responses: string[] = [];
  const token = svc.tokens[0]!;

  async function api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const res = await request(`${svc.url}${path}`, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    responses.push(text);
    let parsed: unknown = undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.statusCode, body: parsed as T, text };
  }

  async function status(shareId: string): Promise<ShareStatus> {
    return svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId)).query(statusQuery);
  }

  /** Polls the status query until `pred` holds (signals and activities land asynchronously). */
  async function waitFor(shareId: string, pred: (s: ShareStatus) => boolean, timeoutMs = 20_000): Promise<ShareStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ShareStatus | undefined;
    for (;;) {
      try {
        last = await status(shareId);
        if (pred(last)) return last;
      } catch {
        /* workflow not started yet */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting; last status: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const waitForState = (shareId: string, state: ShareState, timeoutMs?: number) =>
    waitFor(shareId, (s) => s.state === state, timeoutMs);

  /** The link in the newest SMS to `to` (the caller's phone). */
  function linkSentTo(to: string): string {
    const msg = [...svc.sandbox!.twilioFake!.outbox()].reverse().find((m) => m.to === to && /\/secret\//.test(m.body));
    const link = msg?.body.match(/https?:\/\/\S+\/secret\/[0-9a-z]+/)?.[0];
    if (!link) throw new Error(`no link SMS to ${to}`);
    return link;
  }

  /** Opens the link the way the caller's browser would reveal it: POST to the OTS retrieve endpoint. */
  async function openLink(link: string, passphrase?: string) {
    const key = link.split('/secret/')[1]!;
    return svc.ots.retrieveSecret(key, passphrase);
  }

  const rawHistory = (shareId: string) =>
    svc.temporal.client.workflow.getHandle(shareWorkflowId(shareId)).fetchHistory();
  async function history(shareId: string): Promise<string> {
    return historyText(await rawHistory(shareId));
  }
  /** The history's payloads decoded through the codec server, as a technician sees them in Temporal UI. */
  async function decodedHistory(shareId: string): Promise<string[]> {
    return decodeThroughCodecServer(
      svc.url,
      (config.CODEC_TOKENS ?? [TEST_CODEC_TOKEN])[0]!,
      await rawHistory(shareId),
      config.TEMPORAL_NAMESPACE,
    );
  }

  /** The passphrase the API chose for a hand-off, unsealed from its (decoded) workflow input: for leak scans. */
  async function passphraseOf(shareId: string): Promise<string> {
    for (const text of await decodedHistory(shareId)) {
      try {
        const input = JSON.parse(text) as ShareInput;
        if (input?.shareId === shareId && input.secret?.passphrase)
          return svc.sealer.open(input.secret.passphrase, handoffContext('passphrase', input));
      } catch {
        /* not this payload */
      }
    }
    throw new Error(`no passphrase in the input of ${shareId}`);
  }

  /** GET /metrics as Prometheus scrapes it: from loopback, with the first of METRICS_TOKENS when a test sets them. */
  async function scrapeMetrics(
    headers: Record<string, string> = config.METRICS_TOKENS
      ? { authorization: `Bearer ${config.METRICS_TOKENS[0]}` }
      : {},
  ): Promise<string> {
    const res = await request(`${svc.url}/metrics`, { headers });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET /metrics: HTTP ${res.statusCode} ${text}`);
    return text;
  }

  /** The service's log lines and Temporal's runtime log lines of this process. */
  const allLogs = () => [...logs, ...(globalThis.__temporalLogLines ?? [])];

  /**
   * The leak scan of a scenario: none of `secrets` may appear in the logs, API responses, notes, SMS bodies (but
   * `allowSms`, the passphrase SMS), the raw Temporal history of the hand-offs it ran (which must moreover be
   * ciphertext only) or that history decoded through the codec server (`extra` adds more to scan).
   */
  async function expectNoLeaksIn(scan: {
    secrets: string[];
    shareIds: string[];
    allowSms?: ReadonlySet<string>;
    /** One-time links: allowed in the link SMS only, so scanned everywhere else. */
    links?: string[];
    extra?: Partial<Written>;
  }) {
    const notes: string[] = [];
    const hist: string[] = [];
    const ticketIds: string[] = [];
    for (const id of scan.shareIds) {
      const st = await status(id);
      notes.push(JSON.stringify(st.notes));
      ticketIds.push(st.ticketId);
      const raw = await rawHistory(id);
      expectOnlyCiphertext(raw);
      hist.push(historyText(raw), ...(await decodedHistory(id)));
    }
    const smsBodies = (svc.sandbox?.twilioFake?.outbox() ?? [])
      .filter((m) => !scan.allowSms?.has(m.sid))
      .map((m) => m.body);
    // What Prometheus would scrape now (src/http/metrics.ts): no secret or link, and no label about a person or a
    // hand-off (the SMS recipients of the outbox included).
    const scrape = await scrapeMetrics();
    const recipients = (svc.sandbox?.twilioFake?.outbox() ?? []).map((m) => m.to);
    expectSafeMetricLabels(scrape, [...scan.shareIds, ...ticketIds, ...recipients]);
    expectNoLeaks(scan.secrets, {
      logs: [...allLogs(), ...(scan.extra?.logs ?? [])],
      responses: [...responses, ...(scan.extra?.responses ?? [])],
      notes: [...notes, ...(scan.extra?.notes ?? [])],
      smsBodies: [...smsBodies, ...(scan.extra?.smsBodies ?? [])],
      history: [...hist, ...(scan.extra?.history ?? [])],
      metrics: [scrape],
    });
    const keys = (scan.links ?? []).map((l) => l.split('/secret/')[1]!);
    expectNoLeaks([...(scan.links ?? []), ...keys], {
      logs: allLogs(),
      responses,
      notes,
      smsBodies: [],
      history: hist,
      metrics: [scrape],
    });
  }

  return {
    ...svc,
    // The sandbox's fakes by name (all of them are on svc.sandbox too).
    otsEmulator: svc.sandbox?.otsEmulator,
    twilioFake: svc.sandbox?.twilioFake,
    deepgramFake: svc.sandbox?.deepgramFake,
    simulatedCalls: svc.sandbox?.simulatedCalls,
    config,
    logs,
    allLogs,
    expectNoLeaksIn,
    scrapeMetrics,
    responses,
    token,
    api,
    status,
    waitFor,
    waitForState,
    linkSentTo,
    openLink,
    passphraseOf,
    history,
    rawHistory,
    decodedHistory,
    sandboxSecrets,
  };
}

export type TestService = Awaited<ReturnType<typeof startTestService>>;

/** History as text, with every payload's bytes decoded, so a cleartext secret inside a payload would show. */
export function historyText(history: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'), Buffer.from(v).toString('base64'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
    else if (v !== undefined && v !== null) out.push(String(v));
  };
  walk(history);
  return out.join('\n');
}
