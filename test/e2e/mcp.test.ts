// The MCP server (README.md, "MCP") end to end with the SDK's own Client, over both transports: Streamable HTTP at
// /mcp in the service, and stdio through `src/mcp/stdio.ts`, which calls the service's agent API. The sandbox's OTS
// emulator and SMS outbox stand in for the caller. Every tool result, over both transports, and the stdio server's
// stderr go through the leak scan (test/helpers/leak-scan.ts) with the secrets, passphrases and links used.
// MCP_TRANSCRIPT=1 prints the JSON-RPC messages of the hand-off to `viewed` (the README's example session).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TemporalBusyError } from '../../src/http/admission.js';
import { shareToolSchema } from '../../src/http/schemas.js';
import { createHandoffServer } from '../../src/mcp/tools.js';
import { SHARE_STATES } from '../../workflows/types.js';
import { startTestService, type TestService } from '../helpers/service.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const AGENT_A = `agent-a-${randomBytes(12).toString('hex')}`;
const AGENT_B = `agent-b-${randomBytes(12).toString('hex')}`;
const TRANSCRIPT = process.env.MCP_TRANSCRIPT === '1';

let svc: TestService;
/** Every tool result and listing the clients received, over both transports: scanned after each test. */
const mcpAnswers: string[] = [];
/** What the stdio servers wrote to stderr (their logs): scanned too, and stdout must hold MCP messages only. */
const stdioStderr: string[] = [];
/** Errors a client transport reported, such as a line on the stdio server's stdout that is not an MCP message. */
const transportErrors: Error[] = [];
const used: { secrets: string[]; shareIds: string[]; links: string[]; allowSms: Set<string> } = {
  secrets: [],
  shareIds: [],
  links: [],
  allowSms: new Set(),
};

beforeAll(async () => {
  svc = await startTestService({ AGENT_API_TOKENS: `${AGENT_A},${AGENT_B}` });
});
afterAll(async () => {
  await svc?.stop();
});
afterEach(async () => {
  await svc.expectNoLeaksIn({
    secrets: used.secrets,
    shareIds: used.shareIds,
    allowSms: used.allowSms,
    links: used.links,
    extra: { responses: mcpAnswers, logs: stdioStderr },
  });
  // The leak scan's link check covers the service's own responses; the MCP answers are checked for links here.
  for (const link of used.links) for (const a of mcpAnswers) expect(a).not.toContain(link.split('/secret/')[1]);
  expect(transportErrors).toEqual([]);
  used.secrets = [];
  used.shareIds = [];
  used.links = [];
  used.allowSms.clear();
});

type Kind = 'http' | 'stdio';

/** Prints the JSON-RPC messages a connected transport sends and receives while `on()` says so. */
function record(transport: Transport, on: () => boolean): void {
  const send = transport.send.bind(transport);
  transport.send = async (message, options) => {
    if (on()) console.log(`${new Date().toISOString()} → ${JSON.stringify(message)}`);
    return send(message, options);
  };
  const receive = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (on()) console.log(`${new Date().toISOString()} ← ${JSON.stringify(message)}`);
    receive?.(message, extra);
  };
}

interface McpAgent {
  client: Client;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
  transcript: { on: boolean };
}

