// `npm run smoke` (scripts/smoke/) run as the operator runs it, a child process under tsx, with an environment holding
// no real credential and every service a loopback fake:
// - Onetime Secret: the sandbox's emulator (both API versions), behind a recording proxy so the test knows every
//   value, passphrase and key that went over the wire and can scan the output for them;
// - Twilio: the sandbox's Twilio fake behind a TLS-intercepting proxy. twilio-node honours HTTP_PROXY
//   (lib/base/RequestClient.js) and Node NODE_EXTRA_CA_CERTS, so the child's real SDK code, TLS included, talks to
//   "api.twilio.com" at the fake, and nothing in src/ changes for the test;
// - Deepgram: the sandbox's Deepgram fake (DEEPGRAM_BASE_URL), hearing the committed caller-word clips;
// - Temporal: the throwaway dev server smoke starts itself, or (TEMPORAL_ADDRESS) the test run's own.
// Nothing here reaches the internet.
import forge from 'node-forge';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createDeepgramFake,
  createTwilioFake,
  startOtsEmulatorServer,
  type OtsEmulator,
  type TwilioFake,
} from '../../src/sandbox/index.js';
import { loadClipSet } from '../../src/voice/clips.js';
import { createClipRecognizer } from '../../src/voice/recognizer.js';
import { CALLER_WORDS, type CallerWordName } from '../../src/voice/vocabulary.js';
import { freePort } from '../../src/temporal/ports.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const OTS_USER = 'smoke-test@example.com';
const OTS_KEY = `otskey-${randomBytes(12).toString('hex')}`;
const TWILIO_SID = `AC${randomBytes(16).toString('hex')}`;
const TWILIO_TOKEN = `twtoken-${randomBytes(12).toString('hex')}`;
const DEEPGRAM_KEY = `dgkey-${randomBytes(12).toString('hex')}`;
const SMS_TO = '+15551230001';
const CREDENTIALS = [OTS_KEY, TWILIO_TOKEN, DEEPGRAM_KEY];
/** A hand-off run starts the service in the child, bundling the workflows as npm start does: ~10 s of CPU. */
const HANDOFF_TIMEOUT_MS = 90_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run smoke`'s script with only PATH, HOME and `env`: no credential of the machine's leaks in. */
function runSmoke(env: Record<string, string>, opts: { whenOutput?: (text: string, kill: () => void) => void } = {}) {
  return new Promise<Run>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/smoke/index.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.whenOutput?.(stdout, () => child.kill('SIGINT'));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// ---- Onetime Secret: the emulator behind a proxy that records both directions ----

interface OtsFake {
  baseUrl: string;
  emulator: OtsEmulator;
  /** Every request and response body that went through. */
  wire: string[];
  close(): Promise<void>;
}

async function startOts(): Promise<OtsFake> {
  const ots = await startOtsEmulatorServer({ credentials: { username: OTS_USER, apiKey: OTS_KEY } });
  const target = new URL(ots.baseUrl);
  const wire: string[] = [];
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      wire.push(body.toString());
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      request(`${target.origin}${req.url}`, { method: req.method as 'GET', headers, body: body.length ? body : null })
        .then(async (answer) => {
          const text = await answer.body.text();
          wire.push(text);
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(answer.headers))
            if (typeof v === 'string' && !['transfer-encoding', 'connection', 'content-length'].includes(k)) out[k] = v;
          res.writeHead(answer.statusCode, out).end(text);
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}${target.pathname}`,
    emulator: ots.emulator,
    wire,
    async close() {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
      await ots.close();
    },
  };
}

