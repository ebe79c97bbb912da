// The agent API's answers as zod schemas, for its OpenAPI document (src/http/openapi.ts; README.md, "The agent API").
// The handlers build their bodies from workflows/types.ts and src/http/shares.ts, not from these schemas: the type
// checks at the end of this file fail to compile when the two drift apart.
import { z } from 'zod';
import { SMS_STATUSES } from '../../workflows/sms-status.js';
import { AGENT_ID, SHARE_ID } from '../../workflows/input.js';
import { SHARE_STATES, type SmsStatus } from '../../workflows/types.js';
import type { StatusBody } from './shares.js';
import type { shareToolSchema } from './schemas.js';

/** Every timestamp the API answers with comes from Date#toISOString (workflows/handoff.ts, activities/ots.ts). */
const timestamp = (description: string) => z.string().meta({ format: 'date-time', description });

const shareId = z
  .string()
  .regex(SHARE_ID)
  .describe('The hand-off, as POST /v1/shares named it: `shr_` and 20-40 of [0-9a-z]');
const statusUrl = z.string().describe("Where to read the hand-off's status: GET /v1/shares/{shareId} on this service");

export const shareStateSchema = z.enum(SHARE_STATES, { error: `must be one of ${SHARE_STATES.join(', ')}` }).meta({
  description:
    'Where the hand-off stands. Under way: `creating`, `delivering`, `awaiting_view`. Final: `viewed` (opened; the ' +
    'secret is gone), `expired` (unopened in time), `burned` (destroyed on request), `resolved` (a technician ' +
    'delivered it another way), `cancelled`. `needs_technician`: paused until a technician decides. `terminated`: ' +
    "this API's answer only: the hand-off's workflow closed in Temporal before it finished, so nothing watches or " +
    'burns the link any more (see `closed`).',
});

export const smsStatusSchema = z.enum(SMS_STATUSES as [SmsStatus, ...SmsStatus[]]).meta({
  description:
    "Twilio's latest status for the link's text message, the most advanced one seen " +
    '(https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)',
});

export const noteSchema = z
  .object({
    at: timestamp('When it was written'),
    text: z.string().describe('What happened, in words for the ticket; never the secret, passphrase or link'),
    followUp: z.boolean().optional().describe('Present and true when a technician must act'),
  })
  .describe("An entry of the hand-off's history, as it goes into the ticket");

const closedSchema = z
  .object({
    workflowStatus: z
      .string()
      .describe("Temporal's status of the closed workflow: TERMINATED, TIMED_OUT, FAILED, CANCELLED or COMPLETED"),
    at: timestamp('When the workflow closed').optional(),
    lastState: shareStateSchema.describe("The hand-off's state when its workflow closed"),
    note: z.string().describe('What that means for the link, for the agent and the ticket'),
  })
  .describe(
    "Present when the hand-off's workflow closed before it finished (state `terminated`), or when a burn destroyed " +
      'the secret directly because the workflow had closed; the rest of the status is as it stood at that moment',
  );

export const shareStatusSchema = z
  .object({
    shareId,
    ticketId: z.string().describe('The PSA ticket the hand-off belongs to'),
    agent: z
      .string()
      .regex(AGENT_ID)
      .describe(
        "Id of the token that started the hand-off (`agt_` and the first 12 hex digits of the token's SHA-256); only " +
          'that token may read or burn it',
      ),
    state: shareStateSchema,
    link: z
      .object({
        channel: z.enum(['sms', 'email']).describe('How the link goes'),
        to: z.string().describe('The recipient, masked: `+155*****001`, `j***@e***.com`'),
        sentAt: timestamp('When the link was sent').optional(),
        deliveryStatus: smsStatusSchema.optional(),
      })
      .describe('Where the one-time link goes (never the link itself)'),
    passphrase: z
      .object({
        mode: z
          .enum(['none', 'sms', 'voice'])
          .describe('How the passphrase travels: not at all, by SMS, or read over the call'),
        deliveredAt: timestamp('When the passphrase reached the caller').optional(),
      })
      .describe('The passphrase protecting the link (never the passphrase itself)'),
    expiresAt: timestamp('When the link stops opening; absent until the secret exists').optional(),
    viewedAt: timestamp('When the caller opened the link').optional(),
    notes: z.array(noteSchema).describe("The hand-off's history, oldest first"),
    closed: closedSchema.optional(),
    agentHint: z
      .string()
      .describe(
        'A short sentence the agent can say to the caller about where the hand-off stands; never contains the ' +
          'secret, passphrase or link',
      ),
  })
  .describe("A hand-off's status. No field ever holds the secret, the passphrase, the link or the secret's key.");

export const shareAcceptedSchema = z
  .object({
    shareId,
    workflowId: z.string().describe('The Temporal workflow id of the hand-off (`share-` and the shareId)'),
    statusUrl,
  })
  .describe('The hand-off was started, or already existed for this Idempotency-Key: read its status at `statusUrl`');

export const burnAcceptedSchema = z
  .object({
    shareId,
    state: z.literal('burn_requested').describe('The burn is recorded and will happen; it has not finished yet'),
    statusUrl,
  })
  .describe('The hand-off took the burn up but did not finish it in time: poll `statusUrl` until `state` is `burned`');

export const errorSchema = z
  .object({
    error: z.string().describe('What went wrong, in words; never echoes a value that was sent'),
    issues: z
      .array(
        z.object({
          path: z
            .string()
            .describe('The field (dotted path, e.g. `link.to`), the header or query parameter, or `(body)`'),
          message: z.string().describe('What is wrong with it'),
        }),
      )
      .optional()
      .describe('With 400: one entry per thing wrong with the request'),
    state: shareStateSchema.optional().describe("With 409 and 502: the hand-off's state"),
    shareId: shareId.optional().describe('With 422: the hand-off this Idempotency-Key already started'),
  })
  .describe('An error');

export const toolDefinitionSchema = z
  .object({
    name: z.string().describe('The tool name'),
    description: z.string().describe('What the tool does, for the model'),
    input_schema: z
      .record(z.string(), z.unknown())
      .describe("JSON Schema of POST /v1/shares's body: the same as the ShareRequest component of this document"),
  })
  .describe('POST /v1/shares as an LLM agent tool definition (name, description, input_schema)');

export const openApiDocumentSchema = z
  .object({
    openapi: z.literal('3.1.0'),
    info: z.object({ title: z.string(), version: z.string().describe("This service's version") }),
    paths: z.record(z.string(), z.unknown()),
    components: z.record(z.string(), z.unknown()),
  })
  .describe('This document: OpenAPI 3.1 (https://spec.openapis.org/oas/v3.1.0)');

// Compile-time checks. Mutual assignability alone ignores an optional field one side lacks, so the second check
// compares the two types with every field made required, at every depth.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type AllRequired<T> = T extends readonly (infer U)[]
  ? AllRequired<U>[]
  : T extends object
    ? { [K in keyof T]-?: AllRequired<T[K]> }
    : T;
type SameFields<A, B> = Same<A, B> extends true ? Same<AllRequired<A>, AllRequired<B>> : false;

type DocumentedStatus = z.infer<typeof shareStatusSchema>;
const _statusBody: SameFields<DocumentedStatus, StatusBody & { agentHint: string }> = true;
// What GET /v1/tool-schema answers fits the ToolDefinition component (one way: input_schema is any JSON Schema).
const _toolDefinition: [ReturnType<typeof shareToolSchema>] extends [z.infer<typeof toolDefinitionSchema>]
  ? true
  : false = true;
void [_statusBody, _toolDefinition];
