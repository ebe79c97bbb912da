// Traces (src/tracing.ts) as an OpenTelemetry collector receives them: a local OTLP/HTTP receiver on loopback takes
// what the service exports (OTLP JSON, the encoding of https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding:
// trace and span ids as hex strings) and the test walks the span tree of one voice hand-off, from the agent's
// POST /v1/shares across the Temporal boundary to the activities, their HTTP calls and the reading over the call.
// What was exported is scanned for the secret, the passphrase, the link and the caller's number.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeaks } from '../helpers/leak-scan.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { until } from '../helpers/voice.js';
import { callQuery } from '../../workflows/messages.js';
import { callWorkflowId } from '../../workflows/ids.js';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
  service: unknown;
  status: { code?: number; message?: string };
  events: { name: string; attributes: Record<string, unknown> }[];
}

type KeyValue = { key: string; value: Record<string, unknown> };
const attrs = (list: KeyValue[] = []) => Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]));

/** An OTLP/HTTP receiver: POST /v1/traces with an ExportTraceServiceRequest in JSON, answered 200 `{}`. */
function otlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const bodies: string[] = [];
  const contentTypes = new Set<string>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.add(String(req.headers['content-type']));
      bodies.push(body);
      const parsed = JSON.parse(body) as {
        resourceSpans: {
          resource: { attributes: KeyValue[] };
          scopeSpans: {
            spans: (Omit<ReceivedSpan, 'attributes' | 'links' | 'service' | 'events' | 'status'> & {
              attributes: KeyValue[];
              links?: { traceId: string; spanId: string }[];
              status?: { code?: number; message?: string };
              events?: { name: string; attributes?: KeyValue[] }[];
            })[];
          }[];
        }[];
      };
      for (const rs of parsed.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans)
            spans.push({
              ...s,
              parentSpanId: s.parentSpanId || undefined,
              attributes: attrs(s.attributes),
              links: s.links ?? [],
              service: attrs(rs.resource.attributes)['service.name'],
              status: s.status ?? {},
              events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
            });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return { server, spans, bodies, contentTypes };
}

