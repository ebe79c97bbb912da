// Request body size limits on every route that reads a body: one byte-ish over the limit is a 413 with a short
// JSON error (never the body echoed back); far over it, the answer comes without the service buffering the lot;
// a caller without credentials is turned away before its body is read; routes that read no body answer as usual.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, TEST_CODEC_TOKEN, type TestService } from '../helpers/service.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});

const KB = 1024;
const MARKER = '<b>echo-me</b>';

/** A body of about `bytes`, with a marker that must not come back. */
function bodyOf(type: 'json' | 'form', bytes: number): string {
  const pad = 'x'.repeat(Math.max(0, bytes - 60));
  return type === 'json'
    ? JSON.stringify({ ticketId: MARKER, pad })
    : new URLSearchParams({ MessageSid: MARKER, pad }).toString();
}

async function send(method: string, path: string, type: 'json' | 'form', bytes: number, auth?: string) {
  const res = await request(`${svc.url}${path}`, {
    method: method as 'POST',
    headers: {
      'content-type': type === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
      ...(auth ? { authorization: auth } : {}),
      'x-twilio-signature': 'unsigned-but-present',
    },
    body: bodyOf(type, bytes),
  });
  const text = await res.body.text();
  svc.responses.push(text);
  return { status: res.statusCode, text };
}

const bearer = () => `Bearer ${svc.token}`;
const codec = `Bearer ${TEST_CODEC_TOKEN}`;

// Every route that parses a body, with its limit (src/http/shares.ts, twilio-webhooks.ts, codec.ts, the emulator).
const routes = [
  { name: 'create a share', method: 'POST', path: '/v1/shares', type: 'json', limit: 32 * KB, auth: bearer },
  {
    name: 'burn a share',
    method: 'POST',
    path: '/v1/shares/shr_00000000000000000000000000/burn',
    type: 'json',
    limit: 32 * KB,
    auth: bearer,
  },
  {
    name: 'share status (a GET with a body)',
    method: 'GET',
    path: '/v1/shares/shr_00000000000000000000000000',
    type: 'json',
    limit: 32 * KB,
    auth: bearer,
  },
  {
    name: 'tool schema (a GET with a body)',
    method: 'GET',
    path: '/v1/tool-schema',
    type: 'json',
    limit: 32 * KB,
    auth: bearer,
  },
  {
    name: 'SMS status callback',
    method: 'POST',
    path: '/twilio/sms-status?share=shr_x',
    type: 'form',
    limit: 16 * KB,
    auth: () => undefined,
  },
  { name: 'codec decode', method: 'POST', path: '/codec/decode', type: 'json', limit: 8 * KB * KB, auth: () => codec },
  { name: 'codec encode', method: 'POST', path: '/codec/encode', type: 'json', limit: 8 * KB * KB, auth: () => codec },
  {
    name: 'sandbox OTS create',
    method: 'POST',
    path: '/sandbox/ots/api/v1/share',
    type: 'form',
    limit: KB * KB,
    auth: () => undefined,
  },
  {
    name: 'sandbox OTS reveal',
    method: 'POST',
    path: '/sandbox/ots/api/v1/secret/0000000000000000000000000000',
    type: 'form',
    limit: KB * KB,
    auth: () => undefined,
  },
] as const;

describe('request body size limits', () => {
  for (const r of routes) {
    it(`${r.name}: over the limit is 413 without an echo; under it is judged on its content`, async () => {
      const over = await send(r.method, r.path, r.type, r.limit + 2 * KB, r.auth());
      expect(over.status, over.text).toBe(413);
      expect(over.text).not.toContain('echo-me');
      const under = await send(r.method, r.path, r.type, Math.min(r.limit - 2 * KB, 8 * KB), r.auth());
      expect(under.status).not.toBe(413);
      expect(under.status).toBeLessThan(500);
      expect(under.text).not.toContain(MARKER);
    });
  }

  it('a 20 MB body is refused on every route that reads one, and the service stays up', async () => {
    for (const r of routes) {
      const res = await send(r.method, r.path, r.type, 20 * KB * KB, r.auth());
      expect(res.status, r.name).toBe(413);
    }
    expect((await svc.api('GET', '/healthz')).status).toBe(200);
  });

  it('without credentials a large body is refused before it is read', async () => {
    for (const path of ['/v1/shares', '/codec/decode']) {
      const res = await send('POST', path, 'json', 4 * KB * KB);
      expect([401, 403]).toContain(res.status);
    }
    // Routes that read no body answer as they would anyway.
    for (const [method, path] of [
      ['POST', '/healthz'],
      ['POST', '/readyz'],
      ['POST', '/no/such/route'],
    ] as const) {
      const res = await send(method, path, 'json', 2 * KB * KB);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
  });
});
