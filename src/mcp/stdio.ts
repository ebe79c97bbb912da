// `npm run mcp`: the hand-off tools (src/mcp/tools.ts) over stdio, for agent frameworks that spawn their tools as a
// child process (README.md, "MCP"). It holds no credential but an agent token and talks to a running service's agent
// API over HTTP, so the tools answer exactly what the REST routes answer. Stdout carries MCP messages only
// (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#stdio): logs and errors go to stderr.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { request } from 'undici';
import { createLogger } from '../log.js';
import { isLoopbackUrl } from '../loopback.js';
import { parseRetryAfter } from '../retry-after.js';
import { IDEMPOTENCY_KEY, RetryLaterError, WAIT, type AgentAnswer, type StatusWait } from '../http/shares.js';
import { createHandoffServer, type AgentApi } from './tools.js';

const DEFAULT_URL = 'http://127.0.0.1:3000';
/** What the service asks a retry to wait when it does not say (src/http/app.ts answers 503 with Retry-After 5). */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

export interface StdioConfig {
  /** The service's base URL, ending in `/` so that `v1/…` resolves under any path prefix. */
  baseUrl: URL;
  token: string;
}

/** OTS_HANDOFF_URL and OTS_HANDOFF_TOKEN, or what is wrong with them (the value is not repeated: it may hold a credential). */
export function readStdioEnv(env: NodeJS.ProcessEnv): StdioConfig | { error: string } {
  const token = env.OTS_HANDOFF_TOKEN?.trim();
  if (!token)
    return {
      error:
        "OTS_HANDOFF_TOKEN is not set: set it to one of the service's AGENT_API_TOKENS (npm start prints the " +
        "sandbox's token)",
    };
  if (/\s/.test(token)) return { error: 'OTS_HANDOFF_TOKEN must be a single token, without spaces' };
  const raw = env.OTS_HANDOFF_URL?.trim() || DEFAULT_URL;
  let baseUrl: URL;
  try {
    baseUrl = new URL(raw.endsWith('/') ? raw : `${raw}/`);
  } catch {
    return { error: `OTS_HANDOFF_URL is not a URL: set it to the service's address, e.g. ${DEFAULT_URL}` };
  }
  if (!/^https?:$/.test(baseUrl.protocol) || baseUrl.username || baseUrl.password || baseUrl.search || baseUrl.hash)
    return {
      error: `OTS_HANDOFF_URL must be an http:// or https:// URL without credentials, query or fragment, e.g. ${DEFAULT_URL}`,
    };
  // The secret travels in a share request: never in clear text off this machine.
  if (baseUrl.protocol === 'http:' && !isLoopbackUrl(baseUrl.href))
    return {
      error:
        'OTS_HANDOFF_URL must be https:// unless it is this machine (127.0.0.1, ::1, localhost): the token and the secrets travel in it',
    };
  return { baseUrl, token };
}

/** The service's answer as an AgentAnswer; what means "retry later" is thrown, as createAgentOps throws it. */
async function answerOf(res: Awaited<ReturnType<typeof request>>): Promise<AgentAnswer> {
  const text = await res.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error;
  if (res.statusCode === 503 || res.statusCode === 429) {
    const ms = parseRetryAfter(res.headers['retry-after']);
    throw new RetryLaterError(
      ms === undefined ? DEFAULT_RETRY_AFTER_SECONDS : Math.max(1, Math.ceil(ms / 1000)),
      typeof error === 'string' ? error : `the service answered HTTP ${res.statusCode}`,
    );
  }
  if (res.statusCode === 401 || res.statusCode === 403)
    return {
      status: res.statusCode,
      body: {
        error: `the service refused OTS_HANDOFF_TOKEN (HTTP ${res.statusCode}${typeof error === 'string' ? `: ${error}` : ''}); the MCP server's operator must set it to one of the service's AGENT_API_TOKENS`,
      },
    };
  // Not the agent API's JSON (a proxy's error page, say): its text is not repeated.
  if (body === null || typeof body !== 'object')
    return { status: res.statusCode, body: { error: `the service answered HTTP ${res.statusCode} without JSON` } };
  return { status: res.statusCode, body };
}

/** The service could not be reached at all: the same request later will work (a share retried with its key is safe). */
function unreachable(err: unknown): never {
  const code = (err as { code?: unknown }).code;
  throw new RetryLaterError(
    DEFAULT_RETRY_AFTER_SECONDS,
    `the ots-handoff service at OTS_HANDOFF_URL could not be reached${typeof code === 'string' ? ` (${code})` : ''}`,
  );
}

/** The agent API over HTTP, for one token: POST /v1/shares, GET /v1/shares/:id, POST /v1/shares/:id/burn. */
export function httpAgentApi({ baseUrl, token }: StdioConfig): AgentApi {
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<AgentAnswer> => {
    let res;
    try {
      res = await request(new URL(path, baseUrl), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      unreachable(err);
    }
    return answerOf(res);
  };
  const shareIdPath = (shareId: string) => `v1/shares/${encodeURIComponent(shareId)}`;

  return {
    async share(rawBody, idempotencyKey) {
      if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey))
        return {
          status: 400,
          body: {
            error: 'invalid share request',
            issues: [{ path: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }],
          },
        };
      return call('POST', 'v1/shares', {
        body: rawBody,
        headers: idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey },
      });
    },
    async status(shareId, wait?: StatusWait, signal?: AbortSignal) {
      let path = shareIdPath(shareId);
      if (wait) {
        const q = new URLSearchParams({
          waitFor: 'change',
          timeout: String(Math.min(WAIT.maxSeconds, Math.max(1, Math.ceil(wait.timeoutMs / 1000)))),
        });
        if (wait.since) q.set('since', wait.since);
        path += `?${q}`;
      }
      return call('GET', path, { signal });
    },
    async burn(shareId, signal) {
      try {
        return await call('POST', `${shareIdPath(shareId)}/burn`, { signal });
      } catch (err) {
        // Nobody reads the answer of a cancelled request.
        if (signal.aborted) return undefined;
        throw err;
      }
    },
  };
}

async function main(): Promise<void> {
  const config = readStdioEnv(process.env);
  if ('error' in config) {
    process.stderr.write(`ots-handoff MCP server (stdio): ${config.error}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: process.env.LOG_LEVEL ?? 'info', destination: process.stderr });
  const server = createHandoffServer(httpAgentApi(config), { log });
  const transport = new StdioServerTransport();
  // The client closes stdin to stop us (https://modelcontextprotocol.io/specification/2025-06-18/basic/lifecycle#stdio).
  process.stdin.once('end', () => {
    void server.close().finally(() => process.exit(0));
  });
  await server.connect(transport);
  log.info({ agentApi: config.baseUrl.origin }, 'MCP server on stdio: hand-off tools ready');
}

await main();
