// One root logger; units of work use logger.child({ shareId }) / child({ callSid }), so every line of one hand-off or
// call is found with one filter (pino child loggers: https://getpino.io/#/docs/child-loggers).
// Redaction is the safety net, not the plan: code never passes a secret to a logger in the first place.
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
    },
    opts.destination,
  );
}