describe('OpenTelemetry traces of a hand-off', () => {
  const otlp = otlpReceiver();
  let svc: TestService;
  beforeAll(async () => {
    await new Promise<void>((r) => otlp.server.listen(0, '127.0.0.1', r));
    const { port } = otlp.server.address() as AddressInfo;
    svc = await startTestService({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'ots-handoff-test',
      VOICE_PACE: '0.5',
      VOICE_REPEAT_WINDOW_SECONDS: '1',
    });
  });
  afterAll(async () => {
    await svc?.stop();
    otlp.server.close();
  });

  it('one connected trace: POST /v1/shares → StartWorkflow → RunWorkflow → each activity → its HTTP calls, and the reading linked to the call', async () => {
    const placed = await svc.api('POST', '/sandbox/calls', {});
    expect(placed.status, placed.text).toBe(201);
    const callSid: string = placed.body.callSid;
    await until(
      'the call to stream',
      async () =>
        (
          await svc.temporal.client.workflow
            .getHandle(callWorkflowId(callSid))
            .query(callQuery)
            .catch(() => undefined)
        )?.state === 'streaming',
      10_000,
      100,
    );
    const to = '+15550470001';
    const secret = `Trace-Passw0rd-${Date.now().toString(36)}!`;
    const res = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-TRACE-1',
      secret: { value: secret },
      link: { channel: 'sms', to },
      passphrase: 'voice',
      callSid,
    });
    expect(res.status, res.text).toBe(202);
    const shareId: string = res.body.shareId;
    const delivered = await svc.waitFor(
      shareId,
      (s) => s.passphrase.deliveredAt !== undefined || s.state === 'needs_technician',
      90_000,
    );
    expect(delivered.state).toBe('awaiting_view');
    const link = svc.linkSentTo(to);
    const heard = svc.simulatedCalls!.get(callSid)!;
    expect((await svc.openLink(link, heard.wroteDown)).value).toBe(secret);
    await svc.waitForState(shareId, 'viewed');

    // The workflow's own span is exported once the workflow has finished; the batch goes out within a second.
    const root = () =>
      otlp.spans.find((s) => s.name === 'POST /v1/shares' && s.attributes['handoff.share_id'] === shareId);
    const named = (traceId: string, name: string) => otlp.spans.filter((s) => s.traceId === traceId && s.name === name);
    await until(
      'the hand-off trace to be exported',
      async () => {
        const r = root();
        return (
          r !== undefined &&
          named(r.traceId, 'RunWorkflow:shareSecret').length > 0 &&
          named(r.traceId, 'voice.reading').length > 0 &&
          named(r.traceId, 'RunActivity:checkSecret').length > 0
        );
      },
      30_000,
      200,
    );
    const server = root()!;
    if (process.env.TRACE_DUMP) writeFileSync(process.env.TRACE_DUMP, JSON.stringify(otlp.spans, null, 1));
    const trace = otlp.spans.filter((s) => s.traceId === server.traceId);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const parentOf = (s: ReceivedSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);
    const one = (name: string) => {
      const found = named(server.traceId, name);
      expect(found.length, `${name} in the trace (${trace.map((s) => s.name).join(', ')})`).toBeGreaterThan(0);
      return found[0]!;
    };

    expect(server.service).toBe('ots-handoff-test');
    expect(server.kind).toBe(2); // SERVER
    // The agent's own trace context is taken up (W3C traceparent): here the test's HTTP client, traced in the same
    // process, is the root.
    const agent = parentOf(server)!;
    expect(agent).toMatchObject({ kind: 3, parentSpanId: undefined });
    const start = one('StartWorkflow:shareSecret');
    expect(parentOf(start)).toBe(server);
    const run = one('RunWorkflow:shareSecret');
    expect(parentOf(run)).toBe(start);
    for (const activity of ['createSecret', 'sendLinkSms', 'awaitCall', 'speakPassphrase', 'checkSecret']) {
      const scheduled = one(`StartActivity:${activity}`);
      expect(parentOf(scheduled), `StartActivity:${activity}'s parent`).toBe(run);
      const ran = named(server.traceId, `RunActivity:${activity}`).find((s) => parentOf(s) === scheduled);
      expect(ran, `RunActivity:${activity} under its StartActivity`).toBeDefined();
    }
    // The create's request to Onetime Secret (undici), under the create, its key-free path only.
    const create = one('RunActivity:createSecret');
    const otsCall = trace.find((s) => parentOf(s) === create && s.kind === 3 /* CLIENT */);
    expect(otsCall, 'an HTTP client span under RunActivity:createSecret').toBeDefined();
    expect(otsCall!.attributes['url.path']).toMatch(/\/api\/v[12]\/(secret\/conceal|share)$/);
    // A receipt check's path names no receipt key.
    const check = one('RunActivity:checkSecret');
    for (const s of trace.filter((x) => parentOf(x) === check && x.kind === 3))
      expect(String(s.attributes['url.path'])).toMatch(/\/(receipt|private)\/(:key|recent)$/);
    expect(otsCall!.attributes['url.query']).toBeUndefined();
    // The reading, in the hand-off's trace, linked to the call's media-stream span (a trace of its own).
    const reading = one('voice.reading');
    expect(parentOf(reading)).toBe(one('RunActivity:speakPassphrase'));
    expect(reading.attributes).toMatchObject({ 'handoff.share_id': shareId, 'voice.outcome': 'heard' });
    const stream = otlp.spans.find(
      (s) => s.name === 'twilio.media_stream' && s.attributes['twilio.call_sid'] === callSid,
    );
    expect(stream, 'the media-stream span').toBeDefined();
    expect(reading.links).toContainEqual(expect.objectContaining({ traceId: stream!.traceId, spanId: stream!.spanId }));
    expect(stream!.traceId).not.toBe(server.traceId);
    // Twilio's status callbacks: their own server spans, naming the hand-off.
    expect(
      otlp.spans.some((s) => s.name === 'POST /twilio/sms-status' && s.attributes['handoff.share_id'] === shareId),
    ).toBe(true);
    // Every span of the trace hangs from the request: one tree, no orphan.
    for (const s of trace) if (s !== agent) expect(parentOf(s), `${s.name}'s parent`).toBeDefined();

    // A hand-off whose SMS Twilio refuses: its error (Twilio's text names the number) is on the activity's span.
    const refusedTo = '+15550470002';
    svc.twilioFake!.failNext({ status: 400 });
    const refused = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-TRACE-2',
      secret: { generate: true },
      link: { channel: 'sms', to: refusedTo },
    });
    expect(refused.status).toBe(202);
    await svc.waitForState(refused.body.shareId, 'needs_technician', 30_000);
    const refusedSend = () =>
      otlp.spans.find(
        (s) =>
          s.name === 'RunActivity:sendLinkSms' &&
          s.attributes['temporalWorkflowId'] === `share-${refused.body.shareId}`,
      );
    await until('the refused send to be exported', async () => refusedSend() !== undefined, 30_000, 200);
    // An error span, whose exception keeps its type and loses its text.
    expect(refusedSend()!.status).toEqual({ code: 2 });
    const exception = refusedSend()!.events.find((e) => e.name === 'exception');
    expect(exception?.attributes).toEqual({ 'exception.type': expect.any(String) });

    // Nothing secret or personal was exported: not the secret, the passphrase, the link or its key, the numbers
    // (the refused one included), the ticket ids (Temporal's workflow exporter copies the search attributes).
    const passphrase = await svc.passphraseOf(shareId);
    const exported = otlp.bodies.join('\n');
    const personal = [to, to.slice(1), refusedTo, refusedTo.slice(1), 'T-TRACE-1', 'T-TRACE-2'];
    expectNoLeaks([secret, passphrase, link, link.split('/secret/')[1]!, ...personal], {
      logs: [],
      responses: [],
      notes: [],
      smsBodies: [],
      history: [],
      other: [exported],
    });
    expect([...otlp.contentTypes]).toEqual(['application/json']);

    // The log lines written within the hand-off name its trace.
    expect(svc.logs.some((l) => l.includes(`"trace_id":"${server.traceId}"`) && l.includes(shareId))).toBe(true);
  }, 120_000);
});
