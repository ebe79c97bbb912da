// What technicians see of a hand-off in Temporal UI: its one-line summary and its "current details". Masked
// recipients, never the secret, passphrase or link: docs/architecture.md ("Confidentiality").
import { ttlText } from './ttl-text.js';

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
