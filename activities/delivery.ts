// Activities that deliver to people: SMS through Twilio and ticket notes. The sealed link and passphrase are
// opened here, just before they go into a message body, and never come back out.
import type { NotePost, NotesSink } from '../src/notes.js';
import type { Metrics } from '../src/metrics.js';
import { ApplicationFailure } from '@temporalio/common';
import { handoffContext, type Sealed, type Sealer } from '../src/seal.js';
import type { SmsSender } from '../src/twilio/sms.js';
import { ttlText } from '../workflows/ttl-text.js';
import type { Binding } from '../workflows/types.js';
import { failing } from './failures.js';

/**
 * Where a hand-off's passphrase may go by SMS, from its binding alone: its SMS recipient, or in voice mode the
 * fallback number when the link went by email. Never the link's channel (docs/decisions.md, "`passphraseTo` rules:
 * never the link's channel").
 */
export function passphraseSmsRecipient(b: Binding): string | undefined {
  const pp = b.passphrase;
  if (pp.mode === 'sms') return pp.to;
  if (pp.mode === 'voice' && b.link.channel === 'email') return pp.fallbackTo;
  return undefined;
}

const nowhere = (what: string) =>
  ApplicationFailure.create({ type: 'NO_RECIPIENT', message: `this hand-off has no ${what}`, nonRetryable: true });

export function createDeliveryActivities(deps: {
  sms: SmsSender;
  sealer: Sealer;
  notes: NotesSink;
  metrics?: Metrics;
}) {
  const { sms, sealer, notes, metrics } = deps;
  return {
    /** Texts the link to the hand-off's own SMS recipient (from the binding the link is sealed for). */
    async sendLinkSms(args: {
      binding: Binding;
      link: Sealed;
      expiresAt: string;
      statusCallback: string;
      passphraseVia?: 'sms' | 'voice';
    }): Promise<{ sid: string }> {
      return failing(async () => {
        const { link: target } = args.binding;
        if (target.channel !== 'sms') throw nowhere('SMS recipient for the link');
        const link = sealer.open(args.link, handoffContext('link', args.binding));
        const gate =
          args.passphraseVia === 'voice'
            ? ' You will need the passphrase we read to you on the call.'
            : args.passphraseVia === 'sms'
              ? ' You will need the passphrase we send you separately.'
              : '';
        // The body holds the link and a short explanation only: never the secret or a passphrase.
        const body = `Your IT help desk sent you a one-time secure link. It works once and expires in ${ttlText((Date.parse(args.expiresAt) - Date.now()) / 1000, 'long')}.${gate} ${link}`;
        const r = await sms.send({ to: target.to, body, statusCallback: args.statusCallback });
        metrics?.smsSent.labels('link').inc();
        return { sid: r.sid };
      });
    },

    /** Texts the passphrase to where the hand-off's binding allows (passphraseSmsRecipient). */
    async sendPassphraseSms(args: {
      binding: Binding;
      passphrase: Sealed;
      statusCallback: string;
    }): Promise<{ sid: string }> {
      return failing(async () => {
        // Passphrase by SMS only when the link went by email, never on the link's channel: whoever reads one
        // channel must not get both (docs/architecture.md, "Confidentiality").
        const to = passphraseSmsRecipient(args.binding);
        if (!to) throw nowhere('SMS recipient for the passphrase');
        const passphrase = sealer.open(args.passphrase, handoffContext('passphrase', args.binding));
        const spoken = passphrase.replace(/(\d{3})(?=\d)/g, '$1 ');
        const body = `The passphrase for the secure link we emailed you is: ${spoken}`;
        const r = await sms.send({ to, body, statusCallback: args.statusCallback });
        metrics?.smsSent.labels('passphrase').inc();
        return { sid: r.sid };
      });
    },

    async postNote(args: NotePost): Promise<void> {
      await notes.post(args);
    },
  };
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
