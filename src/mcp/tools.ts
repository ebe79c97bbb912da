// The agent API as MCP tools (README.md, "MCP"), for an LLM voice agent: the same operations as the REST routes
// (createAgentOps, src/http/shares.ts), through either front door: in the service at /mcp (src/mcp/http.ts), or over
// stdio from a process that calls the REST routes (src/mcp/stdio.ts). Tool results carry the status, which never holds
// the secret, the passphrase or the link (README.md, "Confidentiality and the threat model").
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createRequire } from 'node:module';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { FINAL_STATES, type ShareState } from '../../workflows/types.js';
import { shareStateSchema, shareStatusSchema } from '../http/api-schemas.js';
import { retryLaterOf, type RetryLater } from '../http/retry-later.js';
import { jsonSchemaOf, shareRequestSchema } from '../http/schemas.js';
import {
  WAIT,
  type AgentAnswer,
  type AgentCaller,
  type AgentOps,
  type StatusBody,
  type StatusWait,
} from '../http/shares.js';

/** The agent API's operations for one caller (one bearer token): what the tools need from either front door. */
export interface AgentApi {
  share(rawBody: unknown, idempotencyKey?: string): Promise<AgentAnswer>;
  status(shareId: string, wait?: StatusWait, signal?: AbortSignal): Promise<AgentAnswer>;
  /** Undefined when the caller left before the answer (the request was cancelled). */
  burn(shareId: string, signal: AbortSignal): Promise<AgentAnswer | undefined>;
}

/** createAgentOps' operations bound to the token that called: each token sees only its own hand-offs. */
export function agentApiFor(ops: Pick<AgentOps, 'share' | 'status' | 'burn'>, caller: AgentCaller): AgentApi {
  return {
    share: (rawBody, key) => ops.share(caller, rawBody, key),
    status: (shareId, wait, signal) => ops.status(caller, shareId, wait, signal),
    burn: (shareId, signal) => ops.burn(caller, shareId, signal),
  };
}

export interface HandoffToolOptions {
  /** Whether a thrown error means "retry later" (default: retryLaterOf with the default Temporal deadline). */
  retryLater?: (err: unknown) => RetryLater | undefined;
  log?: Logger;
}

/**
 * A schema that validates with `runtime` and is published (tools/list) as `published`. The SDK lists a zod schema
 * as its JSON Schema and validates arguments with the same schema before the tool runs (modelcontextprotocol/
 * typescript-sdk, src/server/mcp.ts: setToolRequestHandlers); zod's `.meta()` lands on the generated JSON Schema's
 * root, its keys over the generated ones (colinhacks/zod, packages/zod/src/v4/core/to-json-schema.ts: "metadata").
 */
function publishedAs<T extends z.ZodType>(runtime: T, published: z.core.JSONSchema.BaseSchema): T {
  // The SDK writes its own `$schema` (draft-07); both dialects give the same text for these schemas.
  const { $schema: _dialect, ...rest } = published;
  // A key can be overridden, not removed: an object left open by jsonSchemaOf says so, or it would stay closed.
  return runtime.meta({ ...rest, additionalProperties: rest.additionalProperties ?? true }) as T;
}

const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .describe(
    'Recommended. Any 1 to 255 visible ASCII characters naming this hand-off, e.g. the call SID and a counter ' +
      '(CA…-reset-1). A retry with the same key (after an error, or a timeout) returns the same hand-off instead of ' +
      'sending a second link; the same key with different arguments is refused',
  );

/** share_secret's arguments: POST /v1/shares's body (src/http/schemas.ts) and the Idempotency-Key header's value. */
const shareArgsSchema = shareRequestSchema.safeExtend({ idempotencyKey: idempotencyKeySchema.optional() });

