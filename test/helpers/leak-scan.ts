// The leak scan every end-to-end scenario ends with: no secret value or passphrase it used may appear in anything
// the service wrote (docs/architecture.md, "Confidentiality").
import { expect } from 'vitest';

export interface Written {
  logs: string[];
  responses: string[];
  notes: string[];
  smsBodies: string[];
  history: string[];
  /** GET /metrics scrapes. */
  metrics?: string[];
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

/**
 * The label values of a Prometheus text scrape (GET /metrics) carry nothing about a person or a hand-off: none of
 * `forbidden` (share ids, ticket ids, recipients), nothing shaped like a phone number, an email address or a link.
 */
export function expectSafeMetricLabels(scrape: string, forbidden: string[]): void {
  const values = [...scrape.matchAll(/[a-zA-Z_][a-zA-Z0-9_]*="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
  expect(values.length, 'a scrape with no labels at all scans nothing').toBeGreaterThan(0);
  for (const v of values) {
    const bad =
      forbidden.find((f) => f.length >= 4 && v.includes(f)) ??
      (/^\+?[\d ().-]{7,}$/.test(v) ? 'a phone number' : undefined) ??
      (/@/.test(v) ? 'an email address' : undefined) ??
      (/^https?:|\/secret\//.test(v) ? 'a link' : undefined);
    if (bad) throw new Error(`a metric label carries ${bad}: "${v}"`);
  }
}
