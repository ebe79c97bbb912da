// GET /metrics without METRICS_TOKENS answers loopback peers only (src/http/metrics.ts). The tests' clients are all
// on loopback, so the refusal is checked here with the peer address a socket would report.
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { loopbackOnly } from '../../src/http/metrics.js';

function call(remoteAddress: string | undefined, headers: Record<string, string> = { host: '127.0.0.1:3000' }) {
  let status = 200;
  let body: unknown;
  let passed = false;
  const res = {
    status(s: number) {
      status = s;
      return this;
    },
    json(b: unknown) {
      body = b;
      return this;
    },
  } as unknown as Response;
  const req = { socket: { remoteAddress }, headers, get: (name: string) => headers[name.toLowerCase()] };
  loopbackOnly(req as unknown as Request, res, () => (passed = true));
  return { status, body, passed };
}

describe('GET /metrics without METRICS_TOKENS', () => {
  it('lets loopback peers through: 127.0.0.0/8, ::1 and IPv4-mapped loopback', () => {
    for (const addr of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1'])
      expect(call(addr).passed, addr).toBe(true);
  });
  it('refuses a loopback peer that was forwarded (a tunnel or a local proxy) or names another host', () => {
    const forwarded: Record<string, string>[] = [
      { host: '127.0.0.1:3000', 'x-forwarded-for': '203.0.113.9' },
      { host: 'abc.ngrok.app', 'x-forwarded-proto': 'https' },
      { host: 'localhost.evil.example' },
    ];
    for (const headers of forwarded) expect(call('127.0.0.1', headers).status, JSON.stringify(headers)).toBe(403);
  });
  it('refuses every other peer with 403 and says how to scrape remotely', () => {
    for (const addr of ['10.0.0.5', '172.18.0.3', '::ffff:10.0.0.5', 'fe80::1', undefined]) {
      const r = call(addr);
      expect(r.passed, String(addr)).toBe(false);
      expect(r.status).toBe(403);
      expect(JSON.stringify(r.body)).toContain('METRICS_TOKENS');
    }
  });
});
