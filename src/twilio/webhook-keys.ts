// TWILIO_WEBHOOK_KEYS: the Twilio SharedKeys that may sign our webhooks instead of the account auth token, as a
// comma list of `<key id>:<secret>` (docs/twilio.md, "Webhook signing: auth token or shared keys"). The key id is
// the one Twilio shows for the SharedKey and names in the X-Twilio-Webhooks-Signature-Settings header of each
// webhook it signs with it (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys); the secret is the one
// Twilio returned when the key was created. Listing two keys is how a rotation runs without downtime.
//
// A problem names the entry by its position only, never by its text, not even the key id: an entry without `:`, or
// one written the wrong way round (`<secret>:<key id>`), holds the secret where the id should be.

export interface TwilioWebhookKey {
  /** As Twilio shows it (`webhooks_sharedkey_…`); any non-empty id without `:` or `,` is accepted. */
  id: string;
  secret: string;
}

export const TWILIO_WEBHOOK_KEYS_RULE =
  'must be a comma list of <key id>:<secret>, the SharedKey id as Twilio shows it and the secret Twilio returned for it';
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

/** Parses TWILIO_WEBHOOK_KEYS; throws an Error whose message never contains a secret. */
export function parseTwilioWebhookKeys(text: string): TwilioWebhookKey[] {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error(TWILIO_WEBHOOK_KEYS_RULE);
  const keys = entries.map((entry, i) => {
    const colon = entry.indexOf(':');
    if (colon === -1)
      throw new Error(`entry ${i + 1} has no ":" between key id and secret (${TWILIO_WEBHOOK_KEYS_RULE})`);
    const id = entry.slice(0, colon).trim();
    const secret = entry.slice(colon + 1).trim();
    if (!id) throw new Error(`entry ${i + 1} has an empty key id (${TWILIO_WEBHOOK_KEYS_RULE})`);
    if (secret.length < MIN_WEBHOOK_SECRET_LENGTH)
      throw new Error(
        `entry ${i + 1}: the secret must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters (${TWILIO_WEBHOOK_KEYS_RULE})`,
      );
    return { id, secret };
  });
  const first = new Map<string, number>();
  keys.forEach(({ id }, i) => {
    const earlier = first.get(id);
    if (earlier !== undefined)
      throw new Error(`entries ${earlier + 1} and ${i + 1} have the same key id: each key id may appear only once`);
    first.set(id, i);
  });
  return keys;
}
