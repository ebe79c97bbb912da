// Certificates for the TLS tests, made in Node on each run: RSA keys from node:crypto, the X.509 structure and
// signatures from node-forge (Node itself can parse certificates but not issue them). A CA; a server certificate for
// localhost and 127.0.0.1; a client certificate (mutual TLS); and a second CA that signed neither. Both SDK
// connections check them: the client's through Node's OpenSSL, the workers' through rustls (webpki), which wants a
// subjectAltName on the server certificate, basicConstraints CA on the CA and the matching extendedKeyUsage.
import forge from 'node-forge';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  /** PEM texts. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting it instead of `ca` must fail. */
  otherCa: string;
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  keyPem: string;
}

function rsaKey(): { publicKey: forge.pki.rsa.PublicKey; key: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string),
    key: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey,
    keyPem,
  };
}

function issue(
  commonName: string,
  role: 'ca' | 'server' | 'client',
  issuer?: Issued, // self-signed when undefined
): Issued {
  const { publicKey, key, keyPem } = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`; // positive
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: role === 'ca', critical: true },
    role === 'ca'
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    ...(role === 'ca' ? [] : [{ name: 'extKeyUsage', serverAuth: role === 'server', clientAuth: role === 'client' }]),
    ...(role === 'server'
      ? [
          {
            name: 'subjectAltName',
            altNames: [
              { type: 2, value: 'localhost' }, // dNSName
              { type: 7, ip: '127.0.0.1' }, // iPAddress
            ],
          },
        ]
      : []),
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(issuer?.key ?? key, forge.md.sha256.create());
  return { cert, key, keyPem };
}

export function makeTestPki(): TestPki {
  const ca = issue('ots-handoff test CA', 'ca');
  const server = issue('localhost', 'server', ca);
  const client = issue('ots-handoff test worker', 'client', ca);
  const other = issue('some other CA', 'ca');
  const pem = (i: Issued) => forge.pki.certificateToPem(i.cert).replaceAll('\r\n', '\n'); // forge writes CRLF
  return {
    ca: pem(ca),
    serverCert: pem(server),
    serverKey: server.keyPem,
    clientCert: pem(client),
    clientKey: client.keyPem,
    otherCa: pem(other),
  };
}

/** Writes each PEM to `<dir>/<name>.pem` and returns the paths. */
export function writeTestPki(pki: TestPki, dir: string): Record<keyof TestPki, string> {
  const paths = {} as Record<keyof TestPki, string>;
  for (const name of Object.keys(pki) as (keyof TestPki)[]) {
    paths[name] = join(dir, `${name}.pem`);
    writeFileSync(paths[name], pki[name], { mode: 0o600 });
  }
  return paths;
}
