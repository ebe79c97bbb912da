import { describe, expect, it } from 'vitest';
import type { MessageStatus } from 'twilio/lib/rest/api/v2010/account/message.js';
import { advanceSmsStatus, isSmsFailure, isSmsStatus, SMS_STATUSES } from '../../workflows/sms-status.js';

describe('SMS status ranking', () => {
  it('keeps the most advanced status when callbacks arrive out of order', () => {
    let s = advanceSmsStatus(undefined, 'sent');
    s = advanceSmsStatus(s, 'queued');
    expect(s).toBe('sent');
    s = advanceSmsStatus(s, 'delivered');
    s = advanceSmsStatus(s, 'sending');
    expect(s).toBe('delivered');
  });
  it('a terminal status is not replaced by another terminal one, but read follows delivered', () => {
    expect(advanceSmsStatus('undelivered', 'delivered')).toBe('undelivered');
    expect(advanceSmsStatus('delivered', 'failed')).toBe('delivered');
    expect(advanceSmsStatus('delivered', 'read')).toBe('read');
    expect(advanceSmsStatus('sent', 'failed')).toBe('failed');
  });

  it('knows every status twilio-node has, ranks each, and never lets one move a final status', () => {
    const twilioNode: Record<MessageStatus, true> = {
      queued: true,
      sending: true,
      sent: true,
      failed: true,
      delivered: true,
      undelivered: true,
      receiving: true,
      received: true,
      accepted: true,
      scheduled: true,
      read: true,
      partially_delivered: true,
      canceled: true,
    };
    expect([...SMS_STATUSES].sort()).toEqual(Object.keys(twilioNode).sort());
    for (const s of SMS_STATUSES) expect(isSmsStatus(s)).toBe(true);
    expect(isSmsStatus('lost')).toBe(false);
    const final = ['delivered', 'undelivered', 'failed', 'canceled', 'partially_delivered'] as const;
    for (const f of final) {
      for (const next of SMS_STATUSES) {
        const kept = advanceSmsStatus(f, next);
        expect(kept, `${f} then ${next}`).toBe(f === 'delivered' && next === 'read' ? 'read' : f);
      }
    }
    // Inbound statuses never advance an outbound message.
    expect(advanceSmsStatus('sent', 'received')).toBe('sent');
    expect(advanceSmsStatus(undefined, 'receiving')).toBe('receiving');
    expect(advanceSmsStatus('receiving', 'queued')).toBe('queued');
    // Part of the message is not the link: a technician decides.
    expect(isSmsFailure('partially_delivered')).toBe(true);
    expect(isSmsFailure('delivered')).toBe(false);
  });
});
