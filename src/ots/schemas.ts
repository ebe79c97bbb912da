// Onetime Secret response bodies of API v1 and v2 (docs/onetime-secret.md, "Receipt states" and "API v2 as this
// client uses it"), parsed leniently: unknown fields are dropped, v0.24 alias fields (identifier, has_passphrase,
// receipt_ttl, receipt_url …) stand in when the v0.23 names are missing, and integers sent as numeric strings by
// older servers are accepted. Both versions map onto the one camelCase Receipt below; nothing outside src/ots sees
// the wire names or which version answered.
import { z } from 'zod';

export type OtsApiVersion = 'v1' | 'v2';
/** What OTS_API_VERSION may say: a version, or `auto` (v2 when the server offers it and the account may use it). */
export const OTS_API_CHOICES = ['auto', 'v2', 'v1'] as const;
export type OtsApiChoice = (typeof OTS_API_CHOICES)[number];

/** Integer seconds; older servers sometimes send them as strings. */
const int = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

/**
 * v2 vocabulary (shared/previewed/revealed) mapped to v1's, as the server's own V1_STATE_MAP does
 * (onetimesecret/onetimesecret apps/api/v1/controllers/class_methods.rb).
 */
const V2_STATES: Record<string, string> = { shared: 'new', previewed: 'viewed', revealed: 'received' };
export const receiptStateSchema = z.preprocess(
  (s) => (typeof s === 'string' ? (V2_STATES[s] ?? s) : s),
  z.enum(['new', 'viewed', 'received', 'burned', 'expired', 'orphaned']),
);
export type ReceiptState = z.infer<typeof receiptStateSchema>;

/** The receipt as the client returns it. */
export const receiptSchema = z.object({
  metadataKey: z.string().min(1),
  /** Absent once received; may be absent or empty after a burn. */
  secretKey: z.string().min(1).optional(),
  /** TTL requested at creation, after the server's clamping. */
  ttl: z.number().int(),
  /** Seconds the receipt itself still lives. */
  metadataTtl: z.number().int().optional(),
  /** Seconds the secret still lives; null when it is gone and in list/burn output. */
  secretTtl: z.number().int().nullable().optional(),
  state: receiptStateSchema,
  /** Unix epoch seconds. */
  created: z.number().int(),
  updated: z.number().int(),
  received: z.number().int().optional(),
  /** Obscured addresses (bo***@e***.org). */
  recipient: z.array(z.string()),
  /** "" for the server's own domain, otherwise a bare custom domain. */
  shareDomain: z.string(),
  passphraseRequired: z.boolean().optional(),
  metadataUrl: z.string().optional(),
});
export type Receipt = z.infer<typeof receiptSchema>;

/** A v1 receipt object on the wire (share, generate, receipt, recent items, burn's `state`). */
export const receiptWireSchema = z
  .object({
    custid: z.string().nullish(),
    metadata_key: z.string().min(1).optional(),
    identifier: z.string().min(1).optional(),
    secret_key: z.string().nullish(),
    secret_identifier: z.string().nullish(),
    ttl: int,
    metadata_ttl: int.nullish(),
    receipt_ttl: int.nullish(),
    secret_ttl: int.nullish(),
    metadata_url: z.string().nullish(),
    receipt_url: z.string().nullish(),
    state: receiptStateSchema,
    created: int,
    updated: int,
    received: int.nullish(),
    recipient: z.union([z.array(z.string()), z.string(), z.null()]).optional(),
    recipients: z.union([z.array(z.string()), z.string(), z.null()]).optional(),
    share_domain: z.string().nullish(),
    passphrase_required: z.boolean().optional(),
    has_passphrase: z.boolean().optional(),
    value: z.string().optional(),
    secret_value: z.string().optional(),
  })
  .refine((r) => r.metadata_key ?? r.identifier, { message: 'metadata_key is missing', path: ['metadata_key'] });
export type ReceiptWire = z.infer<typeof receiptWireSchema>;

const list = (v: string[] | string | null | undefined): string[] => (Array.isArray(v) ? v : v ? [v] : []);

