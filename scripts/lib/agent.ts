// A simulated voice agent's share request, as a real agent's HTTP client should make it (README.md, "The agent
// API"): POST /v1/shares with an Idempotency-Key and, when the answer is 429 or 503 (busy, Temporal unreachable or
// overloaded: src/http/app.ts), wait what Retry-After says and send the same request with the same key again,
// until it is accepted or the time allowed has run out. The key makes the retries safe: however many reach the
// service, it starts one hand-off. Used by the bench (scripts/bench/index.ts, stack.ts), the burst fault test
// (test/faults/burst.test.ts) and the stack's rolling restart (test/stack/stack.test.ts).
import { request } from 'undici';
import { parseRetryAfter } from '../../src/retry-after.js';

export interface PostShareOptions {
  /** Sent with every attempt. Required: a retry without one could start a second hand-off. */
  idempotencyKey: string;
  /** How long to keep retrying, from the first attempt (default 120 s); then the last answer is returned. */
  maxWaitMs?: number;
  /**
   * Also retry a request that got no answer at all because the connection was refused or reset (a replica
   * restarting behind a load balancer, which tries the next one), after 200 ms. Default false: thrown.
   */
  retryConnectionErrors?: boolean;
}

export interface ShareAnswer {
  /** The last answer's status: 202, another status that is not retried (400, 422, 500…), or 429/503 out of time. */
  status: number;
  /** The last answer's body, parsed as JSON (its text when it is not JSON). */
  body: any;
  /** Requests sent. */
  attempts: number;
  /** Answers 429 or 503: each was retried, but the last one when time ran out. */
  deferred: number;
  /** The status of every answer, in order. */
  statuses: number[];
  /** The Retry-After header of every deferred answer, in order; undefined where there was none. */
  retryAfter: (string | undefined)[];
  /** Attempts that got no answer (connection refused or reset) and were tried again (retryConnectionErrors). */
  connectionErrors: number;
}

/** Errors that mean the request got no answer from a server: safe to send again anywhere, with the same key. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

/** What a deferred answer makes the agent wait: Retry-After, at least this much and at most… */
const MIN_WAIT_MS = 500;
/** …this much (a server asking for longer is still asked again within this), … */
const MAX_WAIT_MS = 30_000;
/** …and when it sent none (or junk), this much. */
const DEFAULT_WAIT_MS = 1_000;

/**
 * POSTs `body` to `${baseUrl}/v1/shares` with the bearer `token` and retries 429 and 503 as above. The wait before
 * each retry is Retry-After (clamped to 0.5 to 30 s) plus up to half as much again at random, so that agents turned
 * away together do not all come back at the same instant. Network errors are thrown, not retried, unless
 * `retryConnectionErrors` (a load balancer's part: with a function for `baseUrl` each attempt asks it where to go).
 */
export async function postShare(
  baseUrl: string | (() => string),
  token: string,
  body: unknown,
  opts: PostShareOptions,
): Promise<ShareAnswer> {
  const giveUpAt = Date.now() + (opts.maxWaitMs ?? 120_000);
  const statuses: number[] = [];
  const retryAfter: (string | undefined)[] = [];
  let connectionErrors = 0;
  for (;;) {
    const url = typeof baseUrl === 'function' ? baseUrl() : baseUrl;
    const res = await request(`${url}/v1/shares`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': opts.idempotencyKey,
      },
      body: JSON.stringify(body),
      // Each attempt on a connection of its own, closed after the answer: a retry seconds later on a kept-alive
      // connection races the server closing it (Node's keepAliveTimeout, 5 s), and under a burst, with the event
      // loop lagging, the retry loses and gets ECONNRESET.
      reset: true,
    }).catch((err: { code?: string }) => {
      if (!opts.retryConnectionErrors || !CONNECTION_ERRORS.has(err?.code ?? '') || Date.now() > giveUpAt) throw err;
      connectionErrors += 1;
      return undefined;
    });
    if (!res) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const text = await res.body.text();
    statuses.push(res.statusCode);
    const answer = (): ShareAnswer => ({
      status: res.statusCode,
      body: parse(text),
      attempts: statuses.length,
      deferred: retryAfter.length,
      statuses,
      retryAfter,
      connectionErrors,
    });
    if (res.statusCode !== 429 && res.statusCode !== 503) return answer();
    const header = res.headers['retry-after'];
    retryAfter.push(Array.isArray(header) ? header[0] : header);
    const asked = Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, parseRetryAfter(header) ?? DEFAULT_WAIT_MS));
    const wait = asked * (1 + Math.random() / 2);
    if (Date.now() + wait > giveUpAt) return answer();
    await new Promise((r) => setTimeout(r, wait));
  }
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
