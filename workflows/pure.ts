// Small pure functions the workflow uses and unit tests check directly.
import { ttlText } from './ttl-text.js';
import type { SmsStatus } from './types.js';

/** Masks a phone number or email for display: +1555****567, j***@e***.com. */
export function maskRecipient(to: string): string {
  if (to.includes('@')) {
    const [user = '', domain = ''] = to.split('@');
    const dot = domain.lastIndexOf('.');
    const host = dot > 0 ? domain.slice(0, dot) : domain;
    const tld = dot > 0 ? domain.slice(dot) : '';
    return `${user.slice(0, 1)}***@${host.slice(0, 1)}***${tld}`;
  }
  if (to.length <= 6) return '*'.repeat(to.length);
  return `${to.slice(0, 4)}${'*'.repeat(to.length - 7)}${to.slice(-3)}`;
}

// Twilio sends status callbacks asynchronously and they can arrive out of order
// (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status). Keep the most advanced one.
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

/**
 * Milliseconds to wait before poll number `polls` (0-based): the schedule's entry, the last one repeating, but
 * never past the expiry (plus a small grace so the server has marked it expired when we look).
 */
export function nextPollDelayMs(
  schedule: readonly number[],
  polls: number,
  nowMs: number,
  expiresAtMs: number,
): number {
  const sec = schedule[Math.min(polls, schedule.length - 1)] ?? 60;
  const untilExpiry = expiresAtMs + 1_000 - nowMs;
  // Never 0: if the server still says "new" after expiry (clock skew), keep a floor instead of a tight loop.
  const floor = Math.min(sec, 5) * 1000;
  return Math.max(floor, Math.min(sec * 1000, untilExpiry));
}

const CHANNEL_NAMES = { sms: 'SMS', email: 'email' } as const;

/**
 * The one-line summary of a hand-off in Temporal UI (the workflow's static summary): what a technician needs to
 * recognise it. Masked recipient, never the secret, passphrase or link. Carries only what the request knew.
 */
export function technicianSummary(h: {
  ticketId: string;
  link: { channel: 'sms' | 'email'; to: string };
  passphrase: string;
  ttlSeconds: number;
}): string {
  const pass = h.passphrase === 'none' ? '' : `, passphrase by ${h.passphrase === 'sms' ? 'SMS' : 'voice'}`;
  return `Ticket ${h.ticketId}: link by ${CHANNEL_NAMES[h.link.channel]} to ${maskRecipient(h.link.to)}${pass}, valid ${ttlText(h.ttlSeconds)}`;
}

/** The hand-off as it stands, in Markdown, for Temporal UI's "current details" (updated on every change). */
export function technicianDetails(s: {
  ticketId: string;
  state: string;
  link: { channel: 'sms' | 'email'; to: string; sentAt?: string; deliveryStatus?: string };
  passphrase: { mode: string; deliveredAt?: string };
  expiresAt?: string;
  viewedAt?: string;
  notes: { at: string; text: string; followUp?: boolean }[];
}): string {
  const last = s.notes.at(-1);
  const lines = [
    `**State:** ${s.state}${s.notes.some((n) => n.followUp) ? ' — follow-up needed' : ''}`,
    `**Ticket:** ${s.ticketId}`,
    `**Link:** ${CHANNEL_NAMES[s.link.channel]} to ${s.link.to}${s.link.sentAt ? `, sent ${s.link.sentAt}` : ', not sent yet'}${s.link.deliveryStatus ? ` (${s.link.deliveryStatus})` : ''}`,
    `**Passphrase:** ${s.passphrase.mode}${s.passphrase.deliveredAt ? `, delivered ${s.passphrase.deliveredAt}` : ''}`,
    `**Expires:** ${s.expiresAt ?? 'not created yet'}`,
    ...(s.viewedAt ? [`**Opened:** ${s.viewedAt}`] : []),
    ...(last ? [`**Last note:** ${last.at} ${last.text}`] : []),
  ];
  return lines.join('\n\n');
}