export function toReceipt(w: ReceiptWire): Receipt {
  const r: Receipt = {
    metadataKey: (w.metadata_key ?? w.identifier)!,
    ttl: w.ttl,
    state: w.state,
    created: w.created,
    updated: w.updated,
    recipient: list(w.recipient ?? w.recipients),
    shareDomain: w.share_domain ?? '',
  };
  // Only secret_key, never its alias: v1's recent deletes secret_key (but still emits the alias
  // secret_identifier), and the client keeps v1's list as v1 means it, without share keys. v2's list gives
  // secret_identifier as a field of its own, which toReceiptV2 keeps (create recovery uses it:
  // docs/onetime-secret.md, "Creating exactly once"). "" after a burn means "none".
  if (w.secret_key) r.secretKey = w.secret_key;
  const metadataTtl = w.metadata_ttl ?? w.receipt_ttl;
  if (metadataTtl != null) r.metadataTtl = metadataTtl;
  if (w.secret_ttl !== undefined) r.secretTtl = w.secret_ttl;
  if (w.received != null) r.received = w.received;
  const passphraseRequired = w.passphrase_required ?? w.has_passphrase;
  if (passphraseRequired !== undefined) r.passphraseRequired = passphraseRequired;
  const metadataUrl = w.metadata_url ?? w.receipt_url;
  if (metadataUrl) r.metadataUrl = metadataUrl;
  return r;
}

/** POST /api/v1/secret/:key. `share_domain` here is scheme+host, unlike in receipts (a host, or ""). */
export const retrieveWireSchema = z.object({
  value: z.string(),
  secret_key: z.string().optional(),
  share_domain: z.string().nullish(),
});
export type RetrieveWire = z.infer<typeof retrieveWireSchema>;

/**
 * POST /api/v1/private/:key/burn: `state` is the whole receipt object, not a string, as loaded before the burn (its
 * state still says `new`: see v2BurnWireSchema).
 */
export const burnWireSchema = z.object({
  state: receiptWireSchema,
  secret_shortkey: z.string().nullish(),
});
export type BurnWire = z.infer<typeof burnWireSchema>;

/** GET /api/v1/private/recent: a bare array. */
export const recentWireSchema = z.array(receiptWireSchema);

/** GET /api/v1/status, /api/v1/authcheck and /api/v2/status (v2 adds `success`, dropped here). */
export const statusSchema = z.object({ status: z.string(), locale: z.string().optional() });
export type OtsStatus = z.infer<typeof statusSchema>;

/** The body of a v1 error (always JSON `{message}`; unmatched routes say `{error}`). */
export const errorWireSchema = z.object({
  message: z.string().optional(),
  error: z.string().optional(),
  secret_key: z.string().optional(),
});

// ---- API v2 (onetimesecret/onetimesecret apps/api/v2/) ----

/**
 * Seconds or epoch times as v2 sends them: `created`/`updated` are floats (`to_f` in
 * lib/onetime/models/receipt/features/safe_dump_fields.rb), TTLs integers, and older v2 servers sent every value as
 * a string ("V2 API returns string values for all fields", apps/api/v2/routes.txt). Floored to whole seconds.
 */
const seconds = z
  .union([
    z.number().nonnegative(),
    z
      .string()
      .regex(/^\d+(\.\d+)?$/)
      .transform(Number),
  ])
  .transform(Math.floor);
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((s) => s === 'true')]);

/**
 * A v2 receipt record: `Receipt#safe_dump` (lib/onetime/models/receipt/features/safe_dump_fields.rb), which the
 * create, receipt, burn and recent answers all start from. `state` is the stored state: `new`, `revealed`, `burned`,
 * `expired` or `orphaned` (Receipt#init and lib/onetime/models/receipt/features/deprecated_fields.rb), not the
 * documented shared/previewed vocabulary, which receiptStateSchema also takes. `lifespan` and `secret_ttl` are both
 * the TTL the secret was created with (after clamping), not the time left (Receipt.spawn_pair).
 */
export const v2ReceiptWireSchema = z
  .object({
    identifier: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    secret_identifier: z.string().nullish(),
    state: receiptStateSchema,
    lifespan: seconds.nullish(),
    secret_ttl: seconds.nullish(),
    created: seconds,
    updated: seconds,
    revealed: seconds.nullish(),
    received: seconds.nullish(),
    recipients: z.union([z.array(z.string()), z.string(), z.null()]).optional(),
    share_domain: z.string().nullish(),
    has_passphrase: flag.nullish(),
    receipt_url: z.string().nullish(),
    metadata_url: z.string().nullish(),
  })
  .refine((r) => r.identifier ?? r.key, { message: 'identifier is missing', path: ['identifier'] })
  .refine((r) => (r.lifespan ?? r.secret_ttl) != null, { message: 'lifespan is missing', path: ['lifespan'] });
