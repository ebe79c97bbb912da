import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DEFAULT_WORKFLOW_CACHE_SIZE, loadConfig } from '../../src/config.js';
import { describeTemporalSecurity, temporalConnectionOptions } from '../../src/temporal/connection-options.js';
import { makeTestPki, writeTestPki, type TestPki } from '../helpers/tls-certs.js';

function problems(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('an empty environment is a sandbox with the documented defaults', () => {
    const c = loadConfig({});
    expect(c.modes).toEqual({ ots: 'sandbox', twilio: 'sandbox', deepgram: 'sandbox' });
    expect(c.sandbox).toBe(true);
    expect(c.PORT).toBe(3000);
    expect(c.TEMPORAL_UI_PORT).toBe(8233);
    expect(c.TEMPORAL_NAMESPACE).toBe('default');
    expect(c.OTS_RATE_LIMIT_PER_MINUTE).toBe(100);
    expect(c.OTS_DEFAULT_TTL).toBe('24h');
    expect(c.OTS_API_VERSION).toBe('auto');
    expect(c.OTS_POLL_INTERVALS[0]).toBe(15);
    expect(c.publicBaseUrl).toBe('http://127.0.0.1:3000');
  });

  it('names every bad variable at once and never echoes its value', () => {
    const p = problems({
      PORT: 'eighty',
      OTS_DEFAULT_TTL: '3 weeks',
      OTS_POLL_INTERVALS: '5,,x',
      LOG_LEVEL: 'loud',
      SEAL_KEY: 'hunter2-not-base64-32',
      OTS_API_VERSION: 'v3',
    });
    expect(p.map((x) => x.variable).sort()).toEqual([
      'LOG_LEVEL',
      'OTS_API_VERSION',
      'OTS_DEFAULT_TTL',
      'OTS_POLL_INTERVALS',
      'PORT',
      'SEAL_KEY',
    ]);
    expect(JSON.stringify(p)).not.toContain('hunter2');
  });

  it('OTS_API_VERSION is auto, v2 or v1, and says so when it is anything else', () => {
    for (const v of ['auto', 'v2', 'v1'] as const) expect(loadConfig({ OTS_API_VERSION: v }).OTS_API_VERSION).toBe(v);
    expect(problems({ OTS_API_VERSION: 'V2' })).toEqual([
      { variable: 'OTS_API_VERSION', message: 'must be one of auto, v2, v1' },
    ]);
  });

  it('the message lists one line per variable', () => {
    try {
      loadConfig({ PORT: '0', TWILIO_ACCOUNT_SID: 'nope' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT: /);
      expect((err as Error).message).toMatch(/TWILIO_ACCOUNT_SID: must be an Account SID/);
    }
  });

  it('explains what a valid TTL is', () => {
    for (const bad of ['2w', '30', '9999999']) {
      expect(problems({ OTS_DEFAULT_TTL: bad })).toEqual([
        { variable: 'OTS_DEFAULT_TTL', message: expect.stringMatching(/1h, 24h, 7d or a number of seconds from 60/) },
      ]);
    }
  });

  it('partial credentials for a live service name the missing variables', () => {
    const p = problems({ OTS_USERNAME: 'ops@example.com' });
    expect(p.map((x) => x.variable)).toEqual(expect.arrayContaining(['OTS_API_KEY']));
    const t = problems({ TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}` });
    expect(t.map((x) => x.variable)).toEqual(expect.arrayContaining(['TWILIO_AUTH_TOKEN', 'TWILIO_FROM']));
  });

  it('live mode requires API tokens, a seal key, payload keys and (for Twilio) a public base URL', () => {
    const p = problems({
      TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'b'.repeat(32),
      TWILIO_FROM: '+15551230000',
    });
    expect(p.map((x) => x.variable).sort()).toEqual([
      'AGENT_API_TOKENS',
      'OTS_USERNAME',
      'PAYLOAD_KEYS',
      'PUBLIC_BASE_URL',
      'SEAL_KEY',
    ]);
  });

  it('PAYLOAD_KEYS is required with a shared Temporal too, and the tokenless local-UI codec path is sandbox + embedded only', () => {
    expect(problems({ TEMPORAL_ADDRESS: 'temporal:7233' })).toEqual([
      { variable: 'PAYLOAD_KEYS', message: expect.stringMatching(/with TEMPORAL_ADDRESS/) },
    ]);
    const keys = `k1:${randomBytes(32).toString('base64')}`;
    expect(loadConfig({}).codecLocalUi).toBe(true);
    expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal:7233', PAYLOAD_KEYS: keys }).codecLocalUi).toBe(false);
    expect(
      loadConfig({
        OTS_USERNAME: 'a@example.org',
        OTS_API_KEY: 'k'.repeat(20),
        AGENT_API_TOKENS: 't'.repeat(20),
        SEAL_KEY: randomBytes(32).toString('base64'),
        PAYLOAD_KEYS: keys,
      }).codecLocalUi,
    ).toBe(false);
    expect(
      loadConfig({ CODEC_LOCAL_UI: 'true', TEMPORAL_ADDRESS: 'temporal:7233', PAYLOAD_KEYS: keys }).codecLocalUi,
    ).toBe(true);
  });

  it('PAYLOAD_KEYS: malformed lists are refused with what is wrong, never the key material', () => {
    const key = randomBytes(32).toString('base64');
    const cases: [string, RegExp][] = [
      [key, /entry 1: the key id must be/],
      [`k1:${Buffer.alloc(16, 3).toString('base64')}`, /entry 1 \(k1\): the key must be 32 bytes/],
      [`k1:${key},bad id:${key}`, /entry 2: the key id must be/],
      [`k1:${key},k1:${key}`, /each key id may appear only once/],
      [`k1:not*base64*${key}`, /entry 1 \(k1\): the key must be 32 bytes/],
    ];
    for (const [value, message] of cases) {
      const p = problems({ PAYLOAD_KEYS: value });
      expect(p).toEqual([{ variable: 'PAYLOAD_KEYS', message: expect.stringMatching(message) }]);
      expect(p[0]!.message).not.toContain(key);
    }
    const ok = loadConfig({ PAYLOAD_KEYS: ` new:${key} , old:${randomBytes(32).toString('base64')}` });
    expect(ok.PAYLOAD_KEYS!.map((k) => k.id)).toEqual(['new', 'old']);
  });

  it('NOTES_WEBHOOK_SECRET: one secret as before, or key id:secret pairs newest first; bad ones named, never echoed', () => {
    const url = 'https://psa.example.com/notes';
    const secret = 'notes-secret-0123456789abcdef';
    expect(loadConfig({ NOTES_WEBHOOK_URL: url, NOTES_WEBHOOK_SECRET: secret }).NOTES_WEBHOOK_SECRET).toBe(secret);
    expect(
      loadConfig({ NOTES_WEBHOOK_URL: url, NOTES_WEBHOOK_SECRET: `2026-11:${secret}x,2026-05:${secret}` })
        .NOTES_WEBHOOK_SECRET,
    ).toBe(`2026-11:${secret}x,2026-05:${secret}`);
    const cases: [string, RegExp][] = [
      ['short-secret', /must be at least 16 characters/],
      [`bad id:${secret}`, /entry 1: the key id must be/],
      [`k2:${secret},k1:short-secret`, /entry 2 \(k1\): the secret must be at least 16 characters/],
      [`k1:${secret},k1:${secret}`, /each key id may appear only once/],
    ];
    for (const [value, message] of cases) {
      const p = problems({ NOTES_WEBHOOK_URL: url, NOTES_WEBHOOK_SECRET: value });
      expect(p, value).toEqual([{ variable: 'NOTES_WEBHOOK_SECRET', message: expect.stringMatching(message) }]);
      expect(p[0]!.message).not.toMatch(/short-secret|notes-secret/);
    }
  });

  it('TWILIO_WEBHOOK_KEYS: keyId:secret pairs (two while rotating); malformed lists are named, never echoed', () => {
    const secret = 'shared-key-secret-0123456789';
    const id = 'webhooks_sharedkey_01JZX8Q2W3E4R5T6Y7U8I9O0P1';
    expect(loadConfig({}).TWILIO_WEBHOOK_KEYS).toBeUndefined();
    expect(loadConfig({ TWILIO_WEBHOOK_KEYS: '' }).TWILIO_WEBHOOK_KEYS).toBeUndefined();
    // Any id without ':' or ',' is accepted, not only Twilio's shape; a ':' in the secret stays in the secret.
    expect(
      loadConfig({ TWILIO_WEBHOOK_KEYS: ` ${id}:${secret} , old key :${secret}:x, ` }).TWILIO_WEBHOOK_KEYS,
    ).toEqual([
      { id, secret },
      { id: 'old key', secret: `${secret}:x` },
    ]);
    const cases: [string, RegExp][] = [
      [secret, /entry 1 has no ":" between key id and secret/],
      [`${id}:${secret},${secret}`, /entry 2 has no ":"/],
      [`:${secret}`, /entry 1 has an empty key id/],
      [`${id}:`, /entry 1: the secret must be at least 16 characters/],
      [`${secret}:`, /entry 1: the secret must be at least 16 characters/], // written the wrong way round
      [`${id}:short-secret`, /entry 1: the secret must be at least 16 characters/],
      [`${id}:${secret},k2:${secret}x,${id}:${secret}y`, /entries 1 and 3 have the same key id/],
      [' , ', /must be a comma list of <key id>:<secret>/],
    ];
    for (const [value, message] of cases) {
      const p = problems({ TWILIO_WEBHOOK_KEYS: value });
      expect(p, value).toEqual([{ variable: 'TWILIO_WEBHOOK_KEYS', message: expect.stringMatching(message) }]);
      expect(p[0]!.message).not.toMatch(/shared-key-secret|short-secret/);
    }
    // A bad list is reported with the other bad variables, one line each, without a crash.
    const both = problems({ TWILIO_WEBHOOK_KEYS: secret, PORT: 'eighty' });
    expect(both.map((x) => x.variable).sort()).toEqual(['PORT', 'TWILIO_WEBHOOK_KEYS']);
    const thrown = (() => {
      try {
        loadConfig({ TWILIO_WEBHOOK_KEYS: `${id}:short-secret` });
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(thrown).toMatch(/^ {2}TWILIO_WEBHOOK_KEYS: entry 1: the secret must be/m);
    expect(thrown).not.toContain('short-secret');
  });

  it('TWILIO_WEBHOOK_KEYS works with live Twilio and in the sandbox, where the fake signs with the first key', () => {
    const keys = `k-new:${'n'.repeat(32)},k-old:${'o'.repeat(32)}`;
    expect(loadConfig({ TWILIO_WEBHOOK_KEYS: keys }).modes.twilio).toBe('sandbox');
    const live = loadConfig({
      TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'b'.repeat(32),
      TWILIO_FROM: '+15551230000',
      TWILIO_WEBHOOK_KEYS: keys,
      PUBLIC_BASE_URL: 'https://handoff.example.com',
      OTS_USERNAME: 'ops@example.com',
      OTS_API_KEY: 'k'.repeat(50),
      AGENT_API_TOKENS: 'token-one-0123456789',
      SEAL_KEY: randomBytes(32).toString('base64'),
      PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    });
    expect(live.modes.twilio).toBe('live');
    expect(live.TWILIO_WEBHOOK_KEYS!.map((k) => k.id)).toEqual(['k-new', 'k-old']);
    // Live Twilio still needs its auth token: it sends the SMS, and webhooks without a Webhook Rule are signed with it.
    const p = problems({
      TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_FROM: '+15551230000',
      TWILIO_WEBHOOK_KEYS: keys,
    });
    expect(p.map((x) => x.variable)).toContain('TWILIO_AUTH_TOKEN');
  });

  it('a complete live configuration is accepted', () => {
    const c = loadConfig({
      OTS_BASE_URL: 'https://eu.onetimesecret.com/',
      OTS_USERNAME: 'ops@example.com',
      OTS_API_KEY: 'k'.repeat(50),
      AGENT_API_TOKENS: 'token-one-0123456789, token-two-0123456789',
      SEAL_KEY: randomBytes(32).toString('base64'),
      PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      OTS_POLL_INTERVALS: '1,2,3',
      OTS_DEFAULT_TTL: '3600',
    });
    expect(c.modes.ots).toBe('live');
    expect(c.modes.twilio).toBe('sandbox');
    expect(c.OTS_BASE_URL).toBe('https://eu.onetimesecret.com');
    expect(c.AGENT_API_TOKENS).toEqual(['token-one-0123456789', 'token-two-0123456789']);
    expect(c.OTS_POLL_INTERVALS).toEqual([1, 2, 3]);
    expect(c.OTS_DEFAULT_TTL).toBe(3600);
  });

  it('a poll schedule below the floor (a tight loop against Onetime Secret) is a configuration error', () => {
    for (const v of ['0.001', '15,0.1', '0'])
      expect(() => loadConfig({ OTS_POLL_INTERVALS: v })).toThrow(/OTS_POLL_INTERVALS.*at least 0.25/);
    expect(loadConfig({ OTS_POLL_INTERVALS: '0.25,0.3' }).OTS_POLL_INTERVALS).toEqual([0.25, 0.3]);
  });

  it('TEMPORAL_WORKFLOW_CACHE_SIZE: a whole number, 0 (no cache) or from 2; anything else is named with the rule', () => {
    expect(loadConfig({}).TEMPORAL_WORKFLOW_CACHE_SIZE).toBe(DEFAULT_WORKFLOW_CACHE_SIZE);
    for (const [v, n] of [
      ['0', 0],
      ['2', 2],
      ['2000', 2000],
    ] as const)
      expect(loadConfig({ TEMPORAL_WORKFLOW_CACHE_SIZE: v }).TEMPORAL_WORKFLOW_CACHE_SIZE).toBe(n);
    // 1 is not a cache the SDK runs (it raises it to 2 with a warning); signs, decimals and exponents are typos.
    for (const v of ['1', '-5', '2.5', '1e3', 'lots', '100001'])
      expect(problems({ TEMPORAL_WORKFLOW_CACHE_SIZE: v })).toEqual([
        {
          variable: 'TEMPORAL_WORKFLOW_CACHE_SIZE',
          message: 'must be a whole number of workflows: 0 (no cache) or from 2 to 100000',
        },
      ]);
  });

  it('empty strings count as unset', () => {
    expect(loadConfig({ PORT: '', OTS_USERNAME: '' }).PORT).toBe(3000);
  });

  it('keys must be 32 random bytes in canonical base64: a typed phrase or a made-up key is refused, by name only', () => {
    const phrase = 'correcthorsebatterystaplecorrecthorsebatter'; // 43 letters decode to 32 bytes
    const weak: [string, RegExp][] = [
      [phrase, /canonical base64/],
      [`${phrase}=`, /canonical base64|not random/],
      ['correcthorsebatterystaplecorrecthorsebattes=', /not random/], // canonical, 32 bytes, 25 distinct, but typed
      [Buffer.alloc(32).toString('base64'), /not random/],
      [Buffer.from('ab'.repeat(16)).toString('base64'), /not random/],
      [randomBytes(32).toString('base64').replace(/=$/, ''), /canonical base64/],
      [randomBytes(31).toString('base64'), /canonical base64/],
    ];
    for (const [value, message] of weak) {
      for (const variable of ['SEAL_KEY', 'PAYLOAD_KEYS'] as const) {
        const p = problems({ [variable]: variable === 'SEAL_KEY' ? value : `k1:${value}` });
        expect(p, `${variable}=${value}`).toEqual([{ variable, message: expect.stringMatching(message) }]);
        expect(p[0]!.message).not.toContain(value);
      }
    }
    expect(loadConfig({ SEAL_KEY: randomBytes(32).toString('base64') }).SEAL_KEY).toBeDefined();
  });

  it('OTS_BASE_URL must be https unless it is this machine: the API key travels with every request', () => {
    const account = { OTS_USERNAME: 'ops@example.com', OTS_API_KEY: 'k'.repeat(50) };
    for (const url of ['http://eu.onetimesecret.com', 'http://10.0.0.5:7143', 'http://127.example.com']) {
      expect(
        problems({ ...account, OTS_BASE_URL: url }).map((x) => x.variable),
        url,
      ).toContain('OTS_BASE_URL');
    }
    for (const url of [
      'https://eu.onetimesecret.com',
      'http://127.0.0.1:7143',
      'http://localhost:7143',
      'http://[::1]:7143',
    ]) {
      expect(
        problems({ ...account, OTS_BASE_URL: url }).map((x) => x.variable),
        url,
      ).not.toContain('OTS_BASE_URL');
    }
  });

  it('live Twilio with the sandbox Onetime Secret emulator is refused: real SMS would carry links to this machine', () => {
    const p = problems({
      TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'b'.repeat(32),
      TWILIO_FROM: '+15551230000',
    });
    expect(p).toContainEqual({ variable: 'OTS_USERNAME', message: expect.stringMatching(/links to this machine/) });
  });
});

// TEMPORAL_TLS*, TEMPORAL_API_KEY: docs/temporal.md ("Connecting to a secured Temporal"). The connection itself is
// tested against a mutual-TLS server in test/integration/temporal-tls.test.ts.
describe('config: connecting to a secured Temporal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-tls-'));
  const shared = {
    TEMPORAL_ADDRESS: 'temporal.example.com:7233',
    PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  };
  let pki: TestPki;
  let paths: Record<keyof TestPki, string>;
  beforeAll(() => {
    pki = makeTestPki();
    paths = writeTestPki(pki, dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const options = (env: Record<string, string>) =>
    temporalConnectionOptions(loadConfig({ ...shared, ...env }), shared.TEMPORAL_ADDRESS);

  it('mutual TLS from files: the PEM bytes, the server name and no API key reach the connection options', () => {
    const o = options({
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca,
      TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: paths.clientKey,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(o).toEqual({
      address: shared.TEMPORAL_ADDRESS,
      tls: {
        serverRootCACertificate: Buffer.from(pki.ca),
        clientCertPair: { crt: Buffer.from(pki.clientCert), key: Buffer.from(pki.clientKey) },
        serverNameOverride: 'temporal.internal',
      },
    });
    expect(describeTemporalSecurity(o)).toBe('mutual TLS, server name temporal.internal');
  });

  it('TEMPORAL_API_KEY reaches the connection options and turns TLS on (system roots) unless TEMPORAL_TLS=false', () => {
    // The dev server cannot check an API key (it has no authentication), so this is where it is tested.
    const key = 'tmprl-api-key.0123456789abcdef';
    const cloud = options({ TEMPORAL_API_KEY: key });
    expect(cloud).toEqual({ address: shared.TEMPORAL_ADDRESS, tls: {}, apiKey: key });
    expect(describeTemporalSecurity(cloud)).toBe('TLS, API key');
    expect(JSON.stringify(describeTemporalSecurity(cloud))).not.toContain(key);

    // Plain with a key only to this machine (a local proxy), and then `tls: false` is explicit: both SDKs would
    // turn TLS on for an API key with `tls` unset.
    const local = temporalConnectionOptions(
      loadConfig({ ...shared, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_API_KEY: key, TEMPORAL_TLS: 'false' }),
      '127.0.0.1:7233',
    );
    expect(local).toEqual({ address: '127.0.0.1:7233', tls: false, apiKey: key });
    expect(describeTemporalSecurity(local)).toBe('no TLS, API key');
    const p = problems({ ...shared, TEMPORAL_API_KEY: key, TEMPORAL_TLS: 'false' });
    expect(p).toEqual([{ variable: 'TEMPORAL_TLS', message: expect.stringMatching(/clear text/) }]);

    const spaced = problems({ ...shared, TEMPORAL_API_KEY: `Bearer ${key}` });
    expect(spaced).toEqual([{ variable: 'TEMPORAL_API_KEY', message: expect.stringMatching(/without spaces/) }]);
    expect(JSON.stringify(spaced)).not.toContain(key);
  });

  it('TEMPORAL_TLS=true alone is TLS with the system roots; no variable at all is plain, as before', () => {
    expect(options({ TEMPORAL_TLS: 'true' })).toEqual({ address: shared.TEMPORAL_ADDRESS, tls: {} });
    expect(describeTemporalSecurity(options({ TEMPORAL_TLS: 'true' }))).toBe('TLS');
    expect(options({})).toEqual({ address: shared.TEMPORAL_ADDRESS });
    expect(describeTemporalSecurity(options({}))).toBeUndefined();
    // The embedded dev server (no TEMPORAL_ADDRESS) is always plain.
    expect(temporalConnectionOptions(loadConfig({}), '127.0.0.1:7233')).toEqual({ address: '127.0.0.1:7233' });
  });

  it('the *_DATA forms take the PEM text, also with \\n escapes on one line', () => {
    const o = options({
      TEMPORAL_TLS_SERVER_CA_CERT_DATA: pki.ca,
      TEMPORAL_TLS_CLIENT_CERT_DATA: pki.clientCert.replaceAll('\n', '\\n'),
      TEMPORAL_TLS_CLIENT_KEY_DATA: pki.clientKey,
    });
    expect(o.tls).toEqual({
      serverRootCACertificate: Buffer.from(pki.ca),
      clientCertPair: { crt: Buffer.from(pki.clientCert), key: Buffer.from(pki.clientKey) },
    });
  });

  it('a file that cannot be read, or does not hold the right PEM, names the variable and the path', () => {
    const missing = join(dir, 'no-such.pem');
    expect(problems({ ...shared, TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing })).toEqual([
      { variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', message: `cannot read ${missing} (ENOENT)` },
    ]);
    expect(problems({ ...shared, TEMPORAL_TLS_SERVER_CA_CERT_PATH: dir })).toEqual([
      { variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', message: `cannot read ${dir} (EISDIR)` },
    ]);
    const notPem = file('not-pem.txt', 'hello\n');
    expect(problems({ ...shared, TEMPORAL_TLS_SERVER_CA_CERT_PATH: notPem })).toEqual([
      {
        variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
        message: `${notPem} must be PEM: no "-----BEGIN CERTIFICATE-----" block found`,
      },
    ]);
    // The key and the certificate swapped: each file names what it holds instead.
    const swapped = problems({
      ...shared,
      TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientKey,
      TEMPORAL_TLS_CLIENT_KEY_PATH: paths.clientCert,
    });
    expect(swapped).toEqual([
      { variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH', message: expect.stringMatching(/\(it holds a private key\)$/) },
      { variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH', message: expect.stringMatching(/\(it holds a certificate\)$/) },
    ]);
    expect(JSON.stringify(swapped)).not.toContain('PRIVATE KEY-----\n');
    const broken = file('broken.pem', pki.ca.replace(/^(-----BEGIN CERTIFICATE-----\n)..../, '$1AAAA'));
    expect(problems({ ...shared, TEMPORAL_TLS_SERVER_CA_CERT_PATH: broken })).toEqual([
      {
        variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
        message: `${broken} holds a PEM certificate that does not parse`,
      },
    ]);
    const encrypted = file(
      'encrypted.pem',
      createPrivateKey(pki.clientKey).export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: 'pass',
      }) as string,
    );
    expect(
      problems({ ...shared, TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: encrypted }),
    ).toEqual([{ variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH', message: expect.stringMatching(/encrypted private key/) }]);
  });

  it('PEM text in a *_PATH variable, or a path in a *_DATA one, is pointed to the other form and never echoed', () => {
    const p = problems({
      ...shared,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pki.clientKey,
      TEMPORAL_TLS_CLIENT_CERT_DATA: paths.clientCert,
    });
    expect(p).toEqual([
      {
        variable: 'TEMPORAL_TLS_CLIENT_CERT_DATA',
        message: 'looks like a file path, not PEM text: put a path in TEMPORAL_TLS_CLIENT_CERT_PATH',
      },
      {
        variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
        message: 'holds PEM text, not a file path: put the PEM in TEMPORAL_TLS_CLIENT_KEY_DATA',
      },
    ]);
    expect(JSON.stringify(p)).not.toContain('PRIVATE KEY');
  });

  it('a client certificate without its key, or a key without its certificate, names both; a wrong key is refused', () => {
    expect(problems({ ...shared, TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert })).toEqual([
      {
        variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
        message: expect.stringMatching(
          /^must be set too \(or TEMPORAL_TLS_CLIENT_KEY_DATA\): TEMPORAL_TLS_CLIENT_CERT_PATH is set/,
        ),
      },
    ]);
    expect(problems({ ...shared, TEMPORAL_TLS_CLIENT_KEY_DATA: pki.clientKey })).toEqual([
      {
        variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
        message: expect.stringMatching(
          /^must be set too \(or TEMPORAL_TLS_CLIENT_CERT_DATA\): TEMPORAL_TLS_CLIENT_KEY_DATA is set/,
        ),
      },
    ]);
    expect(
      problems({
        ...shared,
        TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: paths.serverKey,
      }),
    ).toEqual([
      {
        variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
        message: 'is not the private key of the certificate in TEMPORAL_TLS_CLIENT_CERT_PATH',
      },
    ]);
    expect(
      problems({ ...shared, TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca, TEMPORAL_TLS_SERVER_CA_CERT_DATA: pki.ca }),
    ).toEqual([
      {
        variable: 'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
        message: 'is set together with TEMPORAL_TLS_SERVER_CA_CERT_PATH: set one of them',
      },
    ]);
  });

  it('TLS settings without TEMPORAL_ADDRESS are refused: the embedded dev server is plain', () => {
    expect(
      problems({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca, TEMPORAL_API_KEY: 'some-key-123' }),
    ).toEqual([
      {
        variable: 'TEMPORAL_ADDRESS',
        message: expect.stringMatching(
          /^must be set with TEMPORAL_TLS, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_API_KEY: .*embedded dev server/,
        ),
      },
    ]);
    expect(loadConfig({ TEMPORAL_TLS: 'false' }).TEMPORAL_TLS).toBe(false); // harmless: it asks for what is
  });

  it('contradictions and bad values name the variable', () => {
    expect(problems({ ...shared, TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca })).toEqual([
      {
        variable: 'TEMPORAL_TLS',
        message: 'is false, but TEMPORAL_TLS_SERVER_CA_CERT_PATH is set: remove them or unset TEMPORAL_TLS',
      },
    ]);
    expect(problems({ ...shared, TEMPORAL_TLS: 'maybe' })).toEqual([
      { variable: 'TEMPORAL_TLS', message: 'must be true or false' },
    ]);
    expect(problems({ ...shared, TEMPORAL_TLS_SERVER_NAME: 'https://temporal.example.com' })).toEqual([
      { variable: 'TEMPORAL_TLS_SERVER_NAME', message: expect.stringMatching(/must be a host name/) },
    ]);
    expect(problems({ ...shared, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).toEqual([
      { variable: 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION', message: expect.stringMatching(/not supported/) },
    ]);
  });
});