/**
 * What the SDK checks before share_secret runs: only that the arguments are an object, every field kept as sent.
 * The request itself is checked once, by the agent API (createAgentOps' share, or POST /v1/shares over stdio), so
 * both front doors answer the same problems in the same words, name unknown fields only when they are plain words
 * and never repeat a value (describeIssues, src/http/schemas.ts).
 */
const shareArgsChecked = publishedAs(
  z.looseObject(
    Object.fromEntries(Object.keys(shareArgsSchema.shape).map((k) => [k, z.unknown().optional()])) as Record<
      keyof typeof shareArgsSchema.shape,
      z.ZodOptional<z.ZodUnknown>
    >,
  ),
  jsonSchemaOf(shareArgsSchema, 'input'),
);

/**
 * The status as tools/list publishes it: through jsonSchemaOf, so a client that validates structured results (the
 * SDK's Client does) keeps working when the status gains a field, as for GET /v1/openapi.json.
 */
const statusOutput = publishedAs(shareStatusSchema, jsonSchemaOf(shareStatusSchema, 'output'));

const shareIdSchema = z.string().min(1).max(100).describe('The shareId that share_secret returned (shr_…)');

const STATES_EXPLAINED =
  'States: creating (the secret and its link are being made), delivering (the link, and the passphrase if any, are ' +
  'on their way), awaiting_view (sent: waiting for the caller to open the link), viewed (the caller opened it: done; ' +
  'the secret is destroyed), expired (not opened in time; a technician follows up), burned (destroyed on request: the ' +
  'link no longer opens), needs_technician (paused after a failure; a technician will act: do not read the ' +
  'credential aloud instead), resolved (a technician delivered it another way), cancelled (stopped by a technician; ' +
  'the link no longer opens), terminated (stopped unexpectedly; a technician follows up). `agentHint` is one ' +
  'sentence to tell the caller where things stand.';

const NEVER_ALOUD =
  'Never say the secret aloud, never repeat it to the caller, never write it into the conversation or any other ' +
  'argument.';

const SHARE_DESCRIPTION =
  'Send a credential (a new or temporary password, a recovery code) to the caller of this phone call as a ' +
  'one-time, self-destructing Onetime Secret link: by text message (link {"channel": "sms", "to": "+E164"}) or by ' +
  `email from Onetime Secret (link {"channel": "email", "to": "…@…"}). ${NEVER_ALOUD} Pass it only in ` +
  'secret {"value": "…"}, or send secret {"generate": true} to let Onetime Secret make one up. ' +
  'Optional passphrase, a second factor that travels on another channel: "voice" reads it to the caller over this ' +
  'live call (needs callSid, the call\'s Twilio Call SID CA…; ask the caller to listen and note it); "sms" texts it ' +
  'to passphraseTo, for when the link goes by email. Send an idempotencyKey and reuse it when you retry after an ' +
  "error, so the caller never gets two links. Returns the hand-off's status (shareId, state, agentHint); then call " +
  'wait_for_handoff to learn when the caller has opened the link. The result never contains the secret, the link ' +
  'or the passphrase.';

const STATUS_DESCRIPTION =
  "Read a hand-off's current state once (shareId from share_secret). " +
  STATES_EXPLAINED +
  ' To wait for the caller to open the link, call wait_for_handoff instead of calling this repeatedly.';

const WAIT_DESCRIPTION =
  'Wait until the hand-off changes state: the way to learn that the caller has opened the link (state viewed), or ' +
  'that the link could not be sent or expired. Returns as soon as the state differs from `since` (default: the state ' +
  `when you call), or after timeoutSeconds (default ${WAIT.defaultSeconds}, at most ${WAIT.maxSeconds}) with the ` +
  'state unchanged; at once when the hand-off is already over. Use it instead of polling get_handoff_status: keep ' +
  'talking with the caller while it waits, and call it again with `since` set to the state it returned while the ' +
  `hand-off is not over. ${STATES_EXPLAINED}`;

