// Connecting to a secured Temporal (docs/temporal.md, "Connecting to a secured Temporal"): the service's client and
// workers reach a Temporal frontend that demands mutual TLS, with certificates made for this run
// (test/helpers/tls-certs.ts); without a client certificate, with the wrong CA or the wrong server name they are
// refused.
//
// The server: `temporal server start-dev` has no TLS option (CLI 1.5.1 `start-dev --help`; its server config sets
// no TLS at all, temporalio/cli temporalcli/devserver/server.go: "the dev server doesn't support TLS"). So the run's
// shared dev server (test/global-setup.ts) sits behind a TLS terminator made with node:tls, which demands a client
// certificate signed by the test CA and forwards the decrypted HTTP/2 to it: the TLS server is Node's OpenSSL, the
// Temporal behind it is real. The dev server cannot check an API key either; that TEMPORAL_API_KEY reaches both
// connections is checked on the options in test/unit/config.test.ts.
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { temporalConnectionOptions, type TemporalConnectionOptions } from '../../src/temporal/connection-options.js';
import { startTestService } from '../helpers/service.js';
import { makeTestPki, writeTestPki, type TestPki } from '../helpers/tls-certs.js';

interface MtlsProxy {
  address: string;
  /** Common names of the client certificates of the connections let through. */
  accepted: string[];
  /** Why handshakes failed, as the server saw it. */
  refused: string[];
  close(): Promise<void>;
}

/** A TLS front for `target` (host:port, plain gRPC) that accepts only clients with a certificate from `pki.ca`. */
async function startMtlsProxy(target: string, pki: TestPki): Promise<MtlsProxy> {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<Socket>();
  const accepted: string[] = [];
  const refused: string[] = [];
  const server = createServer(
    {
      key: pki.serverKey,
      cert: pki.serverCert,
      ca: pki.ca,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'], // gRPC is HTTP/2; both SDK clients offer h2
    },
    (socket: TLSSocket) => {
      accepted.push(String(socket.getPeerCertificate().subject?.CN));
      const upstream = netConnect({ host, port: Number(port) });
      for (const s of [socket, upstream]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      }
      socket.pipe(upstream).pipe(socket);
      upstream.once('error', () => socket.destroy());
      socket.once('error', () => upstream.destroy());
    },
  );
  server.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    accepted,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'temporal-tls-'));
let pki: TestPki;
let paths: Record<keyof TestPki, string>;
let proxy: MtlsProxy;
const payloadKeys = `k1:${randomBytes(32).toString('base64')}`;

/** The connection options the service builds from this environment (TEMPORAL_ADDRESS = the TLS front). */
function optionsFor(env: Record<string, string>): TemporalConnectionOptions {
  const config = loadConfig({ TEMPORAL_ADDRESS: proxy.address, PAYLOAD_KEYS: payloadKeys, ...env });
  return temporalConnectionOptions(config, proxy.address);
}

/** Both SDK connections with these options: the workers' NativeConnection and the client's Connection. */
async function connectBoth(options: TemporalConnectionOptions): Promise<{ native: unknown; client: unknown }> {
  const native = await NativeConnection.connect(options).then(
    (c) => c.close().then(() => 'connected'),
    (err: Error) => err,
  );
  // A refused handshake shows on this side only as "Failed to connect before the deadline": keep the wait short.
  const client = await Connection.connect({ ...options, connectTimeout: 3_000 }).then(
    async (c) => {
      const { status } = await c.healthService.check({});
      await c.close();
      return status === 1 ? 'connected' : `health ${status}`;
    },
    (err: Error) => err,
  );
  return { native, client };
}

