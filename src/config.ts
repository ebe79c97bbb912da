// The environment, validated once. Only src/main.ts calls loadConfig with process.env; everything else receives
// the typed Config. A bad value fails start-up with one line per bad variable (README.md, "Configuration").
import { z } from 'zod';
import { isLoopbackUrl } from './loopback.js';
import { parseKey32 } from './key-material.js';
import { parseNotesWebhookKeys } from './notes.js';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS, TTL_PRESETS, type TtlPreset } from './ots/ttl.js';
import { parsePayloadKeys, type PayloadKey } from './temporal/payload-codec.js';

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
    if (parts.length === 0 || nums.some((n, i) => parts[i] === '' || !Number.isFinite(n) || n <= 0)) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma list of positive numbers of seconds, e.g. 15,30,60' });
      return z.NEVER;
    }
    return nums;
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
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('ots-handoff'),
    TEMPORAL_UI_PORT: port.default(8233),
    TEMPORAL_PORT: port.default(7233),
    TEMPORAL_CLI: z.string().min(1).optional(),
    TEMPORAL_DB_FILE: z.string().min(1).default('.data/temporal.db'),
    OTS_BASE_URL: httpUrl.optional(),
    OTS_USERNAME: z.email({ message: 'must be the account email' }).optional(),
    OTS_API_KEY: z.string().min(8, 'must be the API token from your Onetime Secret account').optional(),
    OTS_DEFAULT_TTL: ttlValue.default('24h'),
    OTS_REQUIRE_PASSPHRASE: bool.default(false),
    OTS_RATE_LIMIT_PER_MINUTE: z.coerce.number({ message: 'must be a number' }).int().min(1).max(100_000).default(100),
    OTS_POLL_INTERVALS: pollIntervals,
    TWILIO_ACCOUNT_SID: z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, 'must be an Account SID (AC + 32 hex)')
      .optional(),
    TWILIO_AUTH_TOKEN: z.string().min(16, 'must be the account auth token').optional(),
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
      // Values are never echoed: a mistyped variable may hold a credential.
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
