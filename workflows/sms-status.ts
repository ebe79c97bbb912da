// Twilio SMS statuses, ranked. Status callbacks arrive asynchronously, duplicated and out of order, so the workflow
// keeps the most advanced one per message. See docs/twilio.md ("SMS status callbacks") and
// https://www.twilio.com/docs/messaging/guides/track-outbound-message-status.
import type { SmsStatus } from './types.js';

const RANK: Record<SmsStatus, number> = {
  accepted: 0,
  scheduled: 0,
  queued: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  undelivered: 4,
  failed: 4,
  canceled: 4,
  read: 5,
};

export function isSmsStatus(s: unknown): s is SmsStatus {
  return typeof s === 'string' && Object.hasOwn(RANK, s);
}

export function isSmsFailure(s: SmsStatus | undefined): boolean {
  return s === 'undelivered' || s === 'failed' || s === 'canceled';
}

/** The status to keep when `next` arrives after `current`. A terminal status is never replaced by another one. */
export function advanceSmsStatus(current: SmsStatus | undefined, next: SmsStatus): SmsStatus {
  if (current === undefined) return next;
  if (RANK[current] >= 4 && RANK[next] >= 4 && !(current === 'delivered' && next === 'read')) return current;
  return RANK[next] > RANK[current] ? next : current;
}
