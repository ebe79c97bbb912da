// Ticket notes leave the service through one sink: the workflow keeps every note in its own state (the status
// query shows them), and when NOTES_WEBHOOK_URL is set each note is also POSTed to the PSA, signed with HMAC.
import { createHmac } from 'node:crypto';
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

/** `sha256=<hex HMAC of "<timestamp>.<body>">`, so a receiver can reject replays by timestamp. */
export function signNote(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class NotesWebhookError extends Error {
  readonly code = 'NOTES_WEBHOOK_FAILED';
}

export function createNotesWebhook(opts: { url: string; secret: string; timeoutMs?: number }): NotesSink {
  return {
    async post(n) {
      const body = JSON.stringify({ type: 'ots-handoff.note', ...n });
      const timestamp = String(Math.floor(Date.now() / 1000));
      let res;
      try {
        res = await request(opts.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [NOTES_TIMESTAMP_HEADER]: timestamp,
            [NOTES_SIGNATURE_HEADER]: signNote(opts.secret, timestamp, body),
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
