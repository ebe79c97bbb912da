// The emulator's data: secrets and receipts as the real server keeps them in Redis, the passphrase limiter's
// counters, and the model transitions both API versions share. Everything here follows
// onetimesecret/onetimesecret lib/onetime/models/receipt.rb (spawn_pair), lib/onetime/models/receipt/features/
// deprecated_fields.rb (revealed!, burned!, expired!, orphaned!), lib/onetime/models/secret.rb and
// lib/onetime/security/passphrase_rate_limiter.rb. Time is the injected clock; nothing here reads Date.now.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/**
 * The receipt states the server's code stores (Receipt#init and the transitions in deprecated_fields.rb). v1
 * answers `revealed` as `received` (apps/api/v1/controllers/class_methods.rb, V1_STATE_MAP); v2 answers them as stored.
 */
export type EmulatorState = 'new' | 'revealed' | 'burned' | 'expired' | 'orphaned';

export interface StoredSecret {
  key: string;
  metadataKey: string;
  value: string;
  /** scrypt(passphrase, salt); the passphrase itself is never kept. */
  passphrase?: { salt: Buffer; hash: Buffer };
  expiresAtMs: number;
  /** Kept for snapshots written before the limiter below existed; always 0 now. */
  failedAttempts: number;
  createdMs?: number;
  ttl?: number;
  ownerId?: string | null;
}

export interface StoredReceipt {
  key: string;
  secretKey: string;
  /** The creator as v1 shows it: the account's username, or "anon". */
  custid: string;
  /** The account's objid (v2's owner_id); null for an anonymous creator. */
  ownerId?: string | null;
  /** The lifespan asked for, after clamping: secret_ttl, lifespan, and (in v2) metadata_ttl/receipt_ttl. */
  ttl: number;
  createdMs: number;
  updatedMs: number;
  /** When the secret was revealed (`revealed`; v1's `received`). */
  receivedMs?: number;
  burnedMs?: number;
  state: EmulatorState;
  /** Obscured addresses (the receipt's `recipients` field holds only the first, obscured). */
  recipient: string[];
  hasPassphrase: boolean;
  secretExpiresAtMs: number;
  /** The receipt lives 2×ttl in Redis (Receipt.spawn_pair: default_expiration = lifespan * 2). */
  expiresAtMs: number;
  kind?: 'conceal' | 'generate';
  shareDomain?: string | null;
  /**
   * The receipt's stored `secret_identifier`: absent (= the secret's key) while new; "" once a transition cleared
   * it; null once a receipt view of a destroyed receipt deleted it (show_receipt.rb: `secret_identifier! nil`).
   */
  secretIdentifier?: string | null;
  /** Access-timeline scores (epoch ms): each status check of the secret (access_timeline.rb, at most 100 kept). */
  accessMs?: number[];
  /** claim_secret_value_display!: the one-time display of a generated value has been claimed. */
  valueShownMs?: number;
  /** Snapshots written before kind existed kept the generated value here until its first display. */
  generatedValue?: string;
}

export interface SentMail {
  to: string;
  link: string;
  metadataKey: string;
  at: number;
}

/** passphrase_rate_limiter.rb: per secret+IP tier and per-secret global backstop. */
/** Recent lists cover the last 30 days (v1 show_receipt_list.rb, v2 list_receipts.rb). */
export const RECENT_WINDOW_S = 30 * 86_400;
export const PASSPHRASE_MAX_ATTEMPTS_PER_IP = 5;
export const PASSPHRASE_MAX_ATTEMPTS = 20;
export const PASSPHRASE_ATTEMPT_WINDOW_S = 600;
export const PASSPHRASE_LOCKOUT_S = 1800;

export interface LimiterState {
  /** "passphrase:attempts:<secret>[:<ip>]" → count and when the key expires. */
  attempts: Record<string, { count: number; expiresAtMs: number }>;
  /** "passphrase:locked:<secret>[:<ip>]" → when the lockout key expires. */
  locked: Record<string, number>;
}