/** What the wire carried that must never be printed: values and passphrases sent, keys answered. */
function wireSecrets(wire: string[]): string[] {
  const found = new Set<string>();
  for (const text of wire) {
    for (const [, v] of new URLSearchParams(text)) if (v.length >= 8) found.add(v);
    try {
      const walk = (o: unknown) => {
        if (typeof o === 'string' && o.length >= 8) found.add(o);
        else if (o && typeof o === 'object') Object.values(o).forEach(walk);
      };
      walk(JSON.parse(text));
    } catch {
      /* a form body */
    }
    for (const k of text.match(/\b[0-9a-z]{20,}\b/g) ?? []) found.add(k);
  }
  // What the output may carry for its own reasons: URLs (shortened keys are checked by the key tokens), field and
  // state names, the account's address, numbers and dates, and v2's short ids (`shortid`, `secret_shortid`: a key's
  // first 8 characters, which the server hands out as a non-capability, lib/onetime/models/receipt/features/
  // safe_dump_fields.rb, and which the hand-off's notes name by design).
  const harmless = (t: string) =>
    /^https?:/.test(t) ||
    /^[a-z_]{1,20}$/.test(t) ||
    t.includes('@') ||
    /^[\d.:TZ+-]+$/.test(t) ||
    /^[0-9a-z]{8}$/.test(t);
  return [...found].filter((t) => !harmless(t));
}

/** Every receipt and secret key the emulator handed out. */
function keysOf(emulator: OtsEmulator): string[] {
  return [...emulator.store.receipts.values()].flatMap((r) => [r.key, r.secretKey]);
}

function liveSecrets(emulator: OtsEmulator): number {
  return [...emulator.store.receipts.values()].filter((r) => r.state === 'new').length;
}

// ---- Twilio: the fake, reached by the child's twilio-node through HTTP_PROXY, TLS intercepted ----

interface TwilioIntercept {
  fake: TwilioFake;
  env: Record<string, string>;
  close(opts?: { drop?: boolean }): Promise<void>;
}

/** A CA the child trusts (NODE_EXTRA_CA_CERTS) and a certificate for api.twilio.com signed by it. */
function twilioCertificates(dir: string): { caPath: string; cert: string; key: string } {
  const keyPair = () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    return {
      pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string),
      priv: forge.pki.privateKeyFromPem(keyPem),
      keyPem,
    };
  };
  const make = (cn: string, k: ReturnType<typeof keyPair>, issuer?: { cert: forge.pki.Certificate; priv: any }) => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = k.pub;
    cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + 3600_000);
    cert.setSubject([{ name: 'commonName', value: cn }]);
    cert.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: cn }]);
    cert.setExtensions(
      issuer
        ? [
            { name: 'basicConstraints', cA: false },
            { name: 'extKeyUsage', serverAuth: true },
            { name: 'subjectAltName', altNames: [{ type: 2, value: 'api.twilio.com' }] },
          ]
        : [
            { name: 'basicConstraints', cA: true, critical: true },
            { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
          ],
    );
    cert.sign(issuer?.priv ?? k.priv, forge.md.sha256.create());
    return cert;
  };
  const caKey = keyPair();
  const ca = make('ots-handoff smoke test CA', caKey);
  const leafKey = keyPair();
  const leaf = make('api.twilio.com', leafKey, { cert: ca, priv: caKey.priv });
  const caPath = join(dir, `ca-${randomBytes(4).toString('hex')}.pem`); // one per fake: tests run at once
  writeFileSync(caPath, forge.pki.certificateToPem(ca));
  return { caPath, cert: forge.pki.certificateToPem(leaf), key: leafKey.keyPem };
}

async function startTwilio(dir: string, opts: { callbackDelayMs?: number } = {}): Promise<TwilioIntercept> {
  const fake = createTwilioFake({
    accountSid: TWILIO_SID,
    authToken: TWILIO_TOKEN,
    callbackDelayMs: opts.callbackDelayMs ?? 20,
  });
  const { caPath, cert, key } = twilioCertificates(dir);
  // What twilio-node would have handed its httpClient, rebuilt from the HTTP request it sent over TLS.
  const api = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [user, password] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':');
      fake.httpClient
        .request({
          method: (req.method ?? 'GET').toLowerCase(),
          uri: `https://api.twilio.com${req.url}`,
          username: user,
          password,
          headers: { 'Content-Type': String(req.headers['content-type']).split(';')[0]! },
          data: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString())),
        })
        .then((answer) => {
          res.writeHead(answer.statusCode, { 'content-type': 'application/json' }).end(String(answer.body));
        })
        .catch(() => res.destroy());
    });
  });
  const context = tls.createSecureContext({ cert, key });
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, socket) => {
    if (req.url !== 'api.twilio.com:443') return socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    api.emit('connection', new tls.TLSSocket(socket, { isServer: true, secureContext: context }));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    fake,
    env: {
      HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      NODE_EXTRA_CA_CERTS: caPath,
      TWILIO_ACCOUNT_SID: TWILIO_SID,
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
    },
    /** Waits for the status callbacks still due, unless `drop`: then they are abandoned (fake.reset). */
    async close(opts: { drop?: boolean } = {}) {
      if (opts.drop) fake.reset();
      else await fake.settled();
      proxy.closeAllConnections();
      api.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    },
  };
}

