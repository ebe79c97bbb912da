// The simulated agent (scripts/lib/agent.ts) against a local HTTP server that answers what each case needs: 429 and
// 503 are retried after Retry-After with the same request and Idempotency-Key, anything else is returned as is.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postShare } from '../../scripts/lib/agent.js';
import { freePort } from '../../src/temporal/ports.js';

interface Seen {
  key: string | undefined;
  auth: string | undefined;
  body: string;
  at: number;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** Answers the i-th request with answers[i] (the last one again after that) and records what it was sent. */
async function serve(answers: { status: number; retryAfter?: string; body?: unknown }[]) {
  const seen: Seen[] = [];
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({
        key: req.headers['idempotency-key'] as string,
        auth: req.headers.authorization,
        body,
        at: Date.now(),
      });
      const a = answers[Math.min(seen.length - 1, answers.length - 1)]!;
      res.writeHead(a.status, {
        'content-type': 'application/json',
        ...(a.retryAfter !== undefined ? { 'retry-after': a.retryAfter } : {}),
      });
      res.end(JSON.stringify(a.body ?? { status: a.status }));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, seen };
}

const share = { ticketId: 'T-1', secret: { value: 'v' }, link: { channel: 'sms', to: '+15550000001' } };

describe('postShare (the simulated agent)', () => {
  it('retries 503 and 429 after Retry-After with the same request and key until 202, and counts them', async () => {
    const { url, seen } = await serve([
      { status: 503, retryAfter: '0' },
      { status: 429, retryAfter: '1' },
      { status: 503 },
      { status: 202, body: { shareId: 'shr_1' } },
    ]);
    const answer = await postShare(url, 'tok', share, { idempotencyKey: 'key-1' });
    expect(answer).toEqual({
      status: 202,
      body: { shareId: 'shr_1' },
      attempts: 4,
      deferred: 3,
      statuses: [503, 429, 503, 202],
      retryAfter: ['0', '1', undefined],
      connectionErrors: 0,
    });
    expect(new Set(seen.map((s) => s.key))).toEqual(new Set(['key-1']));
    expect(new Set(seen.map((s) => s.auth))).toEqual(new Set(['Bearer tok']));
    expect(new Set(seen.map((s) => s.body))).toEqual(new Set([JSON.stringify(share)]));
    // Waits: Retry-After 0 → at least 0.5 s; 1 → at least 1 s; none → at least 1 s; each at most half again (plus a lenient margin for a busy machine).
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(490);
    expect(gaps[1]).toBeGreaterThanOrEqual(990);
    expect(gaps[2]).toBeGreaterThanOrEqual(990);
    for (const g of gaps) expect(g).toBeLessThan(3_000);
  });

  it('a refused connection is thrown, or with retryConnectionErrors tried again where baseUrl says next', async () => {
    const { url, seen } = await serve([{ status: 202, body: { shareId: 'shr_2' } }]);
    const closed = `http://127.0.0.1:${await freePort()}`;
    await expect(postShare(closed, 'tok', share, { idempotencyKey: 'k' })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    const targets = [closed, closed, url];
    const answer = await postShare(() => targets.shift()!, 'tok', share, {
      idempotencyKey: 'k',
      retryConnectionErrors: true,
    });
    expect(answer).toMatchObject({ status: 202, attempts: 1, connectionErrors: 2 });
    expect(seen).toHaveLength(1);
  });

  it('returns any other answer at once, 500 and 422 included', async () => {
    for (const status of [500, 422, 400]) {
      const { url, seen } = await serve([{ status, body: { error: 'no' } }]);
      expect(await postShare(url, 'tok', share, { idempotencyKey: 'k' })).toMatchObject({
        status,
        body: { error: 'no' },
        attempts: 1,
        deferred: 0,
        statuses: [status],
      });
      expect(seen).toHaveLength(1);
      await new Promise<void>((r) => server!.close(() => r()));
      server = undefined;
    }
  });

  it('gives up with the last deferred answer when the next wait would pass maxWaitMs', async () => {
    const { url, seen } = await serve([{ status: 503, retryAfter: '2', body: { error: 'busy' } }]);
    const started = Date.now();
    const answer = await postShare(url, 'tok', share, { idempotencyKey: 'k', maxWaitMs: 1_000 });
    expect(answer).toMatchObject({ status: 503, body: { error: 'busy' }, attempts: 1, deferred: 1 });
    expect(seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(500);
  });
});