/** Redis TTL in whole seconds, rounded as `TTL` rounds ((ms + 500) / 1000), never below 0. */
export const redisTtl = (atMs: number, nowMs: number): number => Math.max(0, Math.floor((atMs - nowMs + 500) / 1000));

export function createLimiter(now: () => number) {
  let state: LimiterState = { attempts: {}, locked: {} };
  const keys = (secret: string, ip: string | undefined) =>
    [
      { suffix: '', max: PASSPHRASE_MAX_ATTEMPTS },
      ...(ip ? [{ suffix: `:${ip}`, max: PASSPHRASE_MAX_ATTEMPTS_PER_IP }] : []),
    ].map((t) => ({
      attempts: `passphrase:attempts:${secret}${t.suffix}`,
      locked: `passphrase:locked:${secret}${t.suffix}`,
      max: t.max,
    }));
  const live = <T extends { expiresAtMs: number } | number>(rec: Record<string, T>, key: string): T | undefined => {
    const v = rec[key];
    if (v === undefined) return undefined;
    const at = typeof v === 'number' ? v : v.expiresAtMs;
    if (now() >= at) {
      delete rec[key];
      return undefined;
    }
    return v;
  };
  return {
    /** check_passphrase_rate_limit!: the per-IP tier first, then the global one. Locked → seconds to wait. */
    check(secret: string, ip?: string): { retryAfter: number; maxAttempts: number } | undefined {
      for (const k of keys(secret, ip).reverse()) {
        const until = live(state.locked, k.locked);
        if (until !== undefined) {
          const ttl = redisTtl(until, now());
          return { retryAfter: ttl > 0 ? ttl : PASSPHRASE_LOCKOUT_S, maxAttempts: k.max };
        }
      }
      return undefined;
    },
    /** record_failed_passphrase_attempt!: INCR (window from the first failure); at the tier's max, lock and reset. */
    record(secret: string, ip?: string): void {
      for (const k of keys(secret, ip)) {
        const cur = live(state.attempts, k.attempts) ?? {
          count: 0,
          expiresAtMs: now() + PASSPHRASE_ATTEMPT_WINDOW_S * 1000,
        };
        cur.count += 1;
        state.attempts[k.attempts] = cur;
        if (cur.count >= k.max) {
          state.locked[k.locked] = now() + PASSPHRASE_LOCKOUT_S * 1000;
          delete state.attempts[k.attempts];
        }
      }
    },
    /** clear_passphrase_rate_limit!: both tiers (the per-IP one only for this IP). */
    clear(secret: string, ip?: string): void {
      for (const k of keys(secret, ip)) {
        delete state.attempts[k.attempts];
        delete state.locked[k.locked];
      }
    },
    snapshot: (): LimiterState => structuredClone(state),
    restore(s: LimiterState): void {
      state = structuredClone(s);
    },
    reset(): void {
      state = { attempts: {}, locked: {} };
    },
  };
}
export type Limiter = ReturnType<typeof createLimiter>;

/** 62 chars of [0-9a-z]: base36 of 320 random bits, left-padded, like Familia's verifiable identifiers. */
export function newKey(): string {
  return BigInt(`0x${randomBytes(40).toString('hex')}`)
    .toString(36)
    .padStart(62, '0');
}

/** bob@example.org → bo***@e***.org (OT::Utils.obscure_email). */
export function obscureEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  const dot = domain.lastIndexOf('.');
  const tld = dot >= 0 ? domain.slice(dot) : '';
  return `${local.slice(0, 2)}***@${domain.slice(0, 1)}***${tld}`;
}

export async function hashPassphrase(passphrase: string): Promise<{ salt: Buffer; hash: Buffer }> {
  const salt = randomBytes(16);
  return { salt, hash: await scryptAsync(passphrase, salt, 32) };
}

export async function passphraseMatches(
  stored: { salt: Buffer; hash: Buffer } | undefined,
  given: string,
): Promise<boolean> {
  // passphrase? (lib/onetime/models/features/passphrase_hashing.rb): false when the secret has none.
  if (!stored) return false;
  return timingSafeEqual(stored.hash, await scryptAsync(given, stored.salt, 32));
}