// ---- Deepgram: the fake, "hearing" the committed caller-word clips by fingerprint ----

async function startDeepgram() {
  const clips = loadClipSet(undefined, { required: Object.keys(CALLER_WORDS) });
  const recognizers = new Map<number, ReturnType<typeof createClipRecognizer>>();
  const fake = createDeepgramFake({
    apiKey: DEEPGRAM_KEY,
    transcribe(frame, id) {
      let r = recognizers.get(id);
      if (!r) recognizers.set(id, (r = createClipRecognizer(clips, { names: Object.keys(CALLER_WORDS) })));
      const last = r.write(frame).at(-1) as CallerWordName | undefined;
      return last ? CALLER_WORDS[last] : undefined;
    },
  });
  return fake.listen(0);
}

// ---- the runs ----

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ots-handoff-smoke-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Checks that no secret, passphrase, key, link or credential is in the output, nor the safety net's marker. */
function expectNothingLeaked(run: Run, secrets: string[]) {
  const text = `${run.stdout}\n${run.stderr}`;
  for (const s of [...secrets, ...CREDENTIALS].filter((x) => x.length >= 6))
    expect(text, `the output holds ${s.slice(0, 4)}…`).not.toContain(s);
  // A key is shown by its first 6 (smoke) or 8 (a note's receipt ref) characters at most, never a long prefix.
  for (const k of secrets.filter((x) => /^[0-9a-z]{20,}$/.test(x)))
    expect(text, `the output holds 12 characters of ${k.slice(0, 4)}…`).not.toContain(k.slice(0, 12));
  expect(text).not.toContain('[withheld]');
}

