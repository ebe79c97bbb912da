// The agent API's OpenAPI document (src/http/openapi.ts): a valid OpenAPI 3.1 document, listing every route the
// app registers under /v1, served without a token, with the same request schema as GET /v1/tool-schema, and with
// response schemas that declare every field the answers carry.
import SwaggerParser from '@apidevtools/swagger-parser';
import type { Client } from '@temporalio/client';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type AppDeps } from '../../src/http/app.js';
import { shareStatusSchema } from '../../src/http/api-schemas.js';
import { openApiDocument, type OpenApiDocument, type Operation } from '../../src/http/openapi.js';
import type { StatusBody } from '../../src/http/shares.js';
import { createLogger } from '../../src/log.js';

const TOKEN = 'openapi-test-token-0123456789';

/**
 * The app as src/service.ts builds it, with fakes that are never called: no request here reaches Temporal, Onetime
 * Secret or the sealer.
 */
function app() {
  const never = new Proxy(
    {},
    {
      get: (_t, name) => {
        throw new Error(`not faked: ${String(name)}`);
      },
    },
  );
  const deps: AppDeps = {
    client: never as Client,
    log: createLogger({ level: 'silent' }),
    tokens: [TOKEN],
    twilioAuthToken: 'twilio-auth-token-0123456789',
    codec: {
      codec: never as AppDeps['codec']['codec'],
      namespace: 'default',
      allowedOrigins: [],
      tokens: [],
      localUi: false,
    },
    ready: async () => ({ temporal: true }),
    taskQueue: 'ots-handoff',
    sealer: never as AppDeps['sealer'],
    publicBaseUrl: 'http://127.0.0.1:3000',
    defaultTtl: '24h',
    requirePassphrase: false,
    pollIntervals: [30],
    notesWebhook: false,
    ots: never as AppDeps['ots'],
  };
  return createApp(deps);
}

/** What express 5's router keeps of a route or a mounted router (the `router` package, lib/layer.js and route.js). */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
  slash?: boolean;
}

/** Every `METHOD /path` the app registers, through mounted routers, with `:param` written `{param}` as in OpenAPI. */
function routesOf(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/:(\w+)/g, '{$1}');
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => `${m.toUpperCase()} ${path}`);
    }
    const inner = layer.handle?.stack;
    return inner ? routesOf(inner, layer.slash ? prefix : `${prefix}${String(layer.rawPath)}`) : [];
  });
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function operations(doc: OpenApiDocument): { name: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.flatMap((m) => {
      const op = (item as Partial<Record<(typeof METHODS)[number], Operation>>)[m];
      return op ? [{ name: `${m.toUpperCase()} ${path}`, op }] : [];
    }),
  );
}

/** Every optional field made required, at every depth: a sample of this type has every field an answer can carry. */
type Complete<T> = T extends readonly (infer U)[]
  ? Complete<U>[]
  : T extends object
    ? { [K in keyof T]-?: Complete<T[K]> }
    : T;

const at = '2026-01-02T03:04:05.678Z';
/** A status with every field, so that a field the ShareStatus schema lacks shows up below. */
const fullStatus: Complete<StatusBody> = {
  shareId: `shr_${'0'.repeat(24)}1`,
  ticketId: 'INC0012345',
  agent: 'agt_3f9c0a1b2d4e',
  state: 'terminated',
  link: { channel: 'sms', to: '+155*****001', sentAt: at, deliveryStatus: 'delivered' },
  passphrase: { mode: 'voice', deliveredAt: at },
  expiresAt: at,
  viewedAt: at,
  notes: [{ at, text: 'Link sent by SMS to +155*****001.', followUp: true }],
  closed: { workflowStatus: 'TERMINATED', at, lastState: 'awaiting_view', note: 'The workflow was terminated.' },
  agentHint: 'The hand-off stopped unexpectedly; a technician will follow up.',
};

type Schema = { properties?: Record<string, Schema>; items?: Schema };

