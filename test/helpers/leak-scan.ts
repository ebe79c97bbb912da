// The leak scan every end-to-end scenario ends with: no secret value or passphrase it used may appear in anything
// the service wrote (docs/architecture.md, "Confidentiality").
import { expect } from 'vitest';

export interface Written {
  logs: string[];
  responses: string[];
  notes: string[];
  smsBodies: string[];
  history: string[];
  other?: string[];
}

/** Also catches the secret in common encodings (base64, URL-encoding, JSON-escaped). */
function variants(secret: string): string[] {
  return [
    secret,
    Buffer.from(secret).toString('base64'),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    // a digit passphrase as it is read out or printed: in groups of three
    ...(/^\d{6,}$/.test(secret) ? [secret.replace(/(\d{3})(?=\d)/g, '$1 ')] : []),
  ].filter((v, i, a) => v.length >= 6 && a.indexOf(v) === i);
}

export function expectNoLeaks(secrets: string[], written: Written): void {
  for (const secret of secrets) {
    expect(secret.length, 'a scanned secret must be long enough to be meaningful').toBeGreaterThanOrEqual(6);
    for (const [where, items] of Object.entries(written)) {
      for (const item of items ?? []) {
        for (const v of variants(secret)) {
          if (item.includes(v))
            throw new Error(
              `secret material leaked into ${where}: …${item.slice(Math.max(0, item.indexOf(v) - 80), item.indexOf(v))}[SECRET]…`,
            );
        }
      }
    }
  }
}
