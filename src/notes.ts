// Ticket notes leave the service through one sink: the workflow keeps every note in its own state (the status
// query shows them), and when NOTES_WEBHOOK_URL is set each note is also POSTed to the PSA, signed with HMAC. How a
// receiver verifies a POST (key id, signature, timestamp, note id): README.md ("For technicians").
import { createHash, createHmac } from 'node:crypto';
import { request } from 'undici';
import type { Note } from '../workflows/types.js';

export interface NotePost {
  shareId: string;
  ticketId: string;
  note: Note;
}

export interface NotesSink {
  post(n: NotePost): Promise<void>;
}

export const NOTES_SIGNATURE_HEADER = 'x-ots-handoff-signature';
export const NOTES_TIMESTAMP_HEADER = 'x-ots-handoff-timestamp';
/** Which of the NOTES_WEBHOOK_SECRET keys signed the request. */
export const NOTES_KEY_ID_HEADER = 'x-ots-handoff-key-id';
/** The note's stable id, as in the body's `noteId`: the same on every retry of the same note. */
export const NOTES_NOTE_ID_HEADER = 'x-ots-handoff-note-id';
/** The key id of a NOTES_WEBHOOK_SECRET that is one bare secret (the format from before key ids). */
export const DEFAULT_NOTES_KEY_ID = 'default';

export interface NotesKey {
  id: string;
  secret: string;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
export const NOTES_WEBHOOK_SECRET_RULE =
  'must be one secret of at least 16 characters without ":", or a comma list of <key id>:<secret>, newest first (key id: 1-64 of A-Z a-z 0-9 . _ -; secret: at least 16 characters, no comma), e.g. k2:$(openssl rand -hex 32)';

/**
 * Parses NOTES_WEBHOOK_SECRET. One bare secret (no `:`) keeps working as before, under key id "default". With key
 * ids it is a list like PAYLOAD_KEYS (src/temporal/payload-codec.ts), newest first: the first signs, and the rest
 * are there so that one value can be shared with a receiver that verifies with any key it lists (README.md, "For
 * technicians", rotation). Errors name the entry, never the secret.
 */
export function parseNotesWebhookKeys(text: string): NotesKey[] {
  if (!text.includes(':')) {
    if (text.length < 16) throw new Error(`must be at least 16 characters (${NOTES_WEBHOOK_SECRET_RULE})`);
    return [{ id: DEFAULT_NOTES_KEY_ID, secret: text }];
  }
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const keys = entries.map((entry, i) => {
    const colon = entry.indexOf(':');
    const id = entry.slice(0, Math.max(colon, 0));
    const secret = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) throw new Error(`entry ${i + 1}: the key id ${NOTES_WEBHOOK_SECRET_RULE}`);
    if (secret.length < 16)
      throw new Error(
        `entry ${i + 1} (${id}): the secret must be at least 16 characters (${NOTES_WEBHOOK_SECRET_RULE})`,
      );
    return { id, secret };
  });
  if (keys.length === 0) throw new Error(NOTES_WEBHOOK_SECRET_RULE);
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('each key id may appear only once');
  return keys;
}

/**
 * A note's stable id, for the receiver to deduplicate by: derived from the hand-off and the note alone, so every
 * attempt to deliver it (activity retries, a worker crash and replay: the note's `at` is workflow time, replayed
 * identically) carries the same id, and two different notes never share one.
 */
export function noteIdOf(shareId: string, note: Note): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(['ots-handoff.note', shareId, note.at, note.text, note.followUp === true]))
    .digest('hex');
  return `note_${digest.slice(0, 32)}`;
}

/** `sha256=<hex HMAC of "<timestamp>.<body>">`, so a receiver can reject replays by timestamp. */
export function signNote(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class NotesWebhookError extends Error {
  readonly code = 'NOTES_WEBHOOK_FAILED';
}

/** `secret` is NOTES_WEBHOOK_SECRET as configured: one secret, or `id:secret,…` newest first (the first signs). */
export function createNotesWebhook(opts: { url: string; secret: string; timeoutMs?: number }): NotesSink {
  const [signing] = parseNotesWebhookKeys(opts.secret);
  return {
    async post(n) {
      const noteId = noteIdOf(n.shareId, n.note);
      const body = JSON.stringify({
        type: 'ots-handoff.note',
        noteId,
        shareId: n.shareId,
        ticketId: n.ticketId,
        note: n.note,
      });
      const timestamp = String(Math.floor(Date.now() / 1000));
      let res;
      try {
        res = await request(opts.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [NOTES_NOTE_ID_HEADER]: noteId,
            [NOTES_KEY_ID_HEADER]: signing!.id,
            [NOTES_TIMESTAMP_HEADER]: timestamp,
            [NOTES_SIGNATURE_HEADER]: signNote(signing!.secret, timestamp, body),
          },
          body,
          headersTimeout: opts.timeoutMs ?? 10_000,
          bodyTimeout: opts.timeoutMs ?? 10_000,
        });
      } catch (err) {
        throw new NotesWebhookError(`notes webhook unreachable: ${(err as Error).message}`);
      }
      await res.body.dump();
      if (res.statusCode >= 300) throw new NotesWebhookError(`notes webhook answered HTTP ${res.statusCode}`);
    },
  };
}

/** Used when no webhook is configured: the workflow's own note list is the record. */
export const noNotesWebhook: NotesSink = { async post() {} };
