// One root logger; units of work use logger.child({ shareId }) / child({ callSid }), so every line of one hand-off or
// call is found with one filter (pino child loggers: https://getpino.io/#/docs/child-loggers).
// Redaction is the safety net, not the plan: code never passes a secret to a logger in the first place.
import { trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

/** Every path where a secret, passphrase, credential or one-time link could sit. Tests prove these. */
export const REDACT_PATHS = [
  'secret',
  'secret.value',
  'value',
  'passphrase',
  'password',
  'link',
  'url',
  'body',
  'credential',
  'sealed',
  'authorization',
  'apiKey',
  'authToken',
  '*.secret',
  '*.secret.value',
  '*.value',
  '*.passphrase',
  '*.password',
  '*.link',
  '*.body',
  '*.credential',
  '*.sealed',
  '*.authorization',
  '*.apiKey',
  '*.authToken',
  'req.headers.authorization',
  'req.headers["x-twilio-signature"]',
  'req.body',
];

export type { Logger };

export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'ots-handoff' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // A line written inside a traced request or activity names its trace (src/tracing.ts), so an operator goes
      // from an alert to the trace to these lines. Without tracing there is no active span and nothing is added.
      mixin: traceFields,
    },
    opts.destination,
  );
}

/** trace_id and span_id of the active span (OpenTelemetry's log correlation field names), if one is recording. */
export function traceFields(): Record<string, string> {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
}