/** The receipt's stored secret_identifier (see StoredReceipt.secretIdentifier). */
export const storedSecretId = (r: StoredReceipt): string | null =>
  r.secretIdentifier === undefined ? r.secretKey : r.secretIdentifier;

export const isDestroyed = (r: StoredReceipt): boolean => r.state !== 'new';

export function createStore(now: () => number) {
  const secrets = new Map<string, StoredSecret>();
  const receipts = new Map<string, StoredReceipt>();

  return {
    secrets,
    receipts,
    /** Redis: the receipt, unless its own TTL (2×ttl) ran out. Never changes its state. */
    receipt(key: string): StoredReceipt | undefined {
      const r = receipts.get(key);
      if (r && now() >= r.expiresAtMs) {
        receipts.delete(key);
        return undefined;
      }
      return r;
    },
    /** Redis: the secret, unless its TTL ran out. Never touches the receipt (that waits for a receipt view). */
    secret(key: string): StoredSecret | undefined {
      const s = secrets.get(key);
      if (s && now() >= s.expiresAtMs) {
        secrets.delete(key);
        return undefined;
      }
      return s;
    },
    /** Transition guard shared by revealed!/burned!/expired!/orphaned!: only a new receipt moves. */
    transition(r: StoredReceipt, to: Exclude<EmulatorState, 'new'>): boolean {
      if (r.state !== 'new') return false;
      r.state = to;
      r.updatedMs = now(); // every save stamps `updated` (delano/familia lib/familia/horreum/persistence.rb)
      if (to === 'revealed') r.receivedMs = now();
      if (to === 'burned') r.burnedMs = now();
      r.secretIdentifier = '';
      return true;
    },
    /** Reveal: destroy the secret, receipt → revealed (Secret#consume_after_reveal!). */
    consume(s: StoredSecret): void {
      secrets.delete(s.key);
      const r = receipts.get(s.metadataKey);
      if (r) this.transition(r, 'revealed');
    },
    /** Burn: destroy the secret, receipt → burned (Secret#burned!). */
    burn(s: StoredSecret): void {
      secrets.delete(s.key);
      const r = receipts.get(s.metadataKey);
      if (r) this.transition(r, 'burned');
    },
    /**
     * What a receipt view does before it answers (show_receipt.rb, v1 and v2): a receipt whose secret is gone
     * becomes expired (its secret's lifetime is over) or orphaned (it vanished otherwise); a destroyed receipt's
     * stored secret_identifier is then deleted. Returns the secret when it still exists.
     */
    settle(r: StoredReceipt): StoredSecret | undefined {
      const s = this.secret(r.secretKey);
      if (s) return s;
      if (r.state === 'new') {
        // secret_expired?: Familia.now.to_i >= secret_ttl + created.to_i
        const expired = Math.floor(now() / 1000) >= r.ttl + Math.floor(r.createdMs / 1000);
        if (expired) this.transition(r, 'expired');
        else if (storedSecretId(r) !== '') this.transition(r, 'orphaned');
      }
      if (isDestroyed(r) && storedSecretId(r) !== null) r.secretIdentifier = null;
      return undefined;
    },
    /** An access-timeline event (status check); the newest 100 are kept. */
    recordAccess(r: StoredReceipt): void {
      r.accessMs = [...(r.accessMs ?? []), now()].slice(-100);
    },
    clear(): void {
      secrets.clear();
      receipts.clear();
    },
  };
}
export type Store = ReturnType<typeof createStore>;

/** Snapshot migration: receipts and secrets written by the v1-only emulator. */
export function migrateReceipt(r: StoredReceipt): StoredReceipt {
  const old = r.state as string;
  const out: StoredReceipt = { ...r, state: old === 'received' ? 'revealed' : old === 'viewed' ? 'new' : r.state };
  out.kind ??= r.generatedValue !== undefined ? 'generate' : 'conceal';
  if (out.state !== 'new' && out.secretIdentifier === undefined) out.secretIdentifier = '';
  delete out.generatedValue;
  return out;
}