beforeAll(async () => {
  pki = makeTestPki();
  paths = writeTestPki(pki, dir);
  proxy = await startMtlsProxy(inject('temporalAddress'), pki);
});
afterAll(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a Temporal that demands mutual TLS', () => {
  it('the service (client and workers) connects with the CA and a client certificate, is ready, and runs a hand-off', async () => {
    const env = {
      TEMPORAL_ADDRESS: proxy.address,
      PAYLOAD_KEYS: payloadKeys,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca,
      TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: paths.clientKey,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    };
    const svc = await startTestService(env, undefined, proxy.address);
    try {
      const ready = await request(`${svc.url}/readyz`);
      expect(ready.statusCode).toBe(200);
      expect(await ready.body.json()).toMatchObject({ ok: true, checks: { temporal: true, worker: true } });

      // A hand-off: the API starts the workflow through the client, the workers run it (create the secret, send
      // the SMS) over their own NativeConnection; both only through the TLS front.
      const res = await svc.api('POST', '/v1/shares', {
        ticketId: 'T-TLS-1',
        secret: { generate: true },
        link: { channel: 'sms', to: '+15550109001' },
      });
      expect(res.status).toBe(202);
      await svc.waitForState(res.body.shareId, 'awaiting_view');
      expect((await svc.api('POST', `/v1/shares/${res.body.shareId}/burn`)).status).toBe(200);
    } finally {
      await svc.stop();
    }
    // At least the client's and the workers' connections, each with the test client certificate.
    expect(proxy.accepted.length).toBeGreaterThanOrEqual(2);
    expect(new Set(proxy.accepted)).toEqual(new Set(['ots-handoff test worker']));
  });

  it('the *_DATA forms (PEM text in the variable) connect the same', async () => {
    const options = optionsFor({
      TEMPORAL_TLS_SERVER_CA_CERT_DATA: pki.ca,
      TEMPORAL_TLS_CLIENT_CERT_DATA: pki.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_DATA: pki.clientKey.replaceAll('\n', '\\n'), // as an env file holds it, on one line
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
    expect(await connectBoth(options)).toEqual({ native: 'connected', client: 'connected' });
  });
});

// Concurrent: on the client's side each refusal waits out the short connect timeout.
describe.concurrent('refused', () => {
  it('without a client certificate: the server refuses the connection', async ({ expect }) => {
    const options = optionsFor({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca, TEMPORAL_TLS_SERVER_NAME: 'localhost' });
    expect(options.tls).toEqual({ serverRootCACertificate: expect.any(Buffer), serverNameOverride: 'localhost' });
    const { native, client } = await connectBoth(options);
    expect(native).toBeInstanceOf(Error);
    // In TLS 1.3 the client has finished its side of the handshake when the server checks for its certificate, so
    // it reads either the server's alert or, when the socket closes first, only "connection closed".
    expect((native as Error).message).toMatch(/CertificateRequired|connection closed/);
    expect(client).toBeInstanceOf(Error);
    // The refusal was the server's: it asked for a certificate and got none.
    expect(proxy.refused.join('\n')).toMatch(/peer did not return a certificate/);
  });

  it('with the wrong CA: the client refuses the server', async ({ expect }) => {
    const { native, client } = await connectBoth(
      optionsFor({
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.otherCa,
        TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: paths.clientKey,
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
      }),
    );
    expect(native).toBeInstanceOf(Error);
    expect((native as Error).message).toMatch(/UnknownIssuer/);
    expect(client).toBeInstanceOf(Error);
  });

  it('with a server name the certificate does not carry: the client refuses the server', async ({ expect }) => {
    const { native, client } = await connectBoth(
      optionsFor({
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: paths.ca,
        TEMPORAL_TLS_CLIENT_CERT_PATH: paths.clientCert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: paths.clientKey,
        TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com',
      }),
    );
    expect(native).toBeInstanceOf(Error);
    expect((native as Error).message).toMatch(/NotValidForName/);
    expect(client).toBeInstanceOf(Error);
  });

  it('without TLS: the connection fails', async ({ expect }) => {
    const plain = optionsFor({});
    expect(plain).toEqual({ address: proxy.address });
    await expect(NativeConnection.connect(plain)).rejects.toThrow();
  });
});
