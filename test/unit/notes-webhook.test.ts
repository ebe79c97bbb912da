// The PSA notes webhook (src/notes.ts) against a receiver on 127.0.0.1 that verifies exactly as README.md ("For
// technicians") tells a PSA to: the key named by the key id, the HMAC compared in constant time, timestamps older
// than 5 minutes refused, notes deduplicated by their id. Retries of one note (the activity's retry policy, a worker
// crash and replay) carry the same note id, so a receiver adds the note once; a captured request replayed later is
// refused or deduplicated.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeliveryActivities } from '../../activities/delivery.js';
import {
  createNotesWebhook,
  NOTES_KEY_ID_HEADER,
  NOTES_NOTE_ID_HEADER,
  NOTES_SIGNATURE_HEADER,
  NOTES_TIMESTAMP_HEADER,
  noteIdOf,
  NotesWebhookError,
  parseNotesWebhookKeys,
} from '../../src/notes.js';

const K1 = 'old-notes-secret-0123456789abcdef';
const K2 = 'new-notes-secret-fedcba9876543210';

/** The receiver's side, as the README describes it. */
const receiverKeys: Record<string, string> = { k1: K1, k2: K2, default: K1 };
const seen = new Set<string>();
const accepted: { noteId: string; text: string }[] = [];
type Verdict = 'accepted' | 'duplicate' | 'unknown key' | 'bad signature' | 'stale' | 'fail on purpose';
const verdicts: Verdict[] = [];
let failNext = 0;
let now = () => Math.floor(Date.now() / 1000);

function verify(headers: Record<string, string | string[] | undefined>, raw: Buffer): Verdict {
  const secret = receiverKeys[String(headers[NOTES_KEY_ID_HEADER])];
  if (!secret) return 'unknown key';
  const ts = String(headers[NOTES_TIMESTAMP_HEADER]);
  const expected = Buffer.from(
    `sha256=${createHmac('sha256', secret).update(`${ts}.`).update(raw).digest('hex')}`,
    'utf8',
  );
  const got = Buffer.from(String(headers[NOTES_SIGNATURE_HEADER]), 'utf8');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return 'bad signature';
  if (!/^\d+$/.test(ts) || Math.abs(now() - Number(ts)) > 300) return 'stale';
  const body = JSON.parse(raw.toString('utf8')) as { noteId: string; note: { text: string } };
  if (seen.has(body.noteId)) return 'duplicate';
  seen.add(body.noteId);
  accepted.push({ noteId: body.noteId, text: body.note.text });
  return 'accepted';
}

