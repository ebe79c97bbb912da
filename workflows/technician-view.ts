// What technicians see of a hand-off in Temporal UI: its one-line summary, its static details and its "current
// details". Masked recipients, never the secret, passphrase or link: docs/architecture.md ("Confidentiality").
//
// All three are Markdown. Temporal UI renders user metadata through temporalio/ui
// src/lib/components/user-metadata.svelte -> src/lib/holocene/markdown-editor/preview.svelte (which first replaces
// {namespace}, {workflowId} and {runId} in the text) -> the /render route, src/routes/(app)/render/+server.ts ->
// src/lib/utilities/render-markdown.ts: mdast-util-from-markdown (CommonMark, plus GFM tables since temporalio/ui
// #3673), images and raw HTML nodes dropped, hast-util-sanitize, every <a> opened in a new tab. So `[text](url)` and
// `<http://…>` become live links there. That renderer has no GFM autolink-literal extension, so bare URLs and
// emails stay text in it; GFM renderers link them, and the UI has been adding GFM pieces (tables), so they are
// broken too. Hence every piece of text the service did not write itself (ticket and session ids, note texts that quote a
// technician's comment or a burn requester, values from Onetime Secret or Twilio) goes through escapeMarkdown.
import { ttlText } from './ttl-text.js';
import type { PassphraseDelivery, ShareState, SmsStatus } from './types.js';

/**
 * Escapes text for inline use in the Markdown above, so it renders as the same characters and nothing else:
 *  - line breaks and other control characters become spaces (no new block can start inside the value);
 *  - the metacharacters \ ` * _ ~ [ ] < > & | { } are backslash-escaped (CommonMark 0.31 section 2.4, "Backslash
 *    escapes": any ASCII punctuation may be escaped and then renders as itself), which rules out emphasis, code,
 *    links and images, raw HTML and autolinks, entity references, GFM tables and strikethrough, and the UI's
 *    {workflowId}-style templates;
 *  - bare URLs and emails are kept from autolinking (GFM spec, "Autolinks (extension)"): the `:` of `://`, the `.`
 *    of `www.` and every `@` are escaped;
 *  - a leading block marker (`#`, `-`, `+`, `=`, `1.`, `1)`, after any spaces) is escaped, in case the value starts
 *    a line.
 * Parentheses, `!`, `-`, `.` and `#` elsewhere are inert once the above are escaped, and are left readable.
 */
export function escapeMarkdown(text: string): string {
  return (
    String(text)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
      .replace(/[\\`*_~[\]<>&|{}@]/g, '\\$&')
      .replace(/:(?=\/\/)/g, '\\:')
      .replace(/(www)\./gi, '$1\\.')
      .replace(/^( *)([#+=-]|\d+(?=[.)]))/, (_m, sp: string, mark: string) =>
        /^\d/.test(mark) ? `${sp}${mark}\\` : `${sp}\\${mark}`,
      )
  );
}

/**
 * A masked recipient (maskRecipient) as Markdown. Its own stars stay as they are when the shape makes them inert
 * (`+155*****001`: one run, nothing to pair with; `p***@e***.com`: runs after a letter or digit, which can only
 * close emphasis); anything else, such as an email starting with `_` or `+`, is escaped whole.
 */
function maskedMarkdown(masked: string): string {
  return /^(\+\d{3}\*+\d{3}|[A-Za-z0-9]\*{3}@[A-Za-z0-9]\*{3}(\.[A-Za-z]{2,63})?)$/.test(masked)
    ? masked
    : escapeMarkdown(masked);
}

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
  return `Ticket ${escapeMarkdown(h.ticketId)}: link by ${CHANNEL_NAMES[h.link.channel]} to ${maskedMarkdown(maskRecipient(h.link.to))}${pass}, valid ${ttlText(h.ttlSeconds)}`;
}

/**
 * The request's details in Temporal UI (the workflow's static details), written once at the start by the agent API
 * (src/http/shares.ts). Ticket and session ids are the agent's text: escaped.
 */
export function technicianStaticDetails(h: {
  ticketId: string;
  sessionId?: string;
  /** The service's own id (shr_…), shown as it is. */
  shareId: string;
  /** When the agent asked (ISO 8601). */
  requestedAt: string;
  ttlSeconds: number;
}): string {
  return [
    `**Ticket:** ${escapeMarkdown(h.ticketId)}${h.sessionId ? ` (agent session ${escapeMarkdown(h.sessionId)})` : ''}`,
    `**Hand-off:** ${h.shareId}`,
    `**Requested:** ${escapeMarkdown(h.requestedAt)}, link valid ${ttlText(h.ttlSeconds)}`,
    '**Secret and passphrase:** sealed (never shown here)',
    '**When paused:** send the `resolve` signal (README, "For technicians")',
  ].join('\n\n');
}

/**
 * The hand-off as it stands, in Markdown, for Temporal UI's "current details" (updated on every change). The state,
 * passphrase mode and SMS delivery status are the service's own words (closed sets: workflows/types.ts); everything
 * else is escaped: notes quote technicians and agents (a resolve comment, who asked for a burn) and Onetime Secret or
 * Twilio failures, and the expiry and opening times come from Onetime Secret.
 */
export function technicianDetails(s: {
  ticketId: string;
  state: ShareState;
  link: { channel: 'sms' | 'email'; to: string; sentAt?: string; deliveryStatus?: SmsStatus };
  passphrase: { mode: PassphraseDelivery['mode']; deliveredAt?: string };
  expiresAt?: string;
  viewedAt?: string;
  notes: { at: string; text: string; followUp?: boolean }[];
}): string {
  const last = s.notes.at(-1);
  const md = escapeMarkdown;
  const lines = [
    `**State:** ${s.state}${s.notes.some((n) => n.followUp) ? ' — follow-up needed' : ''}`,
    `**Ticket:** ${md(s.ticketId)}`,
    `**Link:** ${CHANNEL_NAMES[s.link.channel]} to ${maskedMarkdown(s.link.to)}${s.link.sentAt ? `, sent ${md(s.link.sentAt)}` : ', not sent yet'}${s.link.deliveryStatus ? ` (${s.link.deliveryStatus})` : ''}`,
    `**Passphrase:** ${s.passphrase.mode}${s.passphrase.deliveredAt ? `, delivered ${md(s.passphrase.deliveredAt)}` : ''}`,
    `**Expires:** ${s.expiresAt ? md(s.expiresAt) : 'not created yet'}`,
    ...(s.viewedAt ? [`**Opened:** ${md(s.viewedAt)}`] : []),
    ...(last ? [`**Last note:** ${md(last.at)} ${md(last.text)}`] : []),
  ];
  return lines.join('\n\n');
}