export type V2ReceiptWire = z.infer<typeof v2ReceiptWireSchema>;

/** `Secret#safe_dump` (lib/onetime/models/secret/features/safe_dump_fields.rb): only its identifier is used. */
const v2SecretWireSchema = z
  .object({ identifier: z.string().min(1).optional(), key: z.string().min(1).optional() })
  .refine((r) => r.identifier ?? r.key, { message: 'identifier is missing', path: ['identifier'] });

/**
 * POST /api/v2/secret/conceal and /generate: `{success, record: {receipt, metadata, secret, share_domain},
 * details}` (apps/api/v2/logic/secrets/base_secret_action.rb, success_data). The generated value is not in it.
 */
export const v2CreateWireSchema = z.object({
  record: z.object({ receipt: v2ReceiptWireSchema, secret: v2SecretWireSchema, share_domain: z.string().nullish() }),
});

/**
 * GET /api/v2/receipt/:identifier: `{record, details}` (apps/api/v2/logic/secrets/show_receipt.rb). `record` leaves
 * out `secret_identifier` unless the secret may be shown (it exists, has no passphrase, is unopened);
 * `details.secret_realttl` is the secret's time left, absent or null once it is gone.
 */
export const v2ShowReceiptWireSchema = z.object({
  record: v2ReceiptWireSchema,
  details: z.object({ secret_realttl: seconds.nullish() }).partial().nullish(),
});

/**
 * POST /api/v2/receipt/:identifier/burn: `{success, record, details}` (apps/api/v2/logic/secrets/burn_secret.rb).
 * The record is the receipt as loaded before the burn (`Secret#burned!` updates its own copy of the receipt:
 * lib/onetime/models/secret/features/secret_state_management.rb), so its state still says `new`; `success` is what
 * says whether this request burned it (false when a concurrent reveal or burn won). A secret already gone makes
 * BurnSecret#process return nil, which delano/otto renders as `{"success": true}` with no record
 * (lib/otto/response_handlers/json.rb).
 */
export const v2BurnWireSchema = z.object({ success: flag.optional(), record: v2ReceiptWireSchema.optional() });

/** GET /api/v2/receipt/recent: `{success, custid, count, records, details}` (list_receipts.rb), newest first. */
export const v2RecentWireSchema = z.object({ records: z.array(v2ReceiptWireSchema) });

/** POST /api/v2/secret/:identifier/reveal: the value is `record.secret_value` (reveal_secret.rb, success_data). */
export const v2RevealWireSchema = z.object({
  record: z.object({ secret_value: z.string(), identifier: z.string().optional(), share_domain: z.string().nullish() }),
});

/**
 * A v2 error body (lib/onetime/errors.rb `to_h`, rendered by lib/onetime/application/otto_hooks.rb): `error` is the
 * message, `error_type` the class (RecordNotFound, FormError's own type or none, Forbidden, EntitlementRequired,
 * LimitExceeded, Unauthorized, NotFound for an unmatched route), `field` the form field, `retry_after` seconds.
 * An authentication failure from delano/otto has `{error: "Authentication Required", message}`.
 */
export const v2ErrorWireSchema = z
  .object({
    error: z.string().optional(),
    error_type: z.string().nullish(),
    field: z.string().nullish(),
    entitlement: z.string().nullish(),
    error_key: z.string().nullish(),
    retry_after: seconds.nullish(),
    message: z.string().optional(),
  })
  .partial();

/** A v2 receipt record as the client's Receipt. `secretTtl` (time left) comes from the receipt answer's details. */
export function toReceiptV2(w: V2ReceiptWire, secretTtl?: number | null): Receipt {
  const r: Receipt = {
    metadataKey: (w.identifier ?? w.key)!,
    ttl: (w.lifespan ?? w.secret_ttl)!,
    state: w.state,
    created: w.created,
    updated: w.updated,
    recipient: list(w.recipients),
    shareDomain: w.share_domain ?? '',
  };
  if (w.secret_identifier) r.secretKey = w.secret_identifier;
  if (secretTtl !== undefined) r.secretTtl = secretTtl;
  const received = w.revealed ?? w.received;
  if (r.state === 'received' && received) r.received = received;
  if (w.has_passphrase != null) r.passphraseRequired = w.has_passphrase;
  const url = w.receipt_url ?? w.metadata_url;
  if (url) r.metadataUrl = url;
  return r;
}
