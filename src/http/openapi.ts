// The agent API's OpenAPI 3.1 document, served at GET /v1/openapi.json without a token (README.md, "The agent API").
// Its schemas come from the zod schemas that validate the requests (src/http/schemas.ts) and describe the answers
// (src/http/api-schemas.ts), through the same conversion as GET /v1/tool-schema (jsonSchemaOf). The routes are
// src/http/shares.ts's; test/unit/openapi.test.ts validates the document and checks that it lists every one of them.
import { createRequire } from 'node:module';
import { Router } from 'express';
import type { z } from 'zod';
import { SHARE_ID } from '../../workflows/input.js';
import {
  burnAcceptedSchema,
  errorSchema,
  openApiDocumentSchema,
  shareAcceptedSchema,
  shareStateSchema,
  shareStatusSchema,
  toolDefinitionSchema,
} from './api-schemas.js';
import { jsonSchemaOf, shareRequestSchema } from './schemas.js';
import { WAIT } from './shares.js';

type JsonSchema = z.core.JSONSchema.BaseSchema;
type Ref = { $ref: string };

export interface Header {
  description: string;
  schema: JsonSchema;
}
export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  description: string;
  required: boolean;
  schema: JsonSchema | Ref;
}
export interface ApiResponse {
  description: string;
  headers?: Record<string, Header>;
  content?: { 'application/json': { schema: Ref } };
}
export interface Operation {
  operationId: string;
  summary: string;
  description: string;
  /** `[]`: no token needed (the document's own route). */
  security?: [];
  parameters?: Parameter[];
  requestBody?: { required: boolean; description: string; content: { 'application/json': { schema: Ref } } };
  responses: Record<string, ApiResponse>;
}
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers?: { url: string }[];
  security: { bearer: [] }[];
  paths: Record<string, { get?: Operation; post?: Operation }>;
  components: {
    securitySchemes: { bearer: { type: 'http'; scheme: 'bearer'; description: string } };
    schemas: Record<ComponentName, JsonSchema>;
  };
}

/** Each component, and whether it is something a client sends (`input`) or something the API answers (`output`). */
const COMPONENTS = {
  ShareRequest: [shareRequestSchema, 'input'],
  ShareAccepted: [shareAcceptedSchema, 'output'],
  ShareStatus: [shareStatusSchema, 'output'],
  ShareState: [shareStateSchema, 'output'],
  BurnAccepted: [burnAcceptedSchema, 'output'],
  ToolDefinition: [toolDefinitionSchema, 'output'],
  OpenApiDocument: [openApiDocumentSchema, 'output'],
  Error: [errorSchema, 'output'],
} as const satisfies Record<string, readonly [z.ZodType, 'input' | 'output']>;
export type ComponentName = keyof typeof COMPONENTS;

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

const ref = (name: ComponentName): Ref => ({ $ref: `#/components/schemas/${name}` });
const json = (name: ComponentName, description: string, headers?: Record<string, Header>): ApiResponse => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref(name) } },
});
/** Every 4xx and 5xx answer has the same body: `error`, and `issues`, `state` or `shareId` when they apply. */
const failure = (description: string, headers?: Record<string, Header>) => json('Error', description, headers);

const unauthorized = failure('No bearer token: send `Authorization: Bearer <token>`.', {
  'WWW-Authenticate': { description: '`Bearer`', schema: { type: 'string' } },
});
const forbidden = failure('This token is not allowed.');
const notFound = failure(
  'No such share: none was started under this id, or another token started it (the same answer, so that a token ' +
    'learns nothing of the others), or the id is not `shr_` and 20-40 of [0-9a-z].',
);
/** src/http/app.ts answers 503 with Retry-After whenever the same request later will work. */
const retryLater = (description: string) =>
  failure(description, {
    'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } },
  });
const temporalTrouble =
  'Temporal is busy or cannot be reached just now: nothing is wrong with the request, and it changed nothing';

