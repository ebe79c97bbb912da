// Activities that deliver to people: SMS through Twilio and ticket notes. The sealed link and passphrase are
// opened here, just before they go into a message body, and never come back out.
import type { NotePost, NotesSink } from '../src/notes.js';
import type { Sealed, Sealer } from '../src/seal.js';
import type { SmsSender } from '../src/twilio/sms.js';
import { ttlText } from '../workflows/ttl-text.js';
import { failing } from './failures.js';

export function createDeliveryActivities(deps: { sms: SmsSender; sealer: Sealer; notes: NotesSink }) {
  const { sms, sealer, notes } = deps;
  return {
    async sendLinkSms(args: {
      to: string;
      link: Sealed;
      expiresAt: string;
      statusCallback: string;
      passphraseVia?: 'sms' | 'voice';
    }): Promise<{ sid: string }> {
      return failing(async () => {
        const gate =
          args.passphraseVia === 'voice'
            ? ' You will need the passphrase we read to you on the call.'
            : args.passphraseVia === 'sms'
              ? ' You will need the passphrase we send you separately.'
              : '';
        // The body holds the link and a short explanation only: never the secret or a passphrase.
        const body = `Your IT help desk sent you a one-time secure link. It works once and expires in ${ttlText((Date.parse(args.expiresAt) - Date.now()) / 1000, 'long')}.${gate} ${sealer.open(args.link)}`;
        const r = await sms.send({ to: args.to, body, statusCallback: args.statusCallback });
        return { sid: r.sid };
      });
    },

    async sendPassphraseSms(args: {
      to: string;
      passphrase: Sealed;
      statusCallback: string;
    }): Promise<{ sid: string }> {
      return failing(async () => {
        // Passphrase by SMS only when the link went by email, never on the link's channel: whoever reads one
        // channel must not get both (docs/architecture.md, "Confidentiality").
        const spoken = sealer.open(args.passphrase).replace(/(\d{3})(?=\d)/g, '$1 ');
        const body = `The passphrase for the secure link we emailed you is: ${spoken}`;
        const r = await sms.send({ to: args.to, body, statusCallback: args.statusCallback });
        return { sid: r.sid };
      });
    },

    async postNote(args: NotePost): Promise<void> {
      await notes.post(args);
    },
  };
}

export type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;