const BURN_DESCRIPTION =
  'Destroy the secret now so that its link no longer opens: when the link went to the wrong phone or address, the ' +
  'wrong credential was sent, or the caller no longer needs it. Ends in state burned; an error if the hand-off had ' +
  'already ended (opened, expired or burned).';

/** The instructions the server gives a client at initialize, for the model's system prompt. */
export const SERVER_INSTRUCTIONS =
  'Hands credentials to the caller of a live phone call as one-time Onetime Secret links. ' +
  `${NEVER_ALOUD} Start with share_secret, tell the caller what agentHint says, then wait_for_handoff until the ` +
  'state is viewed (or the hand-off ends otherwise).';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** An MCP server with the hand-off tools, for one caller: each front door makes one per connection or request. */
export function createHandoffServer(api: AgentApi, opts: HandoffToolOptions = {}): McpServer {
  const server = new McpServer({ name: 'ots-handoff', version }, { instructions: SERVER_INSTRUCTIONS });
  registerHandoffTools(server, api, opts);
  return server;
}

/** The status's state and hint, for the model; the structured result holds the whole status. */
function describeStatus(s: StatusBody, prefix = ''): string {
  const lines = [`${prefix}shareId: ${s.shareId}`, `state: ${s.state} — ${s.agentHint}`];
  if (s.closed) lines.push(s.closed.note);
  return lines.join('\n');
}

const result = (s: StatusBody, text: string): CallToolResult => ({
  content: [{ type: 'text', text }],
  structuredContent: s as unknown as Record<string, unknown>,
});

const toolError = (text: string): CallToolResult => ({ content: [{ type: 'text', text }], isError: true });

/** A non-2xx answer in words: the same error the REST route gives, field by field for a 400. */
function answerError(a: AgentAnswer, fieldNames: Record<string, string> = {}): CallToolResult {
  const body = a.body as {
    error?: string;
    issues?: { path: string; message: string }[];
    state?: string;
    shareId?: string;
  };
  const error = body.error ?? `HTTP ${a.status}`;
  if (a.status === 400 && body.issues?.length) {
    const issues = body.issues.map((i) => `${fieldNames[i.path] ?? i.path}: ${i.message}`);
    return toolError(`${error}:\n${issues.map((i) => `- ${i}`).join('\n')}`);
  }
  const extra = [
    body.state ? `state: ${body.state}` : undefined,
    a.status === 422 && body.shareId ? `shareId: ${body.shareId}` : undefined,
  ].filter(Boolean);
  return toolError([error, ...extra].join('\n'));
}

const isStatus = (a: AgentAnswer): a is AgentAnswer & { body: StatusBody } =>
  a.status === 200 && typeof (a.body as { state?: unknown }).state === 'string';

