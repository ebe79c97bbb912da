// Types shared by the workflow, its activities and the HTTP layer. Pure data, no I/O (workflow sandbox rules).
import type { Sealed } from '../src/seal.js';

/**
 * Every state a hand-off can be in. `terminated` is reported by the agent API only, never held by the workflow: its
 * workflow closed (terminated, timed out or failed in Temporal) before the hand-off reached a final state
 * (src/http/shares.ts).
 */
export const SHARE_STATES = [
  'creating',
  'delivering',
  'awaiting_view',
  'viewed',
  'expired',
  'burned',
  'needs_technician',
  'resolved',
  'cancelled',
  'terminated',
] as const;
export type ShareState = (typeof SHARE_STATES)[number];

export const FINAL_STATES: readonly ShareState[] = ['viewed', 'expired', 'burned', 'resolved', 'cancelled'];

export type LinkTarget = { channel: 'sms'; to: string } | { channel: 'email'; to: string };

export type PassphraseFormat = 'digits' | 'letters';

/**
 * Where the passphrase goes. `voice`: read over the live call `callSid`; if that fails and the link went by email,
 * by SMS to `fallbackTo` (never on the link's channel).
 */
export type PassphraseDelivery =
  | { mode: 'none' }
  | { mode: 'sms'; to: string }
  | { mode: 'voice'; callSid: string; format: PassphraseFormat; fallbackTo?: string };

/**
 * The one field of the workflow input that holds secret material, all of it sealed (src/seal.ts): the workflow
 * passes it to activities without reading it. The passphrase is chosen by the API handler (not the activity) so
 * that a retried create uses the same one.
 */
export interface SecretMaterial {
  value?: Sealed;
  generate?: true;
  passphrase?: Sealed;
}

export interface ShareInput {
  shareId: string;
  ticketId: string;
  /** Which agent token started it: a stable id (src/http/auth.ts tokenId), never the token. */
  agent: string;
  sessionId?: string;
  secret: SecretMaterial;
  ttlSeconds: number;
  link: LinkTarget;
  passphrase: PassphraseDelivery;
  /** Poll schedule in seconds; the last value repeats (OTS_POLL_INTERVALS). */
  pollIntervals: number[];
  /** Where Twilio posts SMS status callbacks for this hand-off (already includes the share id). */
  smsStatusCallback: string;
  /** Post notes to the PSA webhook too (NOTES_WEBHOOK_URL is set). */
  notesWebhook: boolean;
  /** Voice passphrase: how long to wait for the call's media stream (VOICE_CALL_WAIT_SECONDS). */
  callWaitMs?: number;
  /**
   * The agent API's HMAC over everything above (src/handoff-input.ts), checked by the first activity: an input the
   * API did not make never reaches Onetime Secret or Twilio.
   */
  mac: string;
  /** Carried across continue-as-new; absent on the first run (and refused on a first run). */
  resume?: HandoffState;
}

/** What a hand-off's sealed values are bound to (src/seal.ts handoffContext): the share and its recipients. */
export type Binding = Pick<ShareInput, 'shareId' | 'link' | 'passphrase'>;

export interface Note {
  at: string;
  text: string;
  /** Set when a technician must act (API failure, expired unopened, undelivered SMS). */
  followUp?: boolean;
}

/**
 * Every message status Twilio's API has (twilio-node's MessageStatus; src/http/twilio-webhooks.ts checks at compile
 * time that the two lists are the same). `receiving` and `received` belong to inbound messages and never advance an
 * outbound one.
 */
export type SmsStatus =
  | 'accepted'
  | 'scheduled'
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'read'
  | 'undelivered'
  | 'failed'
  | 'canceled'
  | 'partially_delivered'
  | 'receiving'
  | 'received';

export interface SmsStatusEvent {
  messageSid: string;
  status: SmsStatus;
  errorCode?: string;
}

/**
 * What the create step produced. The link is sealed because it opens the secret; the receipt key too, because
 * Onetime Secret answers anyone holding it with the secret's key while it is unopened (and with a generated value
 * for a minute): docs/onetime-secret.md ("Receipt states").
 */
export interface CreatedSecret {
  receipt: Sealed;
  /** The receipt key's first 8 characters, for notes (not enough to fetch the receipt). */
  receiptRef: string;
  link: Sealed;
  expiresAt: string;
  passphraseRequired: boolean;
  /** An earlier attempt created it and its answer was lost; found again instead of creating a second one. */
  recovered?: true;
}

/**
 * Everything a hand-off knows, carried across continue-as-new as `ShareInput.resume`. Running workflows continue
 * with it, so its shape stays as it is: add optional fields only.
 */
export interface HandoffState {
  state: ShareState;
  created?: CreatedSecret;
  linkMessageSid?: string;
  linkSentAt?: string;
  /** Latest ranked status per message SID; a callback can arrive before the send activity's result. */
  sms: Record<string, { status: SmsStatus; errorCode?: string }>;
  passphraseMessageSid?: string;
  /** Messages whose delivery failure a technician already handled. */
  handledFailures: string[];
  burnRequestedBy?: string;
  /** Burning failed and waits for a technician (the burn update answers then). */
  burnBlocked?: boolean;
  passphraseDeliveredAt?: string;
  viewedAt?: string;
  polls: number;
  notes: Note[];
  runs: number;
  /**
   * When the first run started (the share request): a continued run's workflowInfo().startTime is its own start.
   * Absent in state carried over by a version before it; the continued run's start stands in then.
   */
  requestedAt?: string;
}

/** The status query's answer and GET /v1/shares/:id's body. Never holds the secret, passphrase or link. */
export interface ShareStatus {
  shareId: string;
  ticketId: string;
  /** The agent token id that started it (only that token may read or burn it through the API). */
  agent: string;
  state: ShareState;
  link: { channel: LinkTarget['channel']; to: string; sentAt?: string; deliveryStatus?: SmsStatus };
  passphrase: { mode: PassphraseDelivery['mode']; deliveredAt?: string };
  expiresAt?: string;
  viewedAt?: string;
  notes: Note[];
}

export type ResolveAction = 'retry' | 'delivered_manually' | 'cancel';

export interface Resolution {
  action: ResolveAction;
  /** Who resolved it and why; goes into the notes. */
  by?: string;
  comment?: string;
}

export type ShareResult = Pick<ShareStatus, 'shareId' | 'ticketId' | 'state' | 'viewedAt' | 'expiresAt'>;

// ---- Call sessions (workflows/call-session.ts) ----

export interface StreamStarted {
  streamSid: string;
  /** The task queue of the process that holds the stream: speakPassphrase must run there. */
  taskQueue: string;
  at: string;
}

export type CallLine = { live: true; taskQueue: string; streamSid: string } | { live: false; reason: string };

export interface CallSessionStatus {
  callSid: string;
  state: 'waiting_for_stream' | 'streaming' | 'ended';
  streamSid?: string;
  taskQueue?: string;
  /** Hand-offs (workflow ids) told about the stream, and those still waiting. */
  served: string[];
  waiting: string[];
  endedAt?: string;
  endReason?: string;
}

/** What speakPassphrase reports: never the passphrase, only how the reading went. */
export interface SpokenPassphrase {
  outcome: 'heard' | 'hung_up' | 'not_heard';
  /** Why it was not heard, when the voice line knows better than the outcome says (no passphrase, ever). */
  reason?: string;
  /** When the first complete reading finished playing (its final mark came back). */
  heardAt?: string;
  readings: number;
}
