// What the v1 and v2 route modules share: the store, the account, the clock, and how an answer is sent (every
// answer goes through `reply`, so an injected `stall` or `garble` fault can hold it back or cut it).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Limiter, SentMail, Store } from './store.js';
import type { Params } from './params.js';

export interface Account {
  username: string;
  apiKey: string;
  /** The customer's objid: v2's owner_id and recent-list custid (lib/onetime/models/customer.rb: custid ||= objid). */
  objid: string;
}

export interface Ctx {
  now: () => number;
  store: Store;
  limiter: Limiter;
  account?: Account;
  /** The account holds the api_access entitlement (v2's require_entitlement!, lib/onetime/logic/base.rb). */
  apiAccess: boolean;
  plan?: string;
  mail: SentMail[];
  countCreate(): void;
  /** The emulator's own base URL (…/sandbox/ots): the "site host" of every link it makes. */
  base(req: Request): string;
  reply(res: Response, status: number, body: unknown, o?: { type?: string; headers?: Record<string, string> }): void;
  /**
   * Query string and body merged (the body wins), parsed as Rack parses them, then the route's captures. For v2
   * (`route` given) a JSON body is merged once more over the captures, as Otto's LogicClassHandler does
   * (delano/otto lib/otto/route_handlers/logic_class.rb, extract_logic_params).
   */
  params(req: Request, route?: Record<string, string>): Params;
}

/** A UUID-shaped objid made from the username, so it stays the same across restarts (Familia uses uuid_v7). */
export function objidFor(username: string): string {
  const h = createHash('sha256').update(`ots-emulator objid ${username}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function sameSecret(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Rack::RequestId (lib/middleware/request_id.rb): a printable incoming X-Request-Id is kept, else a new trace id. */
export function requestId(req: Request): string {
  const incoming = req.get('x-request-id') ?? '';
  if (/^[\x20-\x7e]{1,200}$/.test(incoming)) return incoming;
  // Familia.generate_trace_id: 64 random bits in base 36 (delano/familia lib/familia/secure_identifier.rb).
  return BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .padStart(13, '0');
}

/** The client address the v2 limiter's per-IP tier keys on (IPv4 masked to /24, as the server's edge masks it). */
export function clientIp(req: Request): string | undefined {
  const a = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  if (!a) return undefined;
  const v4 = /^(\d+\.\d+\.\d+)\.\d+$/.exec(a);
  return v4 ? `${v4[1]}.0` : a;
}

/** natural_duration (lib/onetime/utils/time_utils.rb). */
export function naturalDuration(s: number): string {
  if (s <= 60) return `${Math.trunc(s)} seconds`;
  if (s <= 3600) return `${Math.trunc(s / 60)} minutes`;
  if (s <= 86_400) return `${Math.trunc(s / 3600)} hours`;
  return `${Math.trunc(s / 86_400)} days`;
}

/** display_lines as show_receipt.rb / reveal_secret.rb compute it. */
export function displayLines(value: string | undefined): number {
  const v = value ?? '';
  const lines = Math.floor((80 + [...v].length) / 80) + (v.match(/\n/g)?.length ?? 0) + 3;
  return Math.min(lines, 30);
}

export const GENERATED_VALUE_DISPLAY_S = 60; // site.secret_options.generated_value_display_ttl (config.defaults.yaml)
export const DEFAULT_TTL = 7 * 86_400; // lib/onetime/config.rb DEFAULTS secret_options.default_ttl
export const MIN_TTL = 60; // v1: V1_MIN_TTL; v2: ttl_options.min (lib/onetime/config.rb)
export const MAX_TTL = 30 * 86_400; // v1: V1_MAX_TTL; v2: ttl_options.max
export const MAX_TTL_ANONYMOUS = 7 * 86_400; // WithEntitlements::ANONYMOUS_MAX_TTL, ttl_max_anonymous
export const MAX_SECRET_BYTES = 10_000; // V1_MAX_SECRET_SIZE; content.maximum_length
export const PASSPHRASE_MIN = 4; // passphrase.minimum_length (config.defaults.yaml)
export const PASSPHRASE_MAX = 128; // passphrase.maximum_length
export const GENERATE_LENGTH = 12; // password_generation.default_length
export const GENERATE_MAX = 128; // password_generation.maximum_length
/** A loaded receipt's default_expiration is the class default, 14 days (receipt.rb; delano/familia expiration.rb). */
export const RECEIPT_CLASS_EXPIRATION = 14 * 86_400;
