// POST /mcp: the hand-off tools (src/mcp/tools.ts) over MCP's Streamable HTTP transport, behind the agent API's
// bearer tokens (README.md, "MCP"). Stateless: a server and a transport per request, as the SDK's stateless example
// does (modelcontextprotocol/typescript-sdk, src/examples/server/simpleStatelessStreamableHttp.ts), so any replica
// answers any request and nothing is kept between them; the hand-off's state lives in Temporal.
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { Router, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { bearerAuth } from '../http/auth.js';
import { retryLaterOf, type RetryLaterContext } from '../http/retry-later.js';
import type { AgentOps } from '../http/shares.js';
import { agentApiFor, createHandoffServer } from './tools.js';

export interface McpRouterOptions {
  /** The same operations as the REST routes (createAgentOps, src/http/shares.ts). */
  ops: Pick<AgentOps, 'share' | 'status' | 'burn'>;
  /** AGENT_API_TOKENS: the same as /v1's. */
  tokens: readonly string[];
  log: Logger;
  /** The Temporal deadline and reachability, for the words of a retry-later error (src/http/retry-later.ts). */
  retryContext?: RetryLaterContext;
}

/**
 * The share body's limit (32 kB, src/http/shares.ts) and room for the JSON-RPC envelope around it; a larger body is
 * answered 413 by src/http/app.ts, as for POST /v1/shares.
 */
export const MCP_BODY_LIMIT = '34kb';

/**
 * No server-to-client stream (GET) and no session to end (DELETE) without sessions: 405 with a JSON-RPC error, as
 * the SDK's stateless example answers; its client then goes on with POST alone.
 */
const methodNotAllowed: RequestHandler = (_req, res) => {
  res
    .status(405)
    .set('Allow', 'POST')
    .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
};

export function mcpRouter(opts: McpRouterOptions): Router {
  const r = Router();
  // 401 without a token, 403 with a wrong one, before the body is read (README.md, "The agent API").
  r.use('/mcp', bearerAuth(opts.tokens));
  r.post('/mcp', express.json({ limit: MCP_BODY_LIMIT }), async (req, res) => {
    const caller = { token: String(res.locals.token), tokenId: String(res.locals.tokenId) };
    const log = opts.log.child({ agent: caller.tokenId, via: 'mcp' });
    // Each token sees only its own hand-offs: the operations check the hand-off's recorded token id.
    const server = createHandoffServer(agentApiFor(opts.ops, caller), {
      retryLater: (err) => retryLaterOf(err, opts.retryContext),
      log,
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    // A client that hangs up closes the transport, which aborts the tool's signal: a wait or a burn in flight stops
    // its calls to Temporal (modelcontextprotocol/typescript-sdk, src/shared/protocol.ts: _onclose).
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      const e = err as { name?: string; message?: string } | undefined;
      log.error({ err: { type: e?.name, message: e?.message } }, 'MCP request failed');
      if (!res.headersSent)
        res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
    }
  });
  r.get('/mcp', methodNotAllowed);
  r.delete('/mcp', methodNotAllowed);
  return r;
}
