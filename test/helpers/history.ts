// Temporal history as a technician or an attacker with database access would see it: the raw payloads (must all be
// ciphertext) and the payloads decoded through our codec server (must show every field, with the secret sealed).
import { payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import { request } from 'undici';
import { expect } from 'vitest';
import { ENCODING } from '../../src/temporal/payload-codec.js';
import { payloadsIn } from '../../src/temporal/history-payloads.js';

export { payloadsIn };

/**
 * Failure objects the SDK wrote (they carry message and stack trace, the text the failure converter encodes). The
 * server's own failures (serverFailureInfo, e.g. "UnhandledCommand" when a signal races a workflow task
 * completion, and timeoutFailureInfo, e.g. "activity Heartbeat timeout" after a worker died) are written by
 * Temporal itself, hold no text of ours (a timeout's last heartbeat details are payloads, checked as such), and
 * are left out.
 */
function failuresIn(history: unknown): { message?: string; stackTrace?: string }[] {
  const out: { message?: string; stackTrace?: string }[] = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return;
    if (Array.isArray(v)) return v.forEach(walk);
    const o = v as Record<string, unknown>;
    if ('encodedAttributes' in o && 'stackTrace' in o && !o.serverFailureInfo && !o.timeoutFailureInfo)
      out.push(o as never);
    for (const x of Object.values(o)) walk(x);
  };
  walk(history);
  return out;
}

/**
 * The workflows' patch ids (`patched(…)` in workflows/). Temporal's core writes a patch marker's details itself, as
 * json/plain, outside the payload codec: they hold the patch id and a flag, nothing of a hand-off's.
 */
const PATCH_IDS = ['live-window', 'tell-served-call-ended'];

/** The payloads that went through the payload codec: all but the patch markers' (see PATCH_IDS). */
export function codecPayloadsIn(history: unknown) {
  const events = ((history as { events?: unknown[] }).events ?? []) as {
    markerRecordedEventAttributes?: { markerName?: string | null } | null;
  }[];
  return payloadsIn({ events: events.filter((e) => e.markerRecordedEventAttributes?.markerName !== 'core_patch') });
}

/**
 * Raw history holds only ciphertext: every payload is codec-encrypted, every failure's text is encoded. The one
 * exception, patch markers, must hold nothing but a known patch id.
 */
export function expectOnlyCiphertext(history: unknown): void {
  const events = ((history as { events?: unknown[] }).events ?? []) as {
    markerRecordedEventAttributes?: { markerName?: string | null; details?: unknown } | null;
  }[];
  for (const e of events) {
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName !== 'core_patch') continue;
    for (const p of payloadsIn(m.details)) {
      const data = JSON.parse(Buffer.from(p.data ?? []).toString()) as Record<string, unknown>;
      for (const v of Object.values(data)) expect(typeof v === 'boolean' || PATCH_IDS.includes(String(v))).toBe(true);
    }
  }
  const payloads = codecPayloadsIn(history);
  expect(payloads.length, 'a hand-off history has payloads').toBeGreaterThan(0);
  for (const p of payloads) expect(Buffer.from(p.metadata?.encoding ?? []).toString()).toBe(ENCODING);
  for (const f of failuresIn(history)) {
    expect(['', 'Encoded failure']).toContain(f.message ?? '');
    expect(f.stackTrace ?? '').toBe('');
  }
}

/** Decodes a history's payloads through the codec server over HTTP, as Temporal UI does; returns them as text. */
export async function decodeThroughCodecServer(
  baseUrl: string,
  token: string,
  history: unknown,
  namespace = 'default',
): Promise<string[]> {
  const payloads = payloadsIn(history);
  const res = await request(`${baseUrl}/codec/decode`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-namespace': namespace },
    body: JSON.stringify({ payloads: payloads.map(payloadToJSON) }),
  });
  const body = (await res.body.json()) as { payloads: { metadata?: Record<string, string>; data?: string }[] };
  expect(res.statusCode).toBe(200);
  expect(body.payloads).toHaveLength(payloads.length);
  return body.payloads.map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8'));
}