const captured: { headers: Record<string, string>; raw: Buffer }[] = [];
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      captured.push({ headers: req.headers as Record<string, string>, raw });
      if (failNext > 0) {
        failNext--;
        verdicts.push('fail on purpose');
        res.writeHead(503).end();
        return;
      }
      const v = verify(req.headers, raw);
      verdicts.push(v);
      res.writeHead(v === 'accepted' || v === 'duplicate' ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/psa/notes`;
});
afterAll(() => server.close());
beforeEach(() => {
  seen.clear();
  accepted.length = 0;
  verdicts.length = 0;
  captured.length = 0;
  failNext = 0;
  now = () => Math.floor(Date.now() / 1000);
});

const post = (n: number, text = `Link sent (${n})`) => ({
  shareId: 'shr_notes1',
  ticketId: 'T-1',
  note: { at: `2026-11-30T10:00:0${n}.000Z`, text },
});

describe('PSA notes webhook', () => {
  it('a retried note carries the same note id, so the receiver adds it once', async () => {
    const activities = createDeliveryActivities({
      sms: undefined as never,
      sealer: undefined as never,
      notes: createNotesWebhook({ url, secret: `k2:${K2},k1:${K1}` }),
    });
    failNext = 1;
    // Attempt 1 fails at the receiver; Temporal retries the activity with the same arguments.
    await expect(activities.postNote(post(1))).rejects.toThrow(NotesWebhookError);
    await activities.postNote(post(1));
    // The receiver's 2xx was lost on the way back: one more retry.
    await activities.postNote(post(1));
    await activities.postNote(post(2));
    expect(verdicts).toEqual(['fail on purpose', 'accepted', 'duplicate', 'accepted']);
    expect(accepted.map((a) => a.text)).toEqual(['Link sent (1)', 'Link sent (2)']);
    const ids = captured.map((c) => c.headers[NOTES_NOTE_ID_HEADER]);
    expect(ids[0]).toMatch(/^note_[0-9a-f]{32}$/);
    expect(ids.slice(0, 3)).toEqual([ids[0], ids[0], ids[0]]);
    expect(ids[3]).not.toBe(ids[0]);
    for (const c of captured) {
      // The newest key signs; the header's note id is the body's (which the signature covers).
      expect(c.headers[NOTES_KEY_ID_HEADER]).toBe('k2');
      expect(JSON.parse(c.raw.toString()).noteId).toBe(c.headers[NOTES_NOTE_ID_HEADER]);
      expect(JSON.parse(c.raw.toString())).toMatchObject({
        type: 'ots-handoff.note',
        shareId: 'shr_notes1',
        ticketId: 'T-1',
      });
    }
  });

  it('a replayed or tampered request is refused or deduplicated', async () => {
    await createNotesWebhook({ url, secret: `k2:${K2}` }).post(post(3));
    const [{ headers, raw }] = captured.splice(0) as [{ headers: Record<string, string>; raw: Buffer }];
    const replay = async (h: Record<string, string>, body: Buffer | string) => {
      const res = await request(url, { method: 'POST', headers: h, body });
      await res.body.dump();
    };
    const pick = (extra: Record<string, string> = {}) => ({
      'content-type': 'application/json',
      [NOTES_NOTE_ID_HEADER]: headers[NOTES_NOTE_ID_HEADER]!,
      [NOTES_KEY_ID_HEADER]: headers[NOTES_KEY_ID_HEADER]!,
      [NOTES_TIMESTAMP_HEADER]: headers[NOTES_TIMESTAMP_HEADER]!,
      [NOTES_SIGNATURE_HEADER]: headers[NOTES_SIGNATURE_HEADER]!,
      ...extra,
    });
    await replay(pick(), raw); // within 5 minutes: same note id
    await replay(pick(), raw.toString().replace('Link sent', 'Link NOT sent')); // body changed
    await replay(pick({ [NOTES_KEY_ID_HEADER]: 'k1' }), raw); // another key named
    await replay(pick({ [NOTES_KEY_ID_HEADER]: 'k9' }), raw);
    now = () => Number(headers[NOTES_TIMESTAMP_HEADER]) + 301; // the same capture, 5 minutes later
    await replay(pick(), raw);
    expect(verdicts).toEqual(['accepted', 'duplicate', 'bad signature', 'bad signature', 'unknown key', 'stale']);
    expect(accepted).toHaveLength(1);
  });

  it('note ids depend on the hand-off and the note only', () => {
    const n = post(1).note;
    expect(noteIdOf('shr_a', n)).toBe(noteIdOf('shr_a', { ...n }));
    expect(noteIdOf('shr_b', n)).not.toBe(noteIdOf('shr_a', n));
    expect(noteIdOf('shr_a', { ...n, text: `${n.text}.` })).not.toBe(noteIdOf('shr_a', n));
    expect(noteIdOf('shr_a', { ...n, at: '2026-11-30T10:00:09.000Z' })).not.toBe(noteIdOf('shr_a', n));
    expect(noteIdOf('shr_a', { ...n, followUp: true })).not.toBe(noteIdOf('shr_a', n));
  });

  it('NOTES_WEBHOOK_SECRET: one bare secret (key id "default") or id:secret pairs, newest first', async () => {
    expect(parseNotesWebhookKeys(K1)).toEqual([{ id: 'default', secret: K1 }]);
    expect(parseNotesWebhookKeys(` k2:${K2} , k1:${K1} `)).toEqual([
      { id: 'k2', secret: K2 },
      { id: 'k1', secret: K1 },
    ]);
    expect(parseNotesWebhookKeys(`default:${K1}:with-colon`)).toEqual([{ id: 'default', secret: `${K1}:with-colon` }]);
    for (const bad of ['short', `k 1:${K1}`, `:${K1}`, `k1:short`, `k1:${K1},k1:${K2}`, `k1:${K1},${K2}`, ':']) {
      expect(() => parseNotesWebhookKeys(bad), bad).toThrow();
      try {
        parseNotesWebhookKeys(bad);
      } catch (err) {
        for (const secret of [K1, K2]) expect((err as Error).message).not.toContain(secret);
      }
    }
    // A bare secret signs as before, under key id "default".
    await createNotesWebhook({ url, secret: K1 }).post(post(4));
    expect(captured[0]!.headers[NOTES_KEY_ID_HEADER]).toBe('default');
    expect(verdicts).toEqual(['accepted']);
  });
});
