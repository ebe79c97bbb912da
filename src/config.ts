// The environment, validated once. Only src/main.ts calls loadConfig with process.env; everything else receives
// the typed Config. A bad value fails start-up with one line per bad variable (README.md, "Configuration").
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isLoopbackUrl } from './loopback.js';
import { parseKey32 } from './key-material.js';
import { parseNotesWebhookKeys } from './notes.js';
import { OTS_API_CHOICES } from './ots/schemas.js';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS, TTL_PRESETS, type TtlPreset } from './ots/ttl.js';
import { parsePayloadKeys, type PayloadKey } from './temporal/payload-codec.js';
import { parseTwilioWebhookKeys, type TwilioWebhookKey } from './twilio/webhook-keys.js';
import { MAX_POLL_SCHEDULE_LENGTH, MIN_POLL_INTERVAL_SECONDS } from '../workflows/poll-schedule.js';
import { TEMPORAL_TLS_VARIABLES, temporalTlsEnabled, type TemporalSecurityEnv } from './temporal/connection-options.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number({ message: 'must be a port number' }).int().min(1).max(65535);

const httpUrl = z
  .url({ message: 'must be an http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u), 'must start with http:// or https://')
  .transform((u) => u.replace(/\/+$/, ''));

const TTL_RULE = `must be 1h, 24h, 7d or a number of seconds from ${MIN_TTL_SECONDS} (Onetime Secret's minimum) to ${MAX_TTL_SECONDS} (30 days)`;
const ttlValue = z.union(
  [
    z.enum(Object.keys(TTL_PRESETS) as [TtlPreset, ...TtlPreset[]]),
    z
      .string()
      .regex(/^\d+$/, TTL_RULE)
      .transform(Number)
      .pipe(z.number().int().min(MIN_TTL_SECONDS, TTL_RULE).max(MAX_TTL_SECONDS, TTL_RULE)),
  ],
  { error: TTL_RULE },
);

// Defaults: fast while a caller on the phone is likely opening the link (every 15 s for 2 min, then 30 s and
// 60 s until 10 min), then backing off to every 4 h. The last value repeats. The workflow also checks once
// right at expiry, so a never-opened 24 h link costs about 27 calls instead of 2,880 for naive 30 s polling.
export const DEFAULT_POLL_INTERVALS_TEXT =
  '15,15,15,15,15,15,15,15,30,30,60,60,60,60,60,60,60,300,600,1800,3600,7200,14400';

// How many running workflows each process keeps in its worker's cache (the SDK's `maxCachedWorkflows`). A cached
// workflow is resumed in memory; one that is not is replayed from its history on its next task, so a hand-off that
// sleeps for hours between receipt checks loses little by being evicted, and memory stays bounded by this number,
// not by the number of hand-offs. The SDK's own default grows with the V8 heap limit (with reuseV8Context, its
// default, about 600 per GB of heap above 200 MB: node_modules/@temporalio/worker/src/worker-options.ts): 2,300 on
// the 4 GB heap Node gives itself on a large machine, while a cached hand-off costs about 0.5 MB of RSS (README.md,
// "Performance", memory), so that default alone could take a process past 1 GB. 500 keeps a process near 0.6 GB and
// still holds every watch in its fast first 10 minutes (receipt checks every 15 to 60 s) at up to ~0.8 new hand-offs
// a second per process. 0 turns the cache off; 1 is not a size the SDK accepts (it raises it to 2).
export const DEFAULT_WORKFLOW_CACHE_SIZE = 500;
export const MAX_WORKFLOW_CACHE_SIZE = 100_000;
const CACHE_RULE = `must be a whole number of workflows: 0 (no cache) or from 2 to ${MAX_WORKFLOW_CACHE_SIZE}`;
const workflowCacheSize = z
  .string()
  .regex(/^\d+$/, CACHE_RULE)
  .transform(Number)
  .pipe(
    z
      .number()
      .int()
      .max(MAX_WORKFLOW_CACHE_SIZE, CACHE_RULE)
      .refine((n) => n !== 1, CACHE_RULE),
  );

/** A comma list: entries trimmed, empty ones dropped. */
const commaList = z.string().transform((s) =>
  s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean),
);
const tokens = z.array(z.string().min(16, 'each token must be at least 16 characters'));

const pollIntervals = z
  .string()
  .default(DEFAULT_POLL_INTERVALS_TEXT)
  .transform((s, ctx) => {
    const parts = s.split(',').map((p) => p.trim());
    const nums = parts.map(Number);
    if (
      parts.length === 0 ||
      parts.length > MAX_POLL_SCHEDULE_LENGTH ||
      nums.some((n, i) => parts[i] === '' || !Number.isFinite(n) || n < MIN_POLL_INTERVAL_SECONDS)
    ) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a comma list of up to ${MAX_POLL_SCHEDULE_LENGTH} numbers of seconds, each at least ${MIN_POLL_INTERVAL_SECONDS}, e.g. 15,30,60`,
      });
      return z.NEVER;
    }
    return nums;
  });

// Connecting to a secured Temporal (docs/temporal.md, "Connecting to a secured Temporal"). The names and rules are
// Temporal's own environment configuration, which its SDKs and CLI read
// (https://docs.temporal.io/references/client-environment-configuration): each certificate or key comes as a file
// (*_PATH, the usual way: a mounted secret) or as the PEM text itself (*_DATA), never both. Both parse to the PEM
// bytes, read and checked here, so a missing file or a wrong key stops start-up with the variable's name instead of
// failing later as a TLS handshake error. Checks that need two variables are in the superRefine below.
type PemKind = 'certificate' | 'private key';
const PEM_BLOCK = {
  certificate: /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
  'private key': /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/g,
};

/** Why `text` is not a usable PEM of this kind, or undefined. Never quotes the text. */
function pemProblem(text: string, kind: PemKind): string | undefined {
  if (kind === 'private key' && /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text))
    return 'holds an encrypted private key: the SDK takes it unencrypted (protect the file instead)';
  const blocks = text.match(PEM_BLOCK[kind]) ?? [];
  if (blocks.length === 0) {
    const other = kind === 'certificate' ? PEM_BLOCK['private key'] : PEM_BLOCK.certificate;
    const holds = text.match(other) ? ` (it holds a ${kind === 'certificate' ? 'private key' : 'certificate'})` : '';
    return `must be PEM: no "-----BEGIN ${kind === 'certificate' ? 'CERTIFICATE' : 'PRIVATE KEY'}-----" block found${holds}`;
  }
  if (kind === 'private key' && blocks.length > 1) return 'must hold one private key, not several';
  try {
    for (const block of blocks) {
      if (kind === 'certificate') new X509Certificate(block);
      else createPrivateKey(block);
    }
  } catch {
    return `holds a PEM ${kind} that does not parse`;
  }
  return undefined;
}

/** A *_PATH variable: the file is read now; a bad path or content names the variable and the path. */
const pemPath = (kind: PemKind, dataVariable: string) =>
  z.string().transform((path, ctx): Buffer => {
    // PEM text pasted into the path variable must not be echoed back as "the path".
    if (path.includes('-----BEGIN') || /[\r\n]/.test(path)) {
      ctx.addIssue({ code: 'custom', message: `holds PEM text, not a file path: put the PEM in ${dataVariable}` });
      return z.NEVER;
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const { code, message } = err as NodeJS.ErrnoException;
      ctx.addIssue({ code: 'custom', message: `cannot read ${path} (${code ?? message})` });
      return z.NEVER;
    }
    const problem = pemProblem(text, kind);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `${path} ${problem}` });
      return z.NEVER;
    }
    return Buffer.from(text);
  });

/**
 * A *_DATA variable: the PEM text itself. A value with "\n" escapes and no line breaks (an env file cannot hold
 * a multi-line value) is unescaped first.
 */
const pemData = (kind: PemKind, pathVariable: string) =>
  z.string().transform((value, ctx): Buffer => {
    const text = /[\r\n]/.test(value) ? value : value.replaceAll('\\n', '\n');
    if (!text.includes('-----BEGIN') && /^[\w./~-]+$/.test(text)) {
      ctx.addIssue({ code: 'custom', message: `looks like a file path, not PEM text: put a path in ${pathVariable}` });
      return z.NEVER;
    }
    const problem = pemProblem(text, kind);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return Buffer.from(text);
  });

const envSchema = z
  .object({
    PORT: port.default(3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    PUBLIC_BASE_URL: httpUrl.optional(),
    AGENT_API_TOKENS: commaList.pipe(tokens.min(1, 'must list at least one token')).optional(),
    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[^\s:]+:\d+$/, 'must be host:port')
      .optional(),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TLS: bool.optional(),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: pemPath('certificate', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA').optional(),
    TEMPORAL_TLS_SERVER_CA_CERT_DATA: pemData('certificate', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH').optional(),
    TEMPORAL_TLS_CLIENT_CERT_PATH: pemPath('certificate', 'TEMPORAL_TLS_CLIENT_CERT_DATA').optional(),
    TEMPORAL_TLS_CLIENT_CERT_DATA: pemData('certificate', 'TEMPORAL_TLS_CLIENT_CERT_PATH').optional(),
    TEMPORAL_TLS_CLIENT_KEY_PATH: pemPath('private key', 'TEMPORAL_TLS_CLIENT_KEY_DATA').optional(),
    TEMPORAL_TLS_CLIENT_KEY_DATA: pemData('private key', 'TEMPORAL_TLS_CLIENT_KEY_PATH').optional(),
    TEMPORAL_TLS_SERVER_NAME: z
      .string()
      .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must be a host name, as in the server certificate')
      .optional(),
    // Temporal's convention has it; neither SDK connection can skip the host name check, so only false is accepted.
    TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: bool
      .refine(
        (v) => !v,
        'true is not supported (the TypeScript SDK always checks the server certificate against the host name): set TEMPORAL_TLS_SERVER_NAME to the name in the certificate',
      )
      .optional(),
    TEMPORAL_API_KEY: z.string().regex(/^\S+$/, 'must be the API key alone, without spaces or line breaks').optional(),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('ots-handoff'),
    TEMPORAL_WORKFLOW_CACHE_SIZE: workflowCacheSize.default(DEFAULT_WORKFLOW_CACHE_SIZE),
    TEMPORAL_UI_PORT: port.default(8233),
    TEMPORAL_PORT: port.default(7233),
    TEMPORAL_CLI: z.string().min(1).optional(),
    TEMPORAL_DB_FILE: z.string().min(1).default('.data/temporal.db'),
    OTS_BASE_URL: httpUrl.optional(),
    OTS_USERNAME: z.email({ message: 'must be the account email' }).optional(),
    OTS_API_KEY: z.string().min(8, 'must be the API token from your Onetime Secret account').optional(),
    OTS_API_VERSION: z
      .enum(OTS_API_CHOICES, { message: `must be one of ${OTS_API_CHOICES.join(', ')}` })
      .default('auto'),
    OTS_DEFAULT_TTL: ttlValue.default('24h'),
    OTS_REQUIRE_PASSPHRASE: bool.default(false),
    OTS_RATE_LIMIT_PER_MINUTE: z.coerce.number({ message: 'must be a number' }).int().min(1).max(100_000).default(100),
    OTS_POLL_INTERVALS: pollIntervals,
    TWILIO_ACCOUNT_SID: z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, 'must be an Account SID (AC + 32 hex)')
      .optional(),
    TWILIO_AUTH_TOKEN: z.string().min(16, 'must be the account auth token').optional(),
    // SharedKeys that may sign webhooks instead of the auth token, `keyId:secret,…` (src/twilio/webhook-keys.ts).
    // Allowed without live Twilio: the sandbox then accepts both, and its fake signs with the first key.
    TWILIO_WEBHOOK_KEYS: z
      .string()
      .transform((s, ctx): TwilioWebhookKey[] => {
        try {
          return parseTwilioWebhookKeys(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
    TWILIO_FROM: z
      .string()
      .regex(
        /^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$/,
        'must be an E.164 number (+15551234567) or a Messaging Service SID (MG…)',
      )
      .optional(),
    DEEPGRAM_API_KEY: z.string().min(1).optional(),
    DEEPGRAM_BASE_URL: httpUrl.optional(),
    DEEPGRAM_STT_MODEL: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/, 'must be a Deepgram model name such as nova-3')
      .default('nova-3'),
    DEEPGRAM_TTS_MODEL: z
      .string()
      .regex(/^aura-[a-z0-9-]{1,60}$/, 'must be a Deepgram Aura voice such as aura-2-thalia-en')
      .default('aura-2-thalia-en'),
    DEEPGRAM_TTS_SPEED: z.coerce
      .number({ message: 'must be a number' })
      .min(0.7, 'must be from 0.7 to 1.5 (Aura-2)')
      .max(1.5, 'must be from 0.7 to 1.5 (Aura-2)')
      .optional(),
    VOICE_CLIPS: z
      .enum(['committed', 'deepgram'], {
        message:
          'must be "committed" (the recorded clips in assets/clips) or "deepgram" (synthesised once with DEEPGRAM_API_KEY and cached)',
      })
      .default('committed'),
    VOICE_CLIPS_DIR: z.string().min(1).optional(),
    VOICE_PACE: z.coerce
      .number({ message: 'must be a number' })
      .min(0.5, 'must be from 0.5 to 2')
      .max(2, 'must be from 0.5 to 2')
      .default(1),
    VOICE_CALL_WAIT_SECONDS: z.coerce
      .number({ message: 'must be a number of seconds' })
      .int()
      .min(5)
      .max(3600)
      .default(120),
    VOICE_REPEAT_WINDOW_SECONDS: z.coerce
      .number({ message: 'must be a number of seconds' })
      .int()
      .min(0)
      .max(300)
      .default(15),
    NOTES_WEBHOOK_URL: httpUrl.optional(),
    // One secret, or `id:secret,…` newest first (src/notes.ts); kept as text, parsed again by the webhook.
    NOTES_WEBHOOK_SECRET: z
      .string()
      .superRefine((s, ctx) => {
        try {
          parseNotesWebhookKeys(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      })
      .optional(),
    PAYLOAD_KEYS: z
      .string()
      .transform((s, ctx): PayloadKey[] => {
        try {
          return parsePayloadKeys(s);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      })
      .optional(),
    SEAL_KEY: z
      .string()
      .superRefine((s, ctx) => {
        const parsed = parseKey32(s);
        if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
      })
      .optional(),
    CODEC_ALLOWED_ORIGINS: commaList
      .transform((list) => list.map((o) => o.replace(/\/+$/, '')))
      .pipe(
        z.array(
          z.string().refine((o) => {
            try {
              return /^https?:$/.test(new URL(o).protocol) && new URL(o).origin === o;
            } catch {
              return false;
            }
          }, 'each entry must be an origin: scheme://host[:port], no path (e.g. http://localhost:8233)'),
        ),
      )
      .optional(),
    CODEC_LOCAL_UI: bool.optional(),
    CODEC_TOKENS: commaList.pipe(tokens).optional(),
    // GET /metrics (src/metrics.ts): bearer tokens when set; without, it answers loopback clients only.
    METRICS_TOKENS: commaList.pipe(tokens).optional(),
    // Where the Temporal SDK's Prometheus exporter listens (127.0.0.1 only; /metrics relays it). Default: a free port.
    TEMPORAL_METRICS_PORT: port.optional(),
    // OpenTelemetry traces (src/tracing.ts), the standard variables: off unless an endpoint is set. OTLP over HTTP.
    OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
    OTEL_EXPORTER_OTLP_PROTOCOL: z
      .enum(['http/protobuf', 'http/json'], {
        error: 'must be http/protobuf or http/json (OTLP over gRPC is not supported here)',
      })
      .optional(),
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
      .enum(['http/protobuf', 'http/json'], {
        error: 'must be http/protobuf or http/json (OTLP over gRPC is not supported here)',
      })
      .optional(),
    OTEL_SERVICE_NAME: z.string().min(1).default('ots-handoff'),
    OTEL_SDK_DISABLED: bool.optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATA_DIR: z.string().min(1).default('.data'),
  })
  .superRefine((env, ctx) => {
    const group = (names: (keyof typeof env)[], what: string) => {
      const set = names.filter((n) => env[n] !== undefined);
      if (set.length > 0 && set.length < names.length) {
        for (const n of names.filter((n) => env[n] === undefined)) {
          ctx.addIssue({ code: 'custom', path: [n], message: `must be set too: ${what} needs ${names.join(', ')}` });
        }
      }
    };
    group(['OTS_USERNAME', 'OTS_API_KEY'], 'live Onetime Secret');
    group(['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'], 'live Twilio');
    group(['NOTES_WEBHOOK_URL', 'NOTES_WEBHOOK_SECRET'], 'the notes webhook');
    if (env.OTS_BASE_URL && !env.OTS_USERNAME) {
      ctx.addIssue({
        code: 'custom',
        path: ['OTS_BASE_URL'],
        message:
          'is set without OTS_USERNAME and OTS_API_KEY: a live Onetime Secret server needs an account (recipient email and recent receipts require one)',
      });
    }
    // The account's API key travels on every request: only over TLS, except to a server on this machine.
    if (env.OTS_BASE_URL && !env.OTS_BASE_URL.startsWith('https://') && !isLoopbackUrl(env.OTS_BASE_URL)) {
      ctx.addIssue({
        code: 'custom',
        path: ['OTS_BASE_URL'],
        message: 'must be https:// (the API key is sent with every request); plain http only to a loopback address',
      });
    }
    // The sandbox emulator's links point at this machine: a real SMS carrying one would reach nobody.
    if (env.TWILIO_ACCOUNT_SID && !env.OTS_USERNAME) {
      ctx.addIssue({
        code: 'custom',
        path: ['OTS_USERNAME'],
        message:
          'must be set with live Twilio: without it the sandbox Onetime Secret emulator would make the links, and real SMS would carry links to this machine',
      });
    }
    const live = Boolean(env.OTS_USERNAME || env.TWILIO_ACCOUNT_SID);
    if (live && !env.PUBLIC_BASE_URL && env.TWILIO_ACCOUNT_SID) {
      ctx.addIssue({
        code: 'custom',
        path: ['PUBLIC_BASE_URL'],
        message: 'must be set with live Twilio: status callbacks are signed against it',
      });
    }
    if (live && !env.AGENT_API_TOKENS) {
      ctx.addIssue({
        code: 'custom',
        path: ['AGENT_API_TOKENS'],
        message: 'must be set when any service is live (the sandbox token is for local use only)',
      });
    }
    if ((live || env.TEMPORAL_ADDRESS) && !env.PAYLOAD_KEYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['PAYLOAD_KEYS'],
        message: `must be set ${live ? 'when any service is live' : 'with TEMPORAL_ADDRESS (every worker of a shared Temporal needs the same keys)'}: Temporal payloads are encrypted with it (k1:$(openssl rand -base64 32))`,
      });
    }
    temporalSecurityRules(env, ctx);
    if (env.VOICE_CLIPS === 'deepgram' && !env.DEEPGRAM_API_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['VOICE_CLIPS'],
        message: 'is "deepgram" but DEEPGRAM_API_KEY is not set: the clips are synthesised with it',
      });
    }
    if (live && !env.SEAL_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['SEAL_KEY'],
        message: 'must be set when any service is live (openssl rand -base64 32)',
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

/** The TEMPORAL_TLS_* and TEMPORAL_API_KEY rules that need more than one variable. */
function temporalSecurityRules(env: TemporalSecurityEnv, ctx: z.RefinementCtx): void {
  const issue = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
  const set = [...TEMPORAL_TLS_VARIABLES, 'TEMPORAL_API_KEY' as const].filter((v) => env[v] !== undefined);
  if (!env.TEMPORAL_ADDRESS) {
    const securing = [...(env.TEMPORAL_TLS ? ['TEMPORAL_TLS' as const] : []), ...set];
    if (securing.length > 0)
      issue(
        'TEMPORAL_ADDRESS',
        `must be set with ${securing.join(', ')}: they secure the connection to your Temporal server; the embedded dev server (TEMPORAL_ADDRESS unset) is plain and on this machine`,
      );
    return;
  }
  for (const [path, data] of [
    ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'],
    ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_DATA'],
    ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_DATA'],
  ] as const) {
    if (env[path] && env[data]) issue(data, `is set together with ${path}: set one of them`);
  }
  const cert = env.TEMPORAL_TLS_CLIENT_CERT_PATH ?? env.TEMPORAL_TLS_CLIENT_CERT_DATA;
  const key = env.TEMPORAL_TLS_CLIENT_KEY_PATH ?? env.TEMPORAL_TLS_CLIENT_KEY_DATA;
  const certName = env.TEMPORAL_TLS_CLIENT_CERT_DATA
    ? 'TEMPORAL_TLS_CLIENT_CERT_DATA'
    : 'TEMPORAL_TLS_CLIENT_CERT_PATH';
  const keyName = env.TEMPORAL_TLS_CLIENT_KEY_DATA ? 'TEMPORAL_TLS_CLIENT_KEY_DATA' : 'TEMPORAL_TLS_CLIENT_KEY_PATH';
  if (cert && !key) {
    issue(
      'TEMPORAL_TLS_CLIENT_KEY_PATH',
      `must be set too (or TEMPORAL_TLS_CLIENT_KEY_DATA): ${certName} is set, and mutual TLS needs the client certificate and its private key`,
    );
  } else if (key && !cert) {
    issue(
      'TEMPORAL_TLS_CLIENT_CERT_PATH',
      `must be set too (or TEMPORAL_TLS_CLIENT_CERT_DATA): ${keyName} is set, and mutual TLS needs the client certificate and its private key`,
    );
  } else if (cert && key) {
    let matches = false;
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
    } catch {
      // both parsed above; a key of another type than the certificate's does not match
    }
    if (!matches) issue(keyName, `is not the private key of the certificate in ${certName}`);
  }
  if (env.TEMPORAL_TLS === false) {
    const tlsSet = set.filter((v) => v !== 'TEMPORAL_API_KEY');
    if (tlsSet.length > 0)
      issue(
        'TEMPORAL_TLS',
        `is false, but ${tlsSet.join(', ')} ${tlsSet.length > 1 ? 'are' : 'is'} set: remove them or unset TEMPORAL_TLS`,
      );
  }
  // As with OTS_API_KEY: the key travels with every request, so only over TLS, except to this machine.
  if (env.TEMPORAL_API_KEY && !temporalTlsEnabled(env) && !isLoopbackUrl(`http://${env.TEMPORAL_ADDRESS}`)) {
    issue(
      'TEMPORAL_TLS',
      'is false with TEMPORAL_API_KEY: the API key would travel in clear text; plain only to a loopback TEMPORAL_ADDRESS',
    );
  }
}

export type ServiceMode = 'live' | 'sandbox';

export interface Config extends Env {
  modes: { ots: ServiceMode; twilio: ServiceMode; deepgram: ServiceMode };
  /** True when any outside service runs as a local fake: sandbox routes are mounted. */
  sandbox: boolean;
  publicBaseUrl: string;
  /** Where this process answers on this machine (HOST 0.0.0.0 is reached through 127.0.0.1). */
  localUrl: string;
  /** CODEC_ALLOWED_ORIGINS, else the embedded UI's two spellings of its origin (none with TEMPORAL_ADDRESS). */
  codecAllowedOrigins: string[];
  /** A browser on this machine may use the codec server without a token: CODEC_LOCAL_UI, else sandbox + embedded. */
  codecLocalUi: boolean;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment. Empty strings count as unset, so `FOO=` in a .env file does not trip validation. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => ({
      variable: String(i.path[0] ?? '(environment)'),
      // Values are never echoed: a mistyped variable may hold a credential. (A TEMPORAL_TLS_*_PATH problem names the
      // file's path, never its contents.)
      message: i.message,
    }));
    throw new ConfigError(problems);
  }
  const env = parsed.data;
  const modes = {
    ots: env.OTS_USERNAME ? 'live' : 'sandbox',
    twilio: env.TWILIO_ACCOUNT_SID ? 'live' : 'sandbox',
    deepgram: env.DEEPGRAM_API_KEY ? 'live' : 'sandbox',
  } as const;
  const localUrl = `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${env.PORT}`;
  return {
    ...env,
    modes,
    localUrl,
    sandbox: modes.ots === 'sandbox' || modes.twilio === 'sandbox',
    publicBaseUrl: env.PUBLIC_BASE_URL ?? localUrl,
    codecAllowedOrigins:
      env.CODEC_ALLOWED_ORIGINS ??
      (env.TEMPORAL_ADDRESS
        ? []
        : [`http://localhost:${env.TEMPORAL_UI_PORT}`, `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`]),
    codecLocalUi:
      env.CODEC_LOCAL_UI ?? (!env.TEMPORAL_ADDRESS && modes.ots === 'sandbox' && modes.twilio === 'sandbox'),
  };
}