/** The keys of `value` and the properties `schema` declares are the same, at every depth. */
function expectSameFields(value: unknown, schema: Schema, where: string): void {
  if (Array.isArray(value)) {
    expect(schema.items, `${where}: items`).toBeDefined();
    for (const v of value) expectSameFields(v, schema.items!, `${where}[]`);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  expect(Object.keys(schema.properties ?? {}).sort(), where).toEqual(Object.keys(value).sort());
  for (const [k, v] of Object.entries(value)) expectSameFields(v, schema.properties![k]!, `${where}.${k}`);
}

let server: Server;
let base: string;
beforeAll(async () => {
  server = app().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('the OpenAPI document of the agent API', () => {
  const doc = openApiDocument();

  // A copy, since validate() dereferences in place; `never`: its parameter type comes from openapi-types, which this
  // repository does not depend on.
  it('is a valid OpenAPI 3.1 document (swagger-parser), every $ref resolving', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(doc) as never);
    const withServer = openApiDocument({ serverUrl: 'https://handoff.example.com' });
    expect(withServer.servers).toEqual([{ url: 'https://handoff.example.com' }]);
    await SwaggerParser.validate(structuredClone(withServer) as never);
    expect(openApiDocument()).toBe(doc);
  });

  it('documents exactly the routes the app registers under /v1', () => {
    const registered = routesOf((app() as unknown as { router: { stack: Layer[] } }).router.stack).filter((r) =>
      r.split(' ')[1]!.startsWith('/v1/'),
    );
    expect(registered.length).toBeGreaterThan(0);
    expect(new Set(operations(doc).map((o) => o.name))).toEqual(new Set(registered));
  });

  it('gives every operation an operationId, a summary and a description, and every response a description', () => {
    const ids = operations(doc).map(({ name, op }) => {
      expect(op.summary, name).toBeTruthy();
      expect(op.description, name).toBeTruthy();
      for (const [code, res] of Object.entries(op.responses)) expect(res.description, `${name} ${code}`).toBeTruthy();
      // swagger-parser does not check this for 3.1: each {param} of the path is a declared path parameter.
      const inPath = [...name.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(
        (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        name,
      ).toEqual(inPath);
      return op.operationId;
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(Boolean)).toBe(true);
  });

  it('answers every 4xx and 5xx with the Error schema', () => {
    let failures = 0;
    for (const { name, op } of operations(doc))
      for (const [code, res] of Object.entries(op.responses)) {
        if (Number(code) < 400) continue;
        failures += 1;
        expect(res.content?.['application/json'].schema, `${name} ${code}`).toEqual({
          $ref: '#/components/schemas/Error',
        });
      }
    expect(failures).toBeGreaterThan(10);
  });

  it('needs a token everywhere but for the document itself', () => {
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const open = operations(doc).filter(({ op }) => op.security !== undefined);
    expect(open.map((o) => [o.name, o.op.security])).toEqual([['GET /v1/openapi.json', []]]);
  });

  it('declares every field of a status, at every depth, and the zod schema keeps every one', () => {
    expectSameFields(fullStatus, doc.components.schemas.ShareStatus as Schema, 'ShareStatus');
    // parse() drops a field the schema does not know: equality means it knows them all.
    expect(shareStatusSchema.parse(fullStatus)).toEqual(fullStatus);
    expect(doc.components.schemas.ShareStatus.required).toEqual(
      expect.arrayContaining(['shareId', 'state', 'notes', 'agentHint']),
    );
  });
});

describe('GET /v1/openapi.json', () => {
  it('answers 200 without a token, with the document', async () => {
    const res = await fetch(`${base}/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(openApiDocument());
  });

  it('opens nothing else: the rest of /v1 still needs the token', async () => {
    for (const [method, path] of [
      ['GET', '/v1/tool-schema'],
      ['GET', `/v1/shares/${fullStatus.shareId}`],
      ['POST', '/v1/openapi.json'],
    ] as const)
      expect((await fetch(`${base}${path}`, { method })).status, `${method} ${path}`).toBe(401);
  });

  it('has the same request schema as GET /v1/tool-schema', async () => {
    const res = await fetch(`${base}/v1/tool-schema`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const tool = (await res.json()) as { name: string; input_schema: unknown };
    expect(tool.name).toBe('share_credential');
    expect(tool.input_schema).toEqual(openApiDocument().components.schemas.ShareRequest);
  });
});
