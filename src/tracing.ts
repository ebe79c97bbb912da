// OpenTelemetry traces, on only when an OTLP endpoint is configured (the standard OTEL_EXPORTER_OTLP_* variables,
// OTLP over HTTP, protobuf or JSON): one trace per hand-off, from the agent's POST /v1/shares through the workflow
// start, the workflow and its activities (Temporal's interceptors, @temporalio/interceptors-opentelemetry, carry the
// context across the Temporal boundary in headers) to the HTTP calls to Onetime Secret, Twilio and the notes
// webhook (OpenTelemetry's http and undici instrumentations). Without an endpoint nothing here is loaded into the
// request path: no provider, no instrumentation, no interceptor.
//
// Nothing secret goes out: span attributes are what the instrumentations set (methods, routes, status codes, hosts)
// plus share ids and states; every URL is cut to its path with key segments replaced (scrubUrl) before export, by
// the exporter wrapper below, which sees the workflow spans too. test/e2e/tracing.test.ts scans what was exported.
import { context, propagation, trace, type Attributes, type Link, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { createRequire } from 'node:module';
import type { Config } from './config.js';

export interface Tracing {
  tracer: Tracer;
  /** Where the workflow spans go too (the interceptors' sink, src/temporal/worker.ts). */
  spanProcessor: BatchSpanProcessor;
  resource: Resource;
  /** Exports what is buffered and stops tracing in this process. */
  shutdown(): Promise<void>;
}

type TracingConfig = Pick<
  Config,
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_PROTOCOL'
  | 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_SDK_DISABLED'
  | 'NOTES_WEBHOOK_URL'
>;

/** The traces endpoint as the specification builds it: the signal's own, else the base one + /v1/traces. */
export function tracesEndpoint(config: TracingConfig): string | undefined {
  if (config.OTEL_SDK_DISABLED) return undefined;
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  // https://opentelemetry.io/docs/specs/otel/protocol/exporter/#endpoint-urls-for-otlphttp
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/**
 * Segments followed by a key (an OTS secret or receipt key, a call token), unless what follows is one of the API's
 * own words (POST /api/v2/secret/conceal, GET /api/v2/receipt/recent): docs/onetime-secret.md.
 */
const KEY_AFTER = new Set(['secret', 'receipt', 'private', 'media', 'metadata']);
const API_WORDS = new Set(['conceal', 'generate', 'recent']);
/** A path segment that looks like a key or token (long, no separators), share ids (shr_…) excepted. */
const TOKEN_SEGMENT = /^(?!shr_)[A-Za-z0-9_-]{20,}$/;

/**
 * A URL or path as a span may show it: no query string (a share id at most, but also a returnUrl or a signature),
 * no credentials, and every key segment (an OTS secret or receipt key, a call token) replaced by `:key`.
 */
export function scrubUrl(value: string, opaque: readonly string[] = []): string {
  // A URL whose path is a credential (NOTES_WEBHOOK_URL: a Zapier or PSA hook path) keeps its origin only.
  for (const o of opaque) {
    const u = new URL(o);
    if (value.startsWith(u.origin + u.pathname) || value.startsWith(u.pathname)) {
      return value.startsWith(u.origin) ? `${u.origin}/:webhook` : '/:webhook';
    }
  }
  let prefix = '';
  let path = value;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^@/]*@)?([^/?#]*)(.*)$/i.exec(value);
  if (m) {
    prefix = `${m[1]}${m[2]}`;
    path = m[3]!;
  }
  path = path.replace(/[?#].*$/, '');
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const afterKeyWord = i > 0 && KEY_AFTER.has(parts[i - 1]!.toLowerCase()) && !API_WORDS.has(parts[i]!);
    if ((afterKeyWord && parts[i]) || TOKEN_SEGMENT.test(parts[i]!)) parts[i] = ':key';
  }
  return prefix + parts.join('/');
}

const URL_ATTRIBUTES = ['url.full', 'url.path', 'http.url', 'http.target', 'url.original'];
/** Free text an error brings (Twilio's message names the number it refused; a stack names anything). */
const DROPPED_ATTRIBUTES = ['url.query', 'http.error_message', 'exception.message', 'exception.stacktrace'];

/**
 * What a span may carry out: primitive values only (Temporal's workflow exporter copies the whole WorkflowInfo onto
 * workflow spans, search attributes and memo included: objects, dropped here), no error text, URLs scrubbed.
 */
export function scrubAttributes(attributes: Attributes, opaque: readonly string[] = []): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attributes)) {
    if (DROPPED_ATTRIBUTES.includes(k)) continue;
    const primitive =
      ['string', 'number', 'boolean'].includes(typeof v) ||
      (Array.isArray(v) && v.every((x) => x == null || ['string', 'number', 'boolean'].includes(typeof x)));
    if (primitive) out[k] = URL_ATTRIBUTES.includes(k) && typeof v === 'string' ? scrubUrl(v, opaque) : v;
  }
  return out;
}