const shareIdParameter: Parameter = {
  name: 'shareId',
  in: 'path',
  required: true,
  description: 'The hand-off, as POST /v1/shares named it. An id of another shape answers 404.',
  schema: { type: 'string', pattern: SHARE_ID.source },
};

function buildDocument(serverUrl: string | undefined): OpenApiDocument {
  const schemas = Object.fromEntries(
    Object.entries(COMPONENTS).map(([name, [schema, io]]) => [name, jsonSchemaOf(schema, io)]),
  ) as Record<ComponentName, JsonSchema>;
  return {
    openapi: '3.1.0',
    info: {
      title: 'ots-handoff agent API',
      version,
      description:
        'Hands a credential to a caller on a live phone call as a self-destructing Onetime Secret link, by SMS or ' +
        'email, optionally protected by a passphrase delivered on another channel: start a hand-off, watch its ' +
        'status, burn it. Every route needs a bearer token except this document. No answer ever carries the ' +
        "secret, the passphrase, the link or the secret's key.",
    },
    // Without `servers`, the server is `/` on the host this document was fetched from: the service itself
    // (https://spec.openapis.org/oas/v3.1.0#openapi-object).
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ bearer: [] }],
    paths: {
      '/v1/shares': {
        post: {
          operationId: 'createShare',
          summary: 'Start a hand-off',
          description:
            'Creates the secret at Onetime Secret and sends its one-time link (and the passphrase, if any) in the ' +
            'background; the answer comes as soon as the hand-off has started. Read its progress with ' +
            'GET /v1/shares/{shareId}.',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description:
                'Makes a retry safe: a repeat of the request with the same key (from the same token) answers with ' +
                'the same hand-off, even after it finished, and never creates a second secret. 1 to 255 visible ' +
                'ASCII characters.',
              // The same check as src/http/shares.ts makes.
              schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]{1,255}$' },
            },
          ],
          requestBody: {
            required: true,
            description: 'The hand-off to start',
            content: { 'application/json': { schema: ref('ShareRequest') } },
          },
          responses: {
            '202': json(
              'ShareAccepted',
              'Started; or, for a repeat with the same Idempotency-Key, the hand-off that key already started.',
            ),
            '400': failure(
              'The body is invalid (`issues` names each field that is wrong; values sent are never echoed), the ' +
                'Idempotency-Key is malformed, or the body is not JSON.',
            ),
            '401': unauthorized,
            '403': forbidden,
            '413': failure('The body is larger than 32 kB.'),
            '415': failure("The body's charset or Content-Encoding is not supported: send UTF-8 JSON."),
            '422': failure(
              'This Idempotency-Key was already used for a different request; `shareId` names the hand-off it started.',
            ),
            '503': retryLater(`${temporalTrouble}: retry after Retry-After seconds with the same Idempotency-Key.`),
          },
        },
      },
      '/v1/shares/{shareId}': {
        get: {
          operationId: 'getShareStatus',
          summary: "Read a hand-off's status, or wait for it to change",
          description:
            'Answers with the status at once. With `waitFor=change` it is a bounded long poll: the answer comes when ' +
            'the state differs from `since` (or, without `since`, from the state when the request arrived), or when ' +
            '`timeout` seconds have passed, with the status either way; at once when the state already differs or ' +
            'the hand-off is over. Compare `state` with the one you had, and ask again to keep waiting.',
          parameters: [
            shareIdParameter,
            {
              name: 'waitFor',
              in: 'query',
              required: false,
              description: '`change`: wait until the state changes (a long poll) instead of answering at once.',
              schema: { type: 'string', enum: ['change'] },
            },
            {
              name: 'since',
              in: 'query',
              required: false,
              description:
                'With `waitFor=change`: the state the client last saw; the answer comes at once when the state ' +
                'already differs.',
              schema: ref('ShareState'),
            },
            {
              name: 'timeout',
              in: 'query',
              required: false,
              description: 'With `waitFor=change`: the longest wait, in whole seconds.',
              schema: { type: 'integer', minimum: 1, maximum: WAIT.maxSeconds, default: WAIT.defaultSeconds },
            },
          ],
          responses: {
            '200': json(
              'ShareStatus',
              'The status (after a wait: when the state changed, or as it is at the timeout).',
            ),
            '400': failure(
              'A query parameter is invalid, or `since` or `timeout` came without `waitFor=change`; `issues` names it.',
            ),
            '401': unauthorized,
            '403': forbidden,
            '404': notFound,
            '503': retryLater(`${temporalTrouble}: retry after Retry-After seconds.`),
          },
        },
      },
      '/v1/shares/{shareId}/burn': {
        post: {
          operationId: 'burnShare',
          summary: "Burn a hand-off's secret",
          description:
            "Destroys the secret at Onetime Secret so that the link no longer opens. When the hand-off's workflow " +
            'has already closed without burning it (state `terminated`), the secret is burned directly and ' +
            '`closed` says so. Bounded like the status: a burn taken up but not finished within 10 s answers 202 ' +
            'and goes on.',
          parameters: [shareIdParameter],
          responses: {
            '200': json('ShareStatus', 'Burned: the status, with `state` `burned`.'),
            '202': json(
              'BurnAccepted',
              'The burn is recorded and will happen; poll the status until `state` is `burned`.',
            ),
            '401': unauthorized,
            '403': forbidden,
            '404': notFound,
            '409': failure(
              'Nothing to burn: the hand-off had already ended (`state` says how), the link no longer opens, or ' +
                'its workflow ended before a secret was recorded.',
            ),
            '502': failure(
              "Onetime Secret refused to burn the secret: the link may still open until the status's `expiresAt`; " +
                "`state` is the hand-off's state.",
            ),
            '503': retryLater(
              `${temporalTrouble}; or the hand-off did not take the burn up in time (it may still be applied once ` +
                'Temporal is back: retry, or read the status); or Onetime Secret could not burn just now. Retry ' +
                'after Retry-After seconds.',
            ),
          },
        },
      },
      '/v1/tool-schema': {
        get: {
          operationId: 'getToolSchema',
          summary: 'POST /v1/shares as an LLM tool definition',
          description:
            "The request's JSON Schema as an LLM agent tool definition (`name`, `description`, `input_schema`); " +
            '`input_schema` is the ShareRequest schema of this document.',
          responses: {
            '200': json('ToolDefinition', 'The tool definition.'),
            '401': unauthorized,
            '403': forbidden,
          },
        },
      },
      '/v1/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          summary: 'This document',
          description: "The agent API's OpenAPI 3.1 document. Needs no token.",
          security: [],
          responses: { '200': json('OpenApiDocument', 'This document.') },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'One of the agent tokens the service was configured with (AGENT_API_TOKENS).',
        },
      },
      schemas,
    },
  };
}

/** Made once per server URL and frozen: every caller gets the same object, and none can change it for the others. */
const built = new Map<string, OpenApiDocument>();

/** The agent API's OpenAPI 3.1.0 document; `servers` names `serverUrl` when given. */
export function openApiDocument(opts: { serverUrl?: string } = {}): OpenApiDocument {
  const key = opts.serverUrl ?? '';
  let doc = built.get(key);
  if (!doc) {
    doc = deepFreeze(buildDocument(opts.serverUrl));
    built.set(key, doc);
  }
  return doc;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** GET /v1/openapi.json, for src/http/app.ts to mount before the agent API's bearer auth. */
export function openApiRouter(): Router {
  const r = Router();
  // Built now rather than on the first request: a document that cannot be built stops the start-up, not a reader.
  const doc = openApiDocument();
  r.get('/v1/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(doc);
  });
  return r;
}