async function connect(kind: Kind, token: string): Promise<McpAgent> {
  const transcript = { on: false };
  const client = new Client({ name: 'ots-handoff-test', version: '1.0.0' });
  let transport: Transport;
  if (kind === 'http') {
    transport = new StreamableHTTPClientTransport(new URL(`${svc.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
  } else {
    const stdio = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'src/mcp/stdio.ts'],
      cwd: root,
      env: { ...getDefaultEnvironment(), OTS_HANDOFF_URL: svc.url, OTS_HANDOFF_TOKEN: token },
      stderr: 'pipe',
    });
    stdio.stderr?.on('data', (chunk: Buffer) => stdioStderr.push(chunk.toString('utf8')));
    transport = stdio;
  }
  // Kept by the client, which chains its own handler after it (modelcontextprotocol/typescript-sdk, src/shared/protocol.ts: connect).
  transport.onerror = (err) => transportErrors.push(err);
  await client.connect(transport);
  record(transport, () => transcript.on);
  // Waits run up to 60 s and a status read follows: more than the SDK's default request timeout (60 s).
  const call = async (name: string, args: Record<string, unknown>) => {
    const res = (await client.callTool({ name, arguments: args }, undefined, { timeout: 90_000 })) as CallToolResult;
    mcpAnswers.push(JSON.stringify(res));
    return res;
  };
  return { client, call, close: () => client.close(), transcript };
}

const textOf = (r: CallToolResult) =>
  r.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
const stateOf = (r: CallToolResult) => (r.structuredContent as { state?: string } | undefined)?.state;

describe.each<[Kind, number]>([
  ['http', 1],
  ['stdio', 2],
])('MCP over %s', (kind, n) => {
  let a: McpAgent;
  let b: McpAgent;
  /** A phone number of this transport's scenarios: the outbox is shared. */
  const phone = (i: number) => `+1555020${n}${String(i).padStart(3, '0')}`;

  beforeAll(async () => {
    [a, b] = await Promise.all([connect(kind, AGENT_A), connect(kind, AGENT_B)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  /** Waits through wait_for_handoff, as an agent would, until the hand-off is awaiting_view. */
  async function untilAwaitingView(agent: McpAgent, shareId: string): Promise<CallToolResult> {
    for (let i = 0; i < 10; i++) {
      const r = await agent.call('wait_for_handoff', { shareId, timeoutSeconds: 10 });
      expect(r.isError, textOf(r)).toBeFalsy();
      if (stateOf(r) === 'awaiting_view') return r;
      expect(['creating', 'delivering']).toContain(stateOf(r));
    }
    throw new Error('never awaiting_view');
  }

  it('lists the four tools, share_secret with the agent API request fields and idempotencyKey', async () => {
    const { tools } = await a.client.listTools();
    mcpAnswers.push(JSON.stringify(tools));
    expect(tools.map((t) => t.name).sort()).toEqual([
      'burn_secret',
      'get_handoff_status',
      'share_secret',
      'wait_for_handoff',
    ]);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    const share = byName.share_secret!.inputSchema as {
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties?: unknown;
    };
    // The same JSON Schema as POST /v1/shares's (GET /v1/tool-schema), field for field, plus idempotencyKey.
    const rest = shareToolSchema().input_schema as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(share.properties).sort()).toEqual([...Object.keys(rest.properties), 'idempotencyKey'].sort());
    for (const [field, schema] of Object.entries(rest.properties)) expect(share.properties[field]).toEqual(schema);
    expect(share.properties).toHaveProperty('idempotencyKey.maxLength', 255);
    expect(share.required.sort()).toEqual(['link', 'secret', 'ticketId']);
    expect(share.additionalProperties).toBe(false);
    expect(byName.share_secret!.description).toMatch(/Never say the secret aloud/);
    expect(byName.share_secret!.description).toMatch(/callSid/);

    const wait = byName.wait_for_handoff!.inputSchema as { properties: Record<string, any>; required: string[] };
    expect(wait.required).toEqual(['shareId']);
    expect(wait.properties.since.enum).toEqual([...SHARE_STATES]);
    expect(wait.properties.timeoutSeconds).toMatchObject({ minimum: 1, maximum: 60 });
    for (const name of ['get_handoff_status', 'burn_secret'])
      expect((byName[name]!.inputSchema as { required: string[] }).required).toEqual(['shareId']);
    for (const t of tools) {
      const out = t.outputSchema as unknown as {
        required: string[];
        additionalProperties?: unknown;
        properties: { link: { additionalProperties?: unknown } };
      };
      expect(out.required).toEqual(expect.arrayContaining(['shareId', 'state', 'agentHint']));
      // Open, as jsonSchemaOf publishes answers: a client validating results keeps working when a field is added.
      expect(out.additionalProperties).not.toBe(false);
      expect(out.properties.link.additionalProperties).toBeUndefined();
    }
    // What each state means, for the model.
    for (const name of ['get_handoff_status', 'wait_for_handoff'])
      for (const state of SHARE_STATES) expect(byName[name]!.description).toContain(`${state} (`);
    expect(byName.get_handoff_status!.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.burn_secret!.annotations).toMatchObject({ destructiveHint: true });
  });

  it('share_secret, the caller opens the link, wait_for_handoff answers viewed', { timeout: 90_000 }, async () => {
    const to = phone(1);
    a.transcript.on = TRANSCRIPT && kind === 'http';
    // Generated by Onetime Secret: the transcript holds no secret at all.
    const started = await a.call('share_secret', {
      ticketId: `T-MCP-${n}01`,
      secret: { generate: true },
      link: { channel: 'sms', to },
      idempotencyKey: `mcp-${kind}-view-${randomBytes(4).toString('hex')}`,
    });
    expect(started.isError, textOf(started)).toBeFalsy();
    const shareId = (started.structuredContent as { shareId: string }).shareId;
    used.shareIds.push(shareId);
    expect(shareId).toMatch(/^shr_/);
    expect(['creating', 'delivering', 'awaiting_view']).toContain(stateOf(started));
    expect(textOf(started)).toContain(`shareId: ${shareId}`);
    expect(textOf(started)).toMatch(/state: \w+ — /);

    const sent = await untilAwaitingView(a, shareId);
    expect(textOf(sent)).toMatch(/^shareId: shr_\w+\nstate: awaiting_view — .*by text message.*\nNot over yet/s);
    const link = svc.linkSentTo(to);
    used.links.push(link);

    // The agent waits while the caller opens the link.
    const t0 = Date.now();
    const waiting = a.call('wait_for_handoff', { shareId, since: 'awaiting_view', timeoutSeconds: 30 });
    await new Promise((r) => setTimeout(r, 1_000));
    if (a.transcript.on) console.log(`${new Date().toISOString()} the caller opens the link`);
    const opened = await svc.openLink(link);
    used.secrets.push(opened.value);
    expect(opened.value.length).toBeGreaterThanOrEqual(12);
    const viewed = await waiting;
    a.transcript.on = false;
    expect(viewed.isError, textOf(viewed)).toBeFalsy();
    expect(stateOf(viewed)).toBe('viewed');
    expect(viewed.structuredContent).toMatchObject({ shareId, state: 'viewed', viewedAt: expect.any(String) });
    expect(textOf(viewed)).toBe(
      `shareId: ${shareId}\nstate: viewed — The caller opened the link; the secret has been destroyed and cannot be opened again.`,
    );
    // Answered when the state changed, not at the timeout.
    expect(Date.now() - t0).toBeLessThan(25_000);

    // Over: answers at once.
    const again = await a.call('wait_for_handoff', { shareId, timeoutSeconds: 30 });
    expect(stateOf(again)).toBe('viewed');
    const read = await a.call('get_handoff_status', { shareId });
    expect(read.structuredContent).toEqual(viewed.structuredContent);
  });

  it(
    "another token's hand-off does not exist for it; burn_secret by its own token ends burned",
    { timeout: 90_000 },
    async () => {
      const secret = `Mcp-Burn-${kind}-${randomBytes(6).toString('hex')}`;
      used.secrets.push(secret);
      const to = phone(2);
      const started = await a.call('share_secret', {
        ticketId: `T-MCP-${n}02`,
        secret: { value: secret },
        link: { channel: 'sms', to },
      });
      const shareId = (started.structuredContent as { shareId: string }).shareId;
      used.shareIds.push(shareId);
      await untilAwaitingView(a, shareId);
      const link = svc.linkSentTo(to);
      used.links.push(link);

      for (const [tool, args] of [
        ['get_handoff_status', { shareId }],
        ['wait_for_handoff', { shareId, timeoutSeconds: 1 }],
        ['burn_secret', { shareId }],
      ] as const) {
        const r = await b.call(tool, args);
        expect(r.isError, tool).toBe(true);
        expect(textOf(r)).toBe('no such share');
        expect(r.structuredContent).toBeUndefined();
      }
      const unknown = await a.call('get_handoff_status', { shareId: 'shr_0000000000000000000000000' });
      expect(unknown).toMatchObject({ isError: true });
      expect(textOf(unknown)).toBe('no such share');
      expect(stateOf(await a.call('get_handoff_status', { shareId }))).toBe('awaiting_view');

      let burned = await a.call('burn_secret', { shareId });
      expect(burned.isError, textOf(burned)).toBeFalsy();
      if (stateOf(burned) !== 'burned') {
        // Taken up by the hand-off but not finished within the request's deadline (the REST route's 202): the
        // status as it stands, and the way to see the end.
        expect(textOf(burned)).toMatch(/^The burn is recorded and will happen; call wait_for_handoff/);
        burned = await a.call('wait_for_handoff', { shareId, since: stateOf(burned), timeoutSeconds: 30 });
      }
      expect(stateOf(burned)).toBe('burned');
      expect(textOf(burned)).toContain('state: burned — The link was cancelled and no longer opens.');
      await expect(svc.openLink(link)).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
      const twice = await a.call('burn_secret', { shareId });
      expect(twice.isError).toBe(true);
      expect(textOf(twice)).toBe('the hand-off is already burned\nstate: burned');
    },
  );

  it('a bad share_secret names the field and repeats no value', async () => {
    const secret = `Mcp-Bad-${kind}-${randomBytes(6).toString('hex')}`;
    used.secrets.push(secret);
    const bad = await a.call('share_secret', {
      ticketId: `T-MCP-${n}03`,
      secret: { value: secret },
      comment: secret,
    });
    expect(bad.isError).toBe(true);
    const lines = textOf(bad).split('\n');
    expect(lines[0]).toBe('invalid share request:');
    expect(lines.slice(1).sort()).toEqual([
      '- (body): unknown field: comment',
      '- link: must be {"channel": "sms", "to": "+1…"} or {"channel": "email", "to": "…@…"}',
    ]);
    expect(JSON.stringify(bad)).not.toContain(secret);

    const badKey = await a.call('share_secret', {
      ticketId: `T-MCP-${n}03`,
      secret: { value: secret },
      link: { channel: 'sms', to: phone(3) },
      idempotencyKey: 'has spaces in it',
    });
    expect(textOf(badKey)).toBe('invalid share request:\n- idempotencyKey: must be 1 to 255 visible ASCII characters');
    // The tools' own arguments are checked by the SDK against their schemas.
    const badWait = await a.call('wait_for_handoff', { shareId: 'shr_x', timeoutSeconds: 61 });
    expect(badWait.isError).toBe(true);
    expect(textOf(badWait)).toMatch(/timeoutSeconds/);
  });

  it('the same idempotencyKey returns the same hand-off; passphrase by SMS with an email link', async () => {
    const secret = `Mcp-Idem-${kind}-${randomBytes(6).toString('hex')}`;
    used.secrets.push(secret);
    const email = `caller-${kind}@example.com`;
    const args = {
      ticketId: `T-MCP-${n}04`,
      secret: { value: secret },
      link: { channel: 'email', to: email },
      passphrase: 'sms',
      passphraseTo: phone(4),
      idempotencyKey: `mcp-${kind}-idem-${randomBytes(4).toString('hex')}`,
    };
    const first = await a.call('share_secret', args);
    const second = await a.call('share_secret', args);
    expect(first.isError, textOf(first)).toBeFalsy();
    const shareId = (first.structuredContent as { shareId: string }).shareId;
    used.shareIds.push(shareId);
    expect((second.structuredContent as { shareId: string }).shareId).toBe(shareId);
    const other = await a.call('share_secret', { ...args, ticketId: `T-MCP-${n}05` });
    expect(other.isError).toBe(true);
    expect(textOf(other)).toBe(`this Idempotency-Key was already used for a different request\nshareId: ${shareId}`);

    const sent = await untilAwaitingView(a, shareId);
    expect(sent.structuredContent).toMatchObject({ passphrase: { mode: 'sms' }, link: { channel: 'email' } });
    used.secrets.push(await svc.passphraseOf(shareId));
    for (const m of svc.twilioFake!.outbox().filter((m) => m.to === phone(4))) used.allowSms.add(m.sid);
    const mail = svc.otsEmulator!.mail().filter((m) => m.to === email);
    expect(mail).toHaveLength(1);
    used.links.push(mail[0]!.link);
  });
});

describe('the /mcp endpoint', () => {
  it('needs an agent token: 401 without, 403 with a wrong one; GET and DELETE answer 405', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    const post = (headers: Record<string, string>, body: string = JSON.stringify(init)) =>
      request(`${svc.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body,
      });
    const none = await post({});
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(await none.body.json()).toEqual({ error: 'missing bearer token (Authorization: Bearer <token>)' });
    const wrong = await post({ authorization: 'Bearer not-a-valid-token-at-all' });
    expect(wrong.statusCode).toBe(403);
    await wrong.body.dump();

    const client = new Client({ name: 'no-token', version: '1.0.0' });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(`${svc.url}/mcp`)))).rejects.toThrow(
      /missing bearer token/,
    );

    for (const method of ['GET', 'DELETE'] as const) {
      const res = await request(`${svc.url}/mcp`, { method, headers: { authorization: `Bearer ${AGENT_A}` } });
      expect(res.statusCode).toBe(405);
      expect(await res.body.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    }
    const tooBig = await post(
      { authorization: `Bearer ${AGENT_A}` },
      JSON.stringify({ ...init, pad: 'x'.repeat(40_000) }),
    );
    expect(tooBig.statusCode).toBe(413);
    await tooBig.body.dump();
  });
});