export function registerHandoffTools(server: McpServer, api: AgentApi, opts: HandoffToolOptions = {}): void {
  const retryLater = opts.retryLater ?? ((err: unknown) => retryLaterOf(err));

  /** Runs a tool; what it throws is a retry-later error in words, or an internal error that says nothing more. */
  const guarded =
    <A>(tool: string, run: (args: A, signal: AbortSignal) => Promise<CallToolResult>) =>
    async (args: A, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
      try {
        return await run(args, extra.signal);
      } catch (err) {
        const later = retryLater(err);
        if (later) {
          opts.log?.warn({ tool, ...later.log.fields }, later.log.message);
          return toolError(`${later.message}; retry in ${later.retryAfterSeconds} s`);
        }
        const e = err as { name?: string; code?: unknown; message?: string } | undefined;
        opts.log?.error({ tool, err: { type: e?.name, code: e?.code, message: e?.message } }, 'tool call failed');
        return toolError('internal error; the hand-off state is unchanged, try again');
      }
    };

  const statusResult = (a: AgentAnswer, prefix?: string): CallToolResult =>
    isStatus(a) ? result(a.body, describeStatus(a.body, prefix)) : answerError(a);

  server.registerTool(
    'share_secret',
    {
      title: 'Send a credential as a one-time link',
      description: SHARE_DESCRIPTION,
      inputSchema: shareArgsChecked,
      outputSchema: statusOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    guarded('share_secret', async (args: Record<string, unknown>, signal) => {
      const { idempotencyKey, ...body } = args;
      if (idempotencyKey !== undefined && typeof idempotencyKey !== 'string')
        return answerError({
          status: 400,
          body: { error: 'invalid share request', issues: [{ path: 'idempotencyKey', message: 'must be a string' }] },
        });
      const started = await api.share(body, idempotencyKey);
      if (started.status !== 202) return answerError(started, { 'Idempotency-Key': 'idempotencyKey' });
      const { shareId } = started.body as { shareId: string };
      // Started: whatever the status read does now, the agent must learn the shareId, or it would start another.
      const unread = `Hand-off started (shareId ${shareId}), but its status could not be read yet: call get_handoff_status with this shareId; do not start it again.`;
      try {
        const a = await api.status(shareId, undefined, signal);
        return isStatus(a) ? statusResult(a, 'Hand-off started. ') : toolError(unread);
      } catch {
        return toolError(unread);
      }
    }),
  );

  server.registerTool(
    'get_handoff_status',
    {
      title: "A hand-off's state",
      description: STATUS_DESCRIPTION,
      inputSchema: z.object({ shareId: shareIdSchema }),
      outputSchema: statusOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded('get_handoff_status', async ({ shareId }: { shareId: string }, signal) =>
      statusResult(await api.status(shareId, undefined, signal)),
    ),
  );

  server.registerTool(
    'wait_for_handoff',
    {
      title: 'Wait for the caller to open the link',
      description: WAIT_DESCRIPTION,
      inputSchema: z.object({
        shareId: shareIdSchema,
        since: shareStateSchema
          .optional()
          .describe('Return as soon as the state differs from this one (default: the state when called)'),
        timeoutSeconds: z
          .number()
          .int()
          .min(1)
          .max(WAIT.maxSeconds)
          .optional()
          .describe(
            `How long to wait at most, in seconds (default ${WAIT.defaultSeconds}, at most ${WAIT.maxSeconds})`,
          ),
      }),
      outputSchema: statusOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    guarded(
      'wait_for_handoff',
      async (
        { shareId, since, timeoutSeconds }: { shareId: string; since?: ShareState; timeoutSeconds?: number },
        signal,
      ) => {
        const a = await api.status(
          shareId,
          { since, timeoutMs: (timeoutSeconds ?? WAIT.defaultSeconds) * 1000 },
          signal,
        );
        if (!isStatus(a)) return answerError(a);
        const s = a.body;
        const over = FINAL_STATES.includes(s.state) || s.state === 'terminated';
        const next = over
          ? ''
          : `\nNot over yet: call wait_for_handoff again with since "${s.state}" to wait for the next change.`;
        return result(s, describeStatus(s) + next);
      },
    ),
  );

  server.registerTool(
    'burn_secret',
    {
      title: 'Destroy the secret',
      description: BURN_DESCRIPTION,
      inputSchema: z.object({ shareId: shareIdSchema }),
      outputSchema: statusOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    guarded('burn_secret', async ({ shareId }: { shareId: string }, signal) => {
      const a = await api.burn(shareId, signal);
      if (!a) return toolError('the request was cancelled before the burn answered; read the status');
      if (a.status === 202) {
        // Taken up by the hand-off but not finished in time (src/http/shares.ts, burnThroughWorkflow): the burn
        // will happen. The answer has no status to return, so read it.
        const now = await api.status(shareId, undefined, signal);
        return isStatus(now)
          ? result(
              now.body,
              `The burn is recorded and will happen; call wait_for_handoff to see it end burned.\n${describeStatus(now.body)}`,
            )
          : answerError(now);
      }
      return statusResult(a);
    }),
  );
}