/**
 * Hands the exporter each span scrubbed (the span itself is not changed): its attributes and its events' (an
 * exception event keeps its type, not its message or stack), and its status without the error message.
 */
class ScrubbingExporter implements SpanExporter {
  constructor(
    private readonly next: SpanExporter,
    private readonly opaque: readonly string[],
  ) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const scrubbed = spans.map(
      (s) =>
        Object.create(s, {
          attributes: { value: scrubAttributes(s.attributes, this.opaque), enumerable: true },
          events: {
            value: s.events.map((e) => ({
              ...e,
              attributes: e.attributes && scrubAttributes(e.attributes, this.opaque),
            })),
            enumerable: true,
          },
          status: { value: { code: s.status.code }, enumerable: true },
        }) as ReadableSpan,
    );
    this.next.export(scrubbed, done);
  }
  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.next.forceFlush?.() ?? Promise.resolve();
  }
}

/** Requests that are no part of a hand-off: probes, scrapes, the sandbox's fakes and the codec server's UI calls. */
const UNTRACED_PATHS = /^\/(healthz|readyz|metrics|sandbox\/|codec\/)/;

/** This process's tracing (the provider and the instrumentations are global), and how many services use it. */
let active: { tracing: Tracing; url: string; users: number } | undefined;

/**
 * Starts tracing for this process when `config` names an endpoint; undefined otherwise. A second service in the same
 * process (tests, the bench) shares it, to the same endpoint only; it stops when the last one shuts it down.
 */
export function startTracing(config: TracingConfig, version = '0.1.0'): Tracing | undefined {
  const url = tracesEndpoint(config);
  if (!url) return undefined;
  if (active) {
    if (active.url !== url)
      throw new Error(`tracing already exports to ${active.url} in this process; one endpoint per process`);
    active.users += 1;
    return active.tracing;
  }
  const protocol = config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  const otlp = protocol === 'http/json' ? new OtlpJsonExporter({ url }) : new OtlpProtoExporter({ url });
  const opaque = config.NOTES_WEBHOOK_URL ? [config.NOTES_WEBHOOK_URL] : [];
  const spanProcessor = new BatchSpanProcessor(new ScrubbingExporter(otlp, opaque), { scheduledDelayMillis: 1_000 });
  const resource = new Resource({ [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME, [ATTR_SERVICE_VERSION]: version });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  const exporterUrl = new URL(url);
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? '/'),
        // A server span is named by its express route, as OpenTelemetry's HTTP conventions name it: POST /v1/shares.
        applyCustomAttributesOnSpan: (span, req) => {
          const { route, baseUrl, method } = req as { route?: { path?: unknown }; baseUrl?: string; method?: string };
          if (typeof route?.path !== 'string') return;
          const path = `${baseUrl ?? ''}${route.path}`;
          span.updateName(`${method ?? 'GET'} ${path}`);
          span.setAttribute('http.route', path);
        },
        // Core's metrics exporter on loopback (relayed by /metrics) and the OTLP exporter's own requests.
        ignoreOutgoingRequestHook: (req) =>
          req.path === '/metrics' || (req.hostname === exporterUrl.hostname && String(req.port) === exporterUrl.port),
      }),
      new UndiciInstrumentation({
        ignoreRequestHook: (req) => UNTRACED_PATHS.test(req.path) && !req.path.startsWith('/sandbox/ots/'),
      }),
    ],
  });
  // The http module is loaded already (express, twilio's axios): requiring it again lets the instrumentation patch
  // it in place (Server.prototype.emit, request, get), which every user of the module sees.
  const require = createRequire(import.meta.url);
  require('node:http');
  require('node:https');
  const tracing: Tracing = {
    tracer: trace.getTracer('ots-handoff', version),
    spanProcessor,
    resource,
    async shutdown() {
      if (active?.tracing !== tracing || --active.users > 0) return;
      active = undefined;
      unregister();
      await provider.shutdown().catch(() => undefined);
      // Everything provider.register() set globally, so that tracing can start again in this process.
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
  active = { tracing, url, users: 1 };
  return tracing;
}

/** The tracer of this process's tracing, or OpenTelemetry's no-op one when tracing is off. */
export function tracer(): Tracer {
  return active?.tracing.tracer ?? trace.getTracer('ots-handoff');
}

/** Runs `fn` in a new span (ended when it settles, marked as an error when it throws). */
export async function inSpan<T>(
  name: string,
  opts: { attributes?: Attributes; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, opts, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: 2, message: (err as Error).name });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Adds attributes to the active span (the HTTP server span in a route handler); nothing without tracing. */
export function annotateSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}
