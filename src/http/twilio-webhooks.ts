// Twilio's side of the service. Every route checks X-Twilio-Signature against the URL built from PUBLIC_BASE_URL,
// keyed with the auth token or the SharedKey the request names (src/twilio/signature.ts), after express.urlencoded
// has parsed the form, as Twilio signs the form parameters, and refuses a validly signed request it has already
// handled (src/twilio/replay-guard.ts).
import express, { Router } from 'express';
import twilio from 'twilio';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { twilioReplayGuard } from '../twilio/replay-guard.js';
import { twilioSignatureMiddleware } from '../twilio/signature.js';
import type { TwilioWebhookKey } from '../twilio/webhook-keys.js';
import type { Metrics, WebhookRejection, WebhookRoute } from '../metrics.js';
import { annotateSpan } from '../tracing.js';
import { callEndedSignal, smsStatusSignal } from '../../workflows/messages.js';
import { callWorkflowId, shareWorkflowId } from '../../workflows/ids.js';
import { SMS_STATUSES } from '../../workflows/sms-status.js';
import type { SmsStatus } from '../../workflows/types.js';
import type { MessageStatus } from 'twilio/lib/rest/api/v2010/account/message.js';

const smsStatusForm = z.object({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/),
  MessageStatus: z.enum(SMS_STATUSES as [SmsStatus, ...SmsStatus[]]),
  ErrorCode: z.string().max(16).optional(),
});

// Every status twilio-node knows, and no other: this fails to compile when an upgrade adds or drops one.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameStatuses: Same<SmsStatus, MessageStatus> = true;
void sameStatuses;

const callSid = z.string().regex(/^CA[0-9a-fA-F]{32}$/);
const voiceForm = z.object({ CallSid: callSid });
// https://www.twilio.com/docs/voice/api/call-resource#call-status-values
const callStatusForm = z.object({
  CallSid: callSid,
  CallStatus: z.enum([
    'queued',
    'initiated',
    'ringing',
    'in-progress',
    'completed',
    'busy',
    'failed',
    'no-answer',
    'canceled',
  ]),
});
const CALL_OVER = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/**
 * Where the call goes back to after the secure segment: an absolute http(s) URL without credentials. Twilio
 * fetches it itself; we only write it into a <Redirect>.
 */
function returnUrlOf(q: unknown): { ok: true; url?: string } | { ok: false } {
  if (q === undefined) return { ok: true };
  if (typeof q !== 'string' || q.length > 2000) return { ok: false };
  try {
    const u = new URL(q);
    return /^https?:$/.test(u.protocol) && !u.username && !u.password ? { ok: true, url: u.toString() } : { ok: false };
  } catch {
    return { ok: false };
  }
}

/** The metric label of a webhook path (src/metrics.ts). */
function webhookRoute(path: string): WebhookRoute {
  if (path.endsWith('/sms-status')) return 'sms_status';
  if (path.endsWith('/call-status')) return 'call_status';
  return 'voice';
}

export interface VoiceWebhookDeps {
  /** The per-call token (bound to the CallSid, single-use, short-lived; not a secret). */
  callToken(callSid: string): string;
  /** A call's Media Stream URL, as written into TwiML and signed by Twilio: wss://<PUBLIC_BASE_URL host>/twilio/media/<token>. */
  streamUrl(token: string): string;
}