describe('npm run mcp (stdio) configuration', () => {
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/mcp/stdio.ts'],
        { cwd: root, env: { ...getDefaultEnvironment(), ...env }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });

  it('exits 2 naming the variable when OTS_HANDOFF_TOKEN is missing or OTS_HANDOFF_URL is not a URL or plain http off the machine', async () => {
    const [noToken, badUrl, plainHttp] = await Promise.all([
      run({ OTS_HANDOFF_URL: 'http://127.0.0.1:3000' }),
      run({ OTS_HANDOFF_TOKEN: AGENT_A, OTS_HANDOFF_URL: 'not a url' }),
      run({ OTS_HANDOFF_TOKEN: AGENT_A, OTS_HANDOFF_URL: 'http://handoff.example.org' }),
    ]);
    // The secrets would travel in clear text off the machine: refused, not warned about.
    expect(plainHttp).toMatchObject({ code: 2, stdout: '' });
    expect(plainHttp.stderr).toMatch(/OTS_HANDOFF_URL must be https:\/\/ unless it is this machine/);
    expect(noToken).toMatchObject({ code: 2, stdout: '' });
    expect(noToken.stderr).toMatch(/OTS_HANDOFF_TOKEN is not set/);
    expect(badUrl).toMatchObject({ code: 2, stdout: '' });
    expect(badUrl.stderr).toMatch(/OTS_HANDOFF_URL is not a URL/);
    expect(badUrl.stderr).not.toContain(AGENT_A);
  });
});

