// What the agent may tell the caller about a hand-off, in one short sentence (README.md, "Status"): so an LLM agent
// relays progress without inventing it. Built from the status alone, which holds no secret, passphrase or link, and
// never names the recipient either (the agent knows whom it is talking to).
import type { ShareStatus } from '../../workflows/types.js';

type HintOf = Pick<ShareStatus, 'state' | 'link' | 'passphrase'> & { closed?: unknown };

/** One sentence for the agent, by state; the secret is never to be said aloud, whatever the state. */
export function agentHint(s: HintOf): string {
  const by = s.link.channel === 'sms' ? 'by text message' : 'by email (from Onetime Secret)';
  switch (s.state) {
    case 'creating':
      return 'The secure link is being prepared; tell the caller it will arrive in a moment.';
    case 'delivering':
      return s.link.sentAt === undefined
        ? `The link is being sent ${by}; tell the caller it should arrive within a minute.`
        : s.passphrase.mode === 'voice'
          ? `The link was sent ${by}; the passphrase is about to be played on the call: ask the caller to listen for it.`
          : `The link was sent ${by}; the passphrase is being sent by text message.`;
    case 'awaiting_view':
      return s.passphrase.mode === 'voice'
        ? `The link was sent ${by}; ask the caller to open it and enter the passphrase they heard on the call. It opens only once.`
        : s.passphrase.mode === 'sms'
          ? `The link was sent ${by} and the passphrase by text message; ask the caller to open the link and enter the passphrase from the text. It opens only once.`
          : `The link was sent ${by}; ask the caller to open it. It opens only once.`;
    case 'viewed':
      return 'The caller opened the link; the secret has been destroyed and cannot be opened again.';
    case 'expired':
      return 'The link expired unopened; a technician will follow up.';
    case 'burned':
      return 'The link was cancelled and no longer opens.';
    case 'needs_technician':
      return 'The hand-off is paused: something failed while sending it. A technician will follow up; do not read any credential aloud.';
    case 'resolved':
      return 'A technician has taken over this hand-off.';
    case 'cancelled':
      return 'The hand-off was cancelled; a technician will follow up if needed.';
    case 'terminated':
      return 'The hand-off stopped unexpectedly; a technician will follow up.';
  }
}
