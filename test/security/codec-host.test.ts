// Attack: the codec server's tokenless local-UI path (src/http/codec-server.ts) reached through a name that only
// looks local. A DNS-rebinding page (its name resolving to 127.0.0.1) sends its own name as Host: 127.attacker.example,
// 127.0.0.1.nip.io, localhost.evil.com. The gate must take only IP literals of this machine or `localhost` exactly.
// Real service over real sockets, with the embedded UI's Origin and no token; the Host header is the only variable.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackAddress, isLoopbackHostHeader, isLoopbackUrl, parseHostHeader } from '../../src/loopback.js';
import { startTestService, type TestService } from '../helpers/service.js';

const UI = 'http://localhost:8233';
let svc: TestService;
let port: number;
beforeAll(async () => {
  svc = await startTestService({ CODEC_LOCAL_UI: 'true', CODEC_ALLOWED_ORIGINS: UI });
  port = Number(new URL(svc.url).port);
});
afterAll(async () => {
  await svc?.stop();
});

/** POST /codec/decode from 127.0.0.1 with the embedded UI's Origin, no token, and this Host header. */
function decodeWithHost(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ payloads: [] });
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/codec/decode',
        setHost: false,
        headers: {
          Host: host,
          Origin: UI,
          'Content-Type': 'application/json',
          'X-Namespace': 'default',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const ATTACKER_HOSTS = [
  '127.attacker.example',
  '127.attacker.example:3000',
  '127.0.0.1.nip.io',
  '127.0.0.1.nip.io:3000',
  'localhost.evil.com',
  'localhost.evil.com:8233',
  'localhost.',
  '127.1', // a browser would have canonicalised it: not a spelling the embedded UI sends
  '0x7f.0.0.1',
  '0177.0.0.1',
  '2130706433',
  '[::1].evil.example',
  '[::ffff:a00:1]:3000', // 10.0.0.1, IPv4-mapped
  'evil.example:3000@127.0.0.1',
  '127.0.0.1:99999',
  '::1',
];

describe('codec server tokenless path: Host must be this machine exactly', () => {
  it('refuses Host names that only look local (DNS rebinding), with 401', async () => {
    for (const host of ATTACKER_HOSTS) expect(await decodeWithHost(host), host).toBe(401);
  });

  it('still lets the embedded UI in by IP literal or localhost', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST', '127.9.8.7'])
      expect(await decodeWithHost(host), host).toBe(200);
  });
});

describe('src/loopback.ts', () => {
  it('parses Host headers', () => {
    expect(parseHostHeader('[::1]:8233')).toEqual({ host: '[::1]', port: 8233 });
    expect(parseHostHeader('127.0.0.1:3000')).toEqual({ host: '127.0.0.1', port: 3000 });
    expect(parseHostHeader('LocalHost')).toEqual({ host: 'localhost', port: undefined });
    for (const bad of ['', '::1', '[::1', '[127.0.0.1]', 'a b', 'a:b', 'h:65536', 'u@h', 'h/x', '[::1]:'])
      expect(parseHostHeader(bad), bad).toBeUndefined();
  });

  it('takes 127.0.0.0/8 and ::1 in their spellings, and nothing that only starts like them', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1'])
      expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['127.1', '127.attacker.example', '10.0.0.7', '::ffff:10.0.0.7', '::2', 'localhost', '', undefined])
      expect(isLoopbackAddress(a), String(a)).toBe(false);
    for (const h of ['localhost', 'localhost:3000', '127.0.0.1', '[::1]:8233', '[::ffff:127.0.0.1]'])
      expect(isLoopbackHostHeader(h), h).toBe(true);
    for (const h of ATTACKER_HOSTS) expect(isLoopbackHostHeader(h), h).toBe(false);
    expect(isLoopbackUrl('http://127.0.0.1:3000/x')).toBe(true);
    expect(isLoopbackUrl('http://[::1]/x')).toBe(true);
    expect(isLoopbackUrl('http://localhost/x')).toBe(true);
    expect(isLoopbackUrl('http://127.attacker.example/x')).toBe(false);
    expect(isLoopbackUrl('http://localhost.evil.com/x')).toBe(false);
  });
});