describe('retry later', () => {
  it('a thrown retry-later error is a tool error saying when to retry; any other says nothing more', async () => {
    const failWith = (err: Error) => () => Promise.reject(err);
    const server = createHandoffServer({
      share: failWith(new TemporalBusyError('no turn to reach Temporal within 20000 ms')),
      status: failWith(new Error('boom: internal detail')),
      burn: failWith(new Error('boom: internal detail')),
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: 'in-memory', version: '1.0.0' });
    await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
    try {
      const busy = (await client.callTool({
        name: 'share_secret',
        arguments: { ticketId: 'T-1', secret: { generate: true }, link: { channel: 'sms', to: '+15550209001' } },
      })) as CallToolResult;
      expect(busy).toMatchObject({ isError: true });
      expect(textOf(busy)).toBe(
        'the service is busy; nothing was changed, retry shortly with the same Idempotency-Key; retry in 2 s',
      );
      const internal = (await client.callTool({
        name: 'get_handoff_status',
        arguments: { shareId: 'shr_0000000000000000000000000' },
      })) as CallToolResult;
      expect(internal).toMatchObject({ isError: true });
      expect(textOf(internal)).toBe('internal error; the hand-off state is unchanged, try again');
    } finally {
      await client.close();
    }
  });

  it("over stdio, the agent API's 503 is the same tool error, with its Retry-After", async () => {
    // A service that answers every request as src/http/app.ts does while Temporal is unreachable.
    const unavailable = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ error: 'Temporal is unreachable; nothing was changed, retry shortly' }));
    });
    await new Promise<void>((r) => unavailable.listen(0, '127.0.0.1', r));
    const client = new Client({ name: 'stdio-503', version: '1.0.0' });
    try {
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: ['--import', 'tsx', 'src/mcp/stdio.ts'],
          cwd: root,
          env: {
            ...getDefaultEnvironment(),
            OTS_HANDOFF_URL: `http://127.0.0.1:${(unavailable.address() as AddressInfo).port}`,
            OTS_HANDOFF_TOKEN: AGENT_A,
          },
          stderr: 'pipe',
        }),
      );
      const r = (await client.callTool({
        name: 'wait_for_handoff',
        arguments: { shareId: 'shr_0000000000000000000000000' },
      })) as CallToolResult;
      expect(r).toMatchObject({ isError: true });
      expect(textOf(r)).toBe('Temporal is unreachable; nothing was changed, retry shortly; retry in 7 s');
    } finally {
      await client.close();
      unavailable.close();
    }
  });
});