// Eight child processes at once on a 2-core machine: each gets more than vitest's default 30 s.
describe.concurrent('npm run smoke', { timeout: 60_000 }, () => {
  it('with nothing set, says which variables to set and exits 0', async () => {
    const run = await runSmoke({});
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/skipped: no credentials are set/);
    for (const v of [
      'OTS_USERNAME',
      'OTS_API_KEY',
      'OTS_BASE_URL',
      'OTS_API_VERSION',
      'TWILIO_ACCOUNT_SID',
      'TWILIO_AUTH_TOKEN',
      'TWILIO_FROM',
      'SMOKE_SMS_TO',
      'DEEPGRAM_API_KEY',
    ])
      expect(run.stdout).toContain(v);
  });

  it('with a group half set or a bad value, names the variable and exits 2 without running anything', async () => {
    const [partial, bad] = await Promise.all([
      runSmoke({ TWILIO_ACCOUNT_SID: TWILIO_SID, TWILIO_FROM: '+15005550006' }),
      // loadConfig's own rule and message (src/config.ts), the value never echoed; SMOKE_SMS_TO by the agent API's
      // rule for link.to (src/http/schemas.ts).
      runSmoke({
        OTS_USERNAME: 'not-an-email',
        OTS_API_KEY: OTS_KEY,
        ...{ TWILIO_ACCOUNT_SID: TWILIO_SID, TWILIO_AUTH_TOKEN: TWILIO_TOKEN, TWILIO_FROM: '+15005550006' },
        SMOKE_SMS_TO: '555-1234',
      }),
    ]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toMatch(/TWILIO_AUTH_TOKEN: must be set too/);
    expect(partial.stderr).toMatch(/SMOKE_SMS_TO: must be set too/);
    expect(partial.stderr).not.toMatch(/TWILIO_FROM:/);

    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/OTS_USERNAME: must be the account email/);
    expect(bad.stderr).toMatch(/SMOKE_SMS_TO: must be an E\.164 phone number/);
    expect(bad.stdout).toBe('');
    expectNothingLeaked(bad, ['not-an-email', '555-1234']);
  });

  it('runs the OTS and Deepgram parts against loopback fakes, burns what it made, prints nothing secret', async () => {
    const ots = await startOts();
    const deepgram = await startDeepgram();
    try {
      const run = await runSmoke({
        OTS_USERNAME: OTS_USER,
        OTS_API_KEY: OTS_KEY,
        OTS_BASE_URL: ots.baseUrl,
        DEEPGRAM_API_KEY: DEEPGRAM_KEY,
        DEEPGRAM_BASE_URL: deepgram.baseUrl,
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const out = run.stdout;
      // auto: v2 where the emulator offers it, else v1 (src/ots/client.ts detectApiVersion says which and why).
      expect(out).toMatch(/^OTS: API v[12] \(.+\), http:\/\/127\.0\.0\.1:\d+$/m);
      expect(out).toMatch(
        /^OTS: created secret \(value redacted, 24 chars; passphrase redacted, 16 chars\), receipt [0-9a-z]{6}…, link http:\/\/127\.0\.0\.1:\d+\/sandbox\/ots\/secret\/[0-9a-z]{6}…, ttl \d+ s$/m,
      );
      expect(out).toMatch(/^OTS: receipt [0-9a-z]{6}… says new, passphrase required$/m);
      expect(out).toMatch(/^OTS: burned [0-9a-z]{6}…$/m);
      expect(out).toMatch(/^OTS: receipt [0-9a-z]{6}… says burned$/m);
      expect(out).toMatch(
        /^Skipped: hand-off \(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM and SMOKE_SMS_TO not set\)$/m,
      );
      expect(out).toMatch(/^Deepgram: caller-repeat \("Repeat\.", [\d.]+ s\) heard as repeat \(expected repeat\)$/m);
      expect(out).toMatch(/^Deepgram: caller-got-it \("Got it\.", [\d.]+ s\) heard as got_it \(expected got_it\)$/m);
      expect(out).toMatch(/^Smoke test passed: OTS passed, hand-off skipped, Deepgram passed; 1 made, 1 burned\.$/m);
      expect(ots.emulator.secretCount()).toBe(1);
      expect(liveSecrets(ots.emulator)).toBe(0);
      const secrets = wireSecrets(ots.wire);
      expect(secrets.length).toBeGreaterThanOrEqual(4); // value, passphrase, receipt key, secret key
      expectNothingLeaked(run, [...secrets, ...keysOf(ots.emulator)]);
    } finally {
      await Promise.all([ots.close(), deepgram.close()]);
    }
  });

  it('on API v1, a step failing after the create still burns the secret, and exits 1 naming the step', async () => {
    const ots = await startOts();
    ots.emulator.injectFault({ method: 'GET', path: '/api/v1/private/recent', status: 500 });
    try {
      const run = await runSmoke({
        OTS_USERNAME: OTS_USER,
        OTS_API_KEY: OTS_KEY,
        OTS_BASE_URL: ots.baseUrl,
        OTS_API_VERSION: 'v1',
      });
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^OTS: API v1 \(OTS_API_VERSION=v1\)/m);
      expect(run.stderr).toMatch(/^FAILED OTS recent: /m);
      expect(run.stdout).toMatch(/^Cleanup: secret [0-9a-z]{6}… burned$/m);
      expect(run.stderr).toMatch(/Smoke test FAILED: OTS failed.*1 made, 1 burned/);
      expect(ots.emulator.secretCount()).toBe(1);
      expect(liveSecrets(ots.emulator)).toBe(0);
      expectNothingLeaked(run, [...wireSecrets(ots.wire), ...keysOf(ots.emulator)]);
    } finally {
      await ots.close();
    }
  });

  it('on Ctrl-C in the middle of a step, burns what it made and exits 130', async () => {
    const ots = await startOts();
    // The receipt list after the create never answers: the run is stuck there until Ctrl-C.
    ots.emulator.injectFault({ method: 'GET', path: '/api/v1/private/recent', stall: { ms: 60_000 } });
    try {
      let sent = false;
      const run = await runSmoke(
        { OTS_USERNAME: OTS_USER, OTS_API_KEY: OTS_KEY, OTS_BASE_URL: ots.baseUrl, OTS_API_VERSION: 'v1' },
        {
          whenOutput: (text, interrupt) => {
            if (!sent && /says new/.test(text)) {
              sent = true;
              // The list request is on its way; give it a moment to reach the stalled server.
              setTimeout(interrupt, 300);
            }
          },
        },
      );
      ots.emulator.releaseStalled();
      expect(run.code).toBe(130);
      expect(run.stderr).toMatch(/^SIGINT: stopping; burning what was made first/m);
      expect(run.stdout).toMatch(/^Cleanup: secret [0-9a-z]{6}… burned$/m);
      expect(run.stderr).toMatch(/Smoke test interrupted by SIGINT: OTS interrupted.*1 made, 1 burned/);
      expect(liveSecrets(ots.emulator)).toBe(0);
      expectNothingLeaked(run, [...wireSecrets(ots.wire), ...keysOf(ots.emulator)]);
    } finally {
      await ots.close();
    }
  });

  it('with Twilio but no OTS account, texts a plain notice through the service sender and skips the hand-off', async () => {
    const twilio = await startTwilio(dir);
    try {
      const run = await runSmoke({ ...twilio.env, TWILIO_FROM: '+15005550006', SMOKE_SMS_TO: SMS_TO });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(
        /^Skipped: hand-off \(it needs Onetime Secret too: OTS_USERNAME and OTS_API_KEY not set\)$/m,
      );
      expect(run.stdout).toMatch(
        /^SMS: sent SM[0-9a-f]{6}… to \+1555…0001 \(queued; a notice without link or secret\)$/m,
      );
      const outbox = twilio.fake.outbox();
      expect(outbox).toHaveLength(1);
      expect(outbox[0]).toMatchObject({ to: SMS_TO, from: '+15005550006' });
      expect(outbox[0]!.body).toMatch(/^ots-handoff smoke test from .+: checks that this service can text you/);
      expectNothingLeaked(run, []);
    } finally {
      await twilio.close();
    }
  });

  it(
    'runs a real hand-off through the service: link by SMS, delivery reported, burned through the API',
    { timeout: HANDOFF_TIMEOUT_MS },
    async () => {
      const ots = await startOts();
      const twilio = await startTwilio(dir);
      const port = await freePort();
      try {
        const run = await runSmoke({
          OTS_USERNAME: OTS_USER,
          OTS_API_KEY: OTS_KEY,
          OTS_BASE_URL: ots.baseUrl,
          ...twilio.env,
          TWILIO_FROM: '+15017122661',
          SMOKE_SMS_TO: SMS_TO,
          // Callbacks can reach it (the fake posts to loopback): smoke listens there and waits for the delivery.
          PORT: String(port),
          PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
        });
        expect(run.stderr).toBe('');
        expect(run.code).toBe(0);
        const out = run.stdout;
        expect(out).toMatch(/^Temporal: throwaway dev server at 127\.0\.0\.1:\d+/m);
        expect(out).toMatch(
          new RegExp(`^Service: http://127\\.0\\.0\\.1:${port}, Onetime Secret API v[12], Twilio live`, 'm'),
        );
        expect(out).toMatch(
          /^Hand-off: POST \/v1\/shares → 202 shr_\S+ \(ticket SMOKE-\d{14}; value redacted, 24 chars;/m,
        );
        expect(out).toMatch(/^Hand-off: note: Onetime Secret created \(receipt [0-9a-z]{8}…/m);
        expect(out).toMatch(
          /^SMS: sent SM[0-9a-f]{6}… to \+1555…0001 at \S+ \(body redacted: it holds the link\); hand-off awaiting_view$/m,
        );
        expect(out).toMatch(
          /^Hand-off: Twilio reports delivered \(a signed status callback reached PUBLIC_BASE_URL\)$/m,
        );
        expect(out).toMatch(/^Hand-off: POST \/v1\/shares\/shr_\S+\/burn → 200 burned$/m);
        expect(out).toMatch(/^OTS: receipt [0-9a-z]{6}… of shr_\S+ says burned \(checked with the OTS client\)$/m);
        expect(out).toMatch(/^Smoke test passed: OTS passed, hand-off passed, Deepgram skipped; 2 made, 2 burned\.$/m);
        // Two secrets (the client part's and the hand-off's), both burned; one SMS, holding the hand-off's link.
        expect(ots.emulator.secretCount()).toBe(2);
        expect(liveSecrets(ots.emulator)).toBe(0);
        const sms = twilio.fake.outbox();
        expect(sms).toHaveLength(1);
        const link = /https?:\/\/\S+\/secret\/[0-9a-z]+/.exec(sms[0]!.body)?.[0];
        expect(link).toBeDefined();
        expectNothingLeaked(run, [
          ...wireSecrets(ots.wire),
          ...keysOf(ots.emulator),
          link!,
          link!.split('/secret/')[1]!,
        ]);
      } finally {
        await Promise.all([ots.close(), twilio.close()]);
      }
    },
  );
  it(
    'on Ctrl-C while it waits for the delivery, burns the hand-off through the API and exits 130',
    { timeout: HANDOFF_TIMEOUT_MS },
    async () => {
      const ots = await startOts();
      // Slow status callbacks (queued, sent, delivered 5 s apart): the run is still waiting for the delivery report
      // when the test presses Ctrl-C.
      const twilio = await startTwilio(dir, { callbackDelayMs: 5_000 });
      const port = await freePort();
      try {
        let sent = false;
        // TEMPORAL_ADDRESS: the test run's dev server, where smoke's workers poll a task queue of their own
        // (PAYLOAD_KEYS then comes from the environment, as for npm start).
        const run = await runSmoke(
          {
            OTS_USERNAME: OTS_USER,
            OTS_API_KEY: OTS_KEY,
            OTS_BASE_URL: ots.baseUrl,
            ...twilio.env,
            TWILIO_FROM: '+15017122661',
            SMOKE_SMS_TO: SMS_TO,
            PORT: String(port),
            PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
            TEMPORAL_ADDRESS: inject('temporalAddress'),
            PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
          },
          {
            whenOutput: (text, interrupt) => {
              if (!sent && /waiting up to 60 s for Twilio's status callbacks/.test(text)) {
                sent = true;
                setTimeout(interrupt, 300);
              }
            },
          },
        );
        expect(run.code).toBe(130);
        expect(run.stdout).toContain(`Temporal: ${inject('temporalAddress')} (TEMPORAL_ADDRESS), namespace default`);
        expect(run.stderr).toMatch(/^SIGINT: stopping; burning what was made first/m);
        // The workers outlive the Ctrl-C (smoke's Temporal runtime has no shutdown signals), so the API can burn it.
        expect(run.stdout).toMatch(/^Cleanup: hand-off shr_\S+ burned through POST \/v1\/shares\/:id\/burn$/m);
        expect(run.stderr).toMatch(
          /Smoke test interrupted by SIGINT: OTS passed, hand-off interrupted, Deepgram skipped; 2 made, 2 burned\./,
        );
        expect(ots.emulator.secretCount()).toBe(2);
        expect(liveSecrets(ots.emulator)).toBe(0);
        const sms = twilio.fake.outbox();
        expect(sms).toHaveLength(1);
        const link = /https?:\/\/\S+\/secret\/[0-9a-z]+/.exec(sms[0]!.body)![0];
        expectNothingLeaked(run, [...wireSecrets(ots.wire), ...keysOf(ots.emulator), link, link.split('/secret/')[1]!]);
      } finally {
        // The callbacks still due would go to a service that is gone.
        await Promise.all([ots.close(), twilio.close({ drop: true })]);
      }
    },
  );
});
