// The agent API's request body: the single source of truth for validation, types and the published tool schema.
import { z } from 'zod';
import { isOtsRecipient, OTS_EMAIL_RULE } from '../ots/recipient.js';
import { ttlSchema } from '../ots/ttl.js';

const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 phone number such as +15551234567');

/**
 * OTS refuses secrets over 10,000 bytes (docs/onetime-secret.md, "API v2 as this client uses it"); checked here so
 * the agent learns it at once.
 */
const secretValue = z
  .string()
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v, 'utf8') <= 10_000, 'must be at most 10,000 bytes');

/**
 * Ticket ids are plain identifiers, as PSAs write them: INC0012345, RITM0010001 (ServiceNow), PROJ-123 (Jira),
 * #4521 (Zendesk, Syncro), T20251130.0042 (Autotask), 123456 (ConnectWise, HaloPSA), org/repo#12. No spaces,
 * brackets, parentheses or other punctuation: the id is a readable search attribute (TicketId) and goes into logs
 * and Temporal UI's Markdown (workflows/technician-view.ts), so neither a link in Markdown nor a mis-pasted password
 * gets in.
 */
export const TICKET_ID_PATTERN = '^#?[A-Za-z0-9][A-Za-z0-9._/#-]*$';
const TICKET_ID_RULE =
  'must be a ticket id of 1 to 128 characters: letters A-Z a-z, digits 0-9 and . _ / # - only (no spaces, brackets or parentheses), starting with a letter, a digit or #, e.g. INC0012345, PROJ-123, #4521, T20251130.0042';
/** Session ids (UUIDs, call_…, CA…, urn:uuid:…): the same alphabet plus `:`, starting with a letter or digit. */
export const SESSION_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/#-]*$';
const SESSION_ID_RULE =
  'must be a session id of 1 to 128 characters: letters A-Z a-z, digits 0-9 and . _ : / # - only (no spaces, brackets or parentheses), starting with a letter or a digit';

export const shareRequestSchema = z
  .object({
    ticketId: z
      .string()
      .trim()
      .max(128, TICKET_ID_RULE)
      .regex(new RegExp(TICKET_ID_PATTERN), TICKET_ID_RULE)
      .describe(
        'PSA ticket this hand-off belongs to, as the PSA writes it: letters, digits and . _ / # - only (e.g. INC0012345, PROJ-123, #4521, T20251130.0042)',
      ),
    sessionId: z
      .string()
      .max(128, SESSION_ID_RULE)
      .regex(new RegExp(SESSION_ID_PATTERN), SESSION_ID_RULE)
      .optional()
      .describe('Voice-agent session id, for audit: letters, digits and . _ : / # - only'),
    secret: z
      .union(
        [
          z.strictObject({ value: secretValue.describe('The credential to hand over; never echoed or logged') }),
          z.strictObject({ generate: z.literal(true).describe('Let Onetime Secret generate the value') }),
        ],
        { error: 'must be {"value": "..."} or {"generate": true}' },
      )
      .describe('What to share'),
    ttl: ttlSchema.optional().describe('Link lifetime: "1h", "24h" (default), "7d" or seconds'),
    link: z
      .discriminatedUnion(
        'channel',
        [
          z.strictObject({ channel: z.literal('sms'), to: e164 }),
          z.strictObject({ channel: z.literal('email'), to: z.string().refine(isOtsRecipient, OTS_EMAIL_RULE) }),
        ],
        { error: 'must be {"channel": "sms", "to": "+1…"} or {"channel": "email", "to": "…@…"}' },
      )
      .describe('Where the one-time link goes'),
    passphrase: z
      .enum(['none', 'voice', 'sms'])
      .optional()
      .describe(
        'Protect the link with a passphrase delivered on another channel: read over the call, or by SMS when the link goes by email',
      ),
    passphraseTo: e164
      .optional()
      .describe(
        'Phone number for passphrase "sms"; with "voice" and an email link, where the passphrase goes by SMS if it cannot be read over the call',
      ),
    passphraseFormat: z
      .enum(['digits', 'letters'])
      .optional()
      .describe(
        'Passphrase "voice": 12 digits read in groups of three (default, and heard best: about 99 % of digits right even on a noisy line), or 9 lower-case letters spelled with the NATO alphabet (heard less reliably on a noisy line; prefer digits)',
      ),
    callSid: z
      .string()
      .regex(/^CA[0-9a-fA-F]{32}$/, 'must be a Twilio Call SID (CA + 32 hex)')
      .optional()
      .describe('The live call, for passphrase "voice"'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.passphrase === 'voice' && !b.callSid)
      ctx.addIssue({ code: 'custom', path: ['callSid'], message: 'is required when passphrase is "voice"' });
    if (b.passphrase === 'sms') {
      if (!b.passphraseTo)
        ctx.addIssue({ code: 'custom', path: ['passphraseTo'], message: 'is required when passphrase is "sms"' });
      if (b.link.channel === 'sms') {
        ctx.addIssue({
          code: 'custom',
          path: ['passphrase'],
          message: 'cannot be "sms" when the link goes by SMS: the passphrase must travel on a different channel',
        });
      }
    }
    if (b.passphraseTo && b.passphrase === 'voice' && b.link.channel === 'sms') {
      ctx.addIssue({
        code: 'custom',
        path: ['passphraseTo'],
        message: "cannot be used when the link goes by SMS: the passphrase never travels on the link's channel",
      });
    }
    if (b.passphraseTo && b.passphrase !== 'sms' && b.passphrase !== 'voice') {
      ctx.addIssue({
        code: 'custom',
        path: ['passphraseTo'],
        message: 'is only used with passphrase "sms" or "voice"',
      });
    }
    if (b.passphraseFormat && b.passphrase !== 'voice')
      ctx.addIssue({ code: 'custom', path: ['passphraseFormat'], message: 'is only used with passphrase "voice"' });
  });

