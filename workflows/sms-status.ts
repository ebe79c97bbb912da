// Twilio SMS statuses, ranked. Status callbacks arrive asynchronously, duplicated and out of order, so the workflow
// keeps the most advanced one per message. See docs/twilio.md ("SMS status callbacks") and
// https://www.twilio.com/docs/messaging/guides/track-outbound-message-status.
import type { SmsStatus } from './types.js';

const RANK: Record<SmsStatus, number> = {
  receiving: 0, // inbound statuses: accepted so a callback is never lost, never an advance
  received: 0,
  accepted: 0,
  scheduled: 0,
  queued: 1,
  sending: 2,
  sent: 3,
  delivered: 4,
  undelivered: 4,
  failed: 4,
  canceled: 4,
  // Only part of the message reached the handset: the link may be cut, so it counts as a failure (a technician
  // decides; the link is never sent again on its own).
  partially_delivered: 4,
  read: 5,
};

/** Every status, in rank order (the webhook accepts exactly these). */
export const SMS_STATUSES = (Object.keys(RANK) as SmsStatus[]).sort((a, b) => RANK[a] - RANK[b]);

export function isSmsStatus(s: unknown): s is SmsStatus {
  return typeof s === 'string' && Object.hasOwn(RANK, s);
}

export function isSmsFailure(s: SmsStatus | undefined): boolean {
  return s === 'undelivered' || s === 'failed' || s === 'canceled' || s === 'partially_delivered';
}

/** The status to keep when `next` arrives after `current`. A terminal status is never replaced by another one. */
export function advanceSmsStatus(current: SmsStatus | undefined, next: SmsStatus): SmsStatus {
  if (current === undefined) return next;
  if (RANK[current] >= 4 && RANK[next] >= 4 && !(current === 'delivered' && next === 'read')) return current;
  return RANK[next] > RANK[current] ? next : current;
}