export function twilioRouter(deps: {
  client: Client;
  authToken: string;
  /** TWILIO_WEBHOOK_KEYS: SharedKeys a webhook may be signed with instead of the auth token. */
  sharedKeys?: readonly TwilioWebhookKey[];
  publicBaseUrl: string;
  log: Logger;
  voice?: VoiceWebhookDeps;
  metrics?: Metrics;
}): Router {
  const r = Router();
  const rejected = (path: string, reason: WebhookRejection) =>
    deps.metrics?.webhookRejected.labels(webhookRoute(path), reason).inc();
  const signed = twilioSignatureMiddleware({
    authToken: deps.authToken,
    sharedKeys: deps.sharedKeys,
    publicBaseUrl: deps.publicBaseUrl,
    // keyId: the SharedKey the request named, if any (an id, never a secret or the signature).
    onReject: ({ path, reason, keyId }) => {
      rejected(path, 'forged');
      deps.log.warn({ path, reason, keyId }, 'twilio webhook rejected');
    },
  });
  // After the signature check: a validly signed request seen before is a replay (src/twilio/replay-guard.ts).
  const fresh = twilioReplayGuard({
    onReject: ({ path }) => {
      rejected(path, 'replayed');
      deps.log.warn({ path, reason: 'replayed' }, 'twilio webhook rejected');
    },
  });

  r.post(
    '/twilio/sms-status',
    express.urlencoded({ extended: false, limit: '16kb' }),
    signed,
    fresh,
    async (req, res) => {
      const shareId = typeof req.query.share === 'string' ? req.query.share : undefined;
      const form = smsStatusForm.safeParse(req.body);
      if (!shareId || !form.success) {
        rejected(req.path, 'malformed');
        res.status(400).json({ error: 'not an SMS status callback for a hand-off' });
        return;
      }
      const { MessageSid, MessageStatus, ErrorCode } = form.data;
      deps.metrics?.smsStatus.labels(MessageStatus).inc();
      annotateSpan({ 'handoff.share_id': shareId, 'twilio.message_status': MessageStatus });
      try {
        await deps.client.workflow
          .getHandle(shareWorkflowId(shareId))
          .signal(smsStatusSignal, { messageSid: MessageSid, status: MessageStatus, errorCode: ErrorCode });
        deps.log.info({ shareId, messageSid: MessageSid, status: MessageStatus, errorCode: ErrorCode }, 'sms status');
      } catch (err) {
        // A callback for a hand-off that has finished (or never existed) has nothing left to change.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      res.status(204).end();
    },
  );

  const voice = deps.voice;
  if (voice) {
    // The secure segment of a call: Twilio connects the call's audio to our media-stream WebSocket. The TwiML
    // carries only the stream URL and a CallSid-bound token (Twilio keeps TwiML for 30 days): never a passphrase.
    // With ?returnUrl=…, the call continues there once we close the stream (<Connect> blocks until then).
    // No replay guard here: a voice webhook carries no nonce, so the same call handed over twice to the same URL is
    // byte-identical, and answering it again is harmless (each answer is a new single-use stream URL).
    r.post('/twilio/voice', express.urlencoded({ extended: false, limit: '16kb' }), signed, (req, res) => {
      const form = voiceForm.safeParse(req.body);
      const ret = returnUrlOf(req.query.returnUrl);
      if (!form.success || !ret.ok) {
        rejected(req.path, 'malformed');
        res.status(400).json({
          error: form.success
            ? 'returnUrl must be an absolute http(s) URL'
            : 'not a Twilio voice webhook (CallSid missing)',
        });
        return;
      }
      const { CallSid } = form.data;
      const response = new twilio.twiml.VoiceResponse();
      const token = voice.callToken(CallSid);
      const stream = response.connect().stream({ url: voice.streamUrl(token) });
      stream.parameter({ name: 'callToken', value: token });
      if (ret.url) response.redirect({ method: 'POST' }, ret.url);
      deps.log.info({ callSid: CallSid, returnUrl: ret.url !== undefined }, 'call connected to the media stream');
      res.type('text/xml').send(response.toString());
    });

    r.post(
      '/twilio/call-status',
      express.urlencoded({ extended: false, limit: '16kb' }),
      signed,
      fresh,
      async (req, res) => {
        const form = callStatusForm.safeParse(req.body);
        if (!form.success) {
          rejected(req.path, 'malformed');
          res.status(400).json({ error: 'not a Twilio call status callback' });
          return;
        }
        const { CallSid, CallStatus } = form.data;
        if (CALL_OVER.has(CallStatus)) {
          try {
            await deps.client.workflow
              .getHandle(callWorkflowId(CallSid))
              .signal(callEndedSignal, { status: CallStatus, at: new Date().toISOString() });
          } catch (err) {
            // No session for this call (never streamed, or already over): nothing to end.
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
          deps.log.info({ callSid: CallSid, status: CallStatus }, 'call ended');
        }
        res.status(204).end();
      },
    );
  }

  return r;
}