export type ShareRequest = z.infer<typeof shareRequestSchema>;

/**
 * A zod schema as JSON Schema draft 2020-12, the dialect of OpenAPI 3.1's Schema Object
 * (https://spec.openapis.org/oas/v3.1.0#schema-object). The one conversion behind both GET /v1/tool-schema and the
 * components of GET /v1/openapi.json (src/http/openapi.ts), so the two cannot describe the request differently.
 * `input`: what a client sends (a field with a default is optional); `output`: what the API answers.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): z.core.JSONSchema.BaseSchema {
  return z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    // In output mode zod closes every object (additionalProperties: false), since parsing strips unknown keys. The
    // API's answers are not parsed through these schemas, and a client validating against them must keep working
    // when a field is added (the status gained `agentHint` that way): only strict objects stay closed.
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def;
      if (io === 'output' && def.type === 'object' && def.catchall === undefined)
        delete jsonSchema.additionalProperties;
    },
  });
}

/** JSON Schema of the request, for registering POST /v1/shares as an LLM agent tool. */
export function shareToolSchema() {
  return {
    name: 'share_credential',
    description:
      'Hand a credential to the caller as a self-destructing Onetime Secret link by SMS or email, optionally protected ' +
      'by a passphrase delivered on another channel. Returns a shareId; poll GET /v1/shares/{shareId} for the state.',
    input_schema: jsonSchemaOf(shareRequestSchema, 'input'),
  };
}

/** Field-level errors for a 400: the path and what is wrong, never the value that was sent. */
/** Names from our own schema are safe to show; anything else the client sent is not echoed (it may be markup). */
const SAFE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({
    path:
      i.path.map((p) => (typeof p === 'number' || SAFE_NAME.test(String(p)) ? String(p) : '(key)')).join('.') ||
      '(body)',
    message:
      i.code === 'unrecognized_keys'
        ? i.keys.every((k) => SAFE_NAME.test(k))
          ? `unknown field${i.keys.length === 1 ? '' : 's'}: ${i.keys.join(', ')}`
          : 'unknown fields (names not shown)'
        : i.message,
  }));
}
