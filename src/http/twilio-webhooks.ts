// Twilio's side of the service. Every route checks X-Twilio-Signature against the URL built from PUBLIC_BASE_URL
// (src/twilio/signature.ts) after express.urlencoded has parsed the form, as Twilio signs the form parameters, and
// refuses a validly signed request it has already handled (src/twilio/replay-guard.ts).
import express, { Router } from 'express';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { twilioReplayGuard } from '../twilio/replay-guard.js';
import { twilioSignatureMiddleware } from '../twilio/signature.js';
import { smsStatusSignal } from '../../workflows/messages.js';
import { workflowIdOf } from './shares.js';

const smsStatusForm = z.object({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/),
  MessageStatus: z.enum(['accepted', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'read', 'undelivered', 'failed', 'canceled']),
  ErrorCode: z.string().max(16).optional(),
});

export function twilioRouter(deps: { client: Client; authToken: string; publicBaseUrl: string; log: Logger }): Router {
  const r = Router();
  const signed = twilioSignatureMiddleware({
    authToken: deps.authToken,
    publicBaseUrl: deps.publicBaseUrl,
    onReject: ({ path, reason }) => deps.log.warn({ path, reason }, 'twilio webhook rejected'),
  });
  // After the signature check: a validly signed request seen before is a replay (src/twilio/replay-guard.ts).
  const fresh = twilioReplayGuard({ onReject: ({ path }) => deps.log.warn({ path, reason: 'replayed' }, 'twilio webhook rejected') });

  r.post('/twilio/sms-status', express.urlencoded({ extended: false, limit: '16kb' }), signed, fresh, async (req, res) => {
    const shareId = typeof req.query.share === 'string' ? req.query.share : undefined;
    const form = smsStatusForm.safeParse(req.body);
    if (!shareId || !form.success) {
      res.status(400).json({ error: 'not an SMS status callback for a hand-off' });
      return;
    }
    const { MessageSid, MessageStatus, ErrorCode } = form.data;
    try {
      await deps.client.workflow
        .getHandle(workflowIdOf(shareId))
        .signal(smsStatusSignal, { messageSid: MessageSid, status: MessageStatus, errorCode: ErrorCode });
      deps.log.info({ shareId, messageSid: MessageSid, status: MessageStatus, errorCode: ErrorCode }, 'sms status');
    } catch (err) {
      // A callback for a hand-off that has finished (or never existed) has nothing left to change.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    res.status(204).end();
  });

  return r;
}
