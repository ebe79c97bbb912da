// Onetime Secret API v1 response bodies (docs/onetime-secret.md, "Receipt states"), parsed leniently: unknown
// fields are dropped, v0.24 alias fields (identifier, has_passphrase, receipt_ttl, receipt_url …) stand in when the
// v0.23 names are missing, and integers sent as numeric strings by older servers are accepted. The client hands out
// the camelCase shapes below; nothing outside src/ots sees the wire names.
import { z } from 'zod';

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
  // Only secret_key, never its alias: recent deletes secret_key but still emits secret_identifier
  // (docs/onetime-secret.md, "Receipt states"), and a list of receipts must not hand out share keys. "" after a
  // burn means "none".
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

/** POST /api/v1/private/:key/burn: `state` is the whole receipt object, not a string. */
export const burnWireSchema = z.object({
  state: receiptWireSchema,
  secret_shortkey: z.string().nullish(),
});
export type BurnWire = z.infer<typeof burnWireSchema>;

/** GET /api/v1/private/recent: a bare array. */
export const recentWireSchema = z.array(receiptWireSchema);

/** GET /api/v1/status and /authcheck. */
export const statusSchema = z.object({ status: z.string(), locale: z.string().optional() });
export type OtsStatus = z.infer<typeof statusSchema>;

/** The body of a v1 error (always JSON `{message}`; unmatched routes say `{error}`). */
export const errorWireSchema = z.object({
  message: z.string().optional(),
  error: z.string().optional(),
  secret_key: z.string().optional(),
});
