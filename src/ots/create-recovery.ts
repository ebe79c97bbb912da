// Exactly one Onetime Secret per hand-off, across crashes and ambiguous timeouts.
//
// The problem: creating a secret is not idempotent (neither POST /api/v1/share nor /api/v2/secret/conceal takes an
// idempotency key), and a create can succeed on the server while its answer is lost: the worker is SIGKILLed
// mid-call, the client times out, the connection resets, a proxy answers 502 or mangles the JSON. Temporal then runs
// the activity again, and a naive retry makes a second live secret (a second credential in the wild, and a link
// nobody tracks).
//
// The design (docs/onetime-secret.md, "Creating exactly once"; activities/create-secret.ts is the activity's side):
//  1. A fingerprint the server echoes back. OTS keeps no tag or label, but it returns the `ttl` it was given in
//     every receipt, recent-list entries included. So each hand-off asks for its TTL minus a small offset derived
//     from its share id (at most 1 % of the TTL, never more than 15 minutes, never below OTS's 60 s minimum): the
//     link never lives longer than asked for, and the receipt's `ttl` says which hand-off it most likely belongs to.
//  2. A marker before the call. Just before POSTing, the activity heartbeats `{ sentAt, lastSentAt }`; heartbeat
//     details survive into the next attempt of the same activity (activityInfo().heartbeatDetails), SIGKILL included.
//     When OTS answers with an error that proves nothing was created (auth, bad request, rate limit, not found:
//     the errors whose `refused` is true, src/ots/errors.ts), the marker is `settled`: the next attempt has nothing
//     to look for.
//  3. A lookup before any retry. On attempt 2 or later (or when the workflow retries the step for a technician,
//     `recover`), the activity first lists the recent receipts (GET /api/v1/private/recent, /api/v2/receipt/recent)
//     and keeps the live ones whose `ttl` equals the fingerprint and whose `created` lies in the window where an earlier send
//     could have landed: from the first send to the last send plus the client's request deadline (± clock skew).
//     Only when no marker reached the server (a crash right at the send) is the window "since the step was
//     scheduled, until now". Keeping the window this narrow matters: a fingerprint is not unique (a 1 h TTL has 36
//     offsets), and a single foreign receipt in the window would be taken for ours.
//       - exactly one: that is our secret. While it is unopened its receipt gives its secret key (on v2, for a
//         passphrase-protected secret, the recent list does), which rebuilds the link; nothing new is created
//         (docs/onetime-secret.md, "Creating exactly once").
//       - none: no earlier attempt reached the server; create.
//       - several: another hand-off with the same fingerprint created one in the same window. Guessing could hand
//         this caller someone else's credential, and creating could leave a duplicate, so the step fails with
//         OTS_CREATE_AMBIGUOUS and the hand-off pauses for a technician, whose note names the candidate receipts.
//     A heartbeat without a marker cannot prove that no request left, so a retry without one still looks.
//  4. Clamped receipts. OTS clamps a TTL above the account's ceiling silently (7 d anonymous, 14 d free plan, 30 d),
//     and a clamped receipt shows the ceiling, not the fingerprint. Every hand-off over the ceiling then shows the
//     same `ttl` (and a 7 d hand-off whose offset is 0 shows exactly 7 d), so a ceiling counts as a candidate only
//     when the account is known to clamp to it: learned from a create answered with less than it asked for
//     (AccountTtlCeiling, kept per process) and carried in the marker of every send made while it was known, since
//     the lookup may run in another process after a crash, whose memory is empty. Not known means not a candidate:
//     a lost create on a clamping account may then be created a second time (an extra secret nobody was sent),
//     which is the safe failure; the other way round would send this caller a stranger's link.
// The price: a retried create costs one extra recent-receipts call, and links live up to 1 % shorter than asked.
import { createHash } from 'node:crypto';
import type { Receipt } from './schemas.js';
import { MIN_TTL_SECONDS } from './ttl.js';

/** Offsets span at most this share of the TTL … */
export const FINGERPRINT_SPAN_SHARE = 0.01;
/** … and at most this many seconds. */
export const FINGERPRINT_SPAN_MAX_SECONDS = 900;
/** Our clock against OTS's `created` (epoch seconds): a created time this far outside the window still counts. */
export const CLOCK_SKEW_MS = 30_000;
/**
 * TTL ceilings OTS clamps to silently (7 d anonymous, 14 d free plan, 30 d; docs/onetime-secret.md, "TTL bounds").
 * A receipt showing one of these below our fingerprint may be ours, clamped, but only on an account known to clamp
 * to it (`clampCeilings` of matchCreatedReceipt): anyone's 7 d hand-off may show exactly 7 d.
 */
export const OTS_TTL_CEILINGS: readonly number[] = [7 * 86_400, 14 * 86_400, 30 * 86_400];

/**
 * The TTL ceiling this process has seen the OTS account apply, from create answers: a create asked for more than a
 * ceiling and the receipt came back with the ceiling. A later create answered with more than the remembered ceiling
 * (the plan was upgraded) forgets it. Memory only: a new process starts knowing nothing, which is why each send
 * also writes what was known into its CreateMarker.
 */
export class AccountTtlCeiling {
  #ceiling: number | undefined;

  /** The ceiling the account was last seen clamping to, if any. */
  get known(): number | undefined {
    return this.#ceiling;
  }

  /** One create's answer: the TTL asked for and the `ttl` its receipt shows. */
  observe(asked: number, got: number): void {
    if (got < asked && OTS_TTL_CEILINGS.includes(got)) this.#ceiling = got;
    else if (got >= asked && this.#ceiling !== undefined && got > this.#ceiling) this.#ceiling = undefined;
  }
}

/** The TTL a hand-off asks OTS for: `ttlSeconds` minus an offset fixed by the share id. */
export function fingerprintTtl(shareId: string, ttlSeconds: number): number {
  const span = Math.min(
    FINGERPRINT_SPAN_MAX_SECONDS,
    Math.floor(ttlSeconds * FINGERPRINT_SPAN_SHARE),
    ttlSeconds - MIN_TTL_SECONDS + 1,
  );
  if (span < 2) return ttlSeconds;
  const offset = createHash('sha256').update(`ots-handoff ttl fingerprint\0${shareId}`).digest().readUInt32BE(0) % span;
  return ttlSeconds - offset;
}

/**
 * What earlier attempts left behind: when the first and the last create were sent (epoch ms), whether the last
 * answer proved that nothing was created (then nothing sent earlier is unaccounted for either: that attempt looked
 * before it sent), and the TTL ceiling the account was known to clamp to when they were sent (AccountTtlCeiling).
 */
export interface CreateMarker {
  sentAt: number;
  lastSentAt?: number;
  settled?: true;
  ceiling?: number;
}

export function isCreateMarker(v: unknown): v is CreateMarker {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as CreateMarker).sentAt === 'number' &&
    Number.isFinite((v as CreateMarker).sentAt) &&
    ((v as CreateMarker).ceiling === undefined || typeof (v as CreateMarker).ceiling === 'number')
  );
}

export type CreatedMatch =
  { kind: 'none' } | { kind: 'one'; receipt: Receipt } | { kind: 'ambiguous'; receipts: Receipt[] };

/**
 * The receipts in `recent` that may be this hand-off's secret: still live (new or viewed: the link was never
 * delivered, so anything else is not ours to recover), carrying the fingerprint (or, when `clampCeilings` says the
 * account is known to clamp, that ceiling below it), and created in [sinceMs - skew, untilMs + skew].
 */
export function matchCreatedReceipt(
  recent: readonly Receipt[],
  want: { ttl: number; sinceMs: number; untilMs: number; clampCeilings?: readonly (number | undefined)[] },
): CreatedMatch {
  const from = want.sinceMs - CLOCK_SKEW_MS;
  const to = want.untilMs + CLOCK_SKEW_MS;
  const clamped = (ttl: number) =>
    ttl < want.ttl && OTS_TTL_CEILINGS.includes(ttl) && (want.clampCeilings ?? []).includes(ttl);
  const candidates = recent.filter(
    (r) =>
      (r.state === 'new' || r.state === 'viewed') &&
      (r.ttl === want.ttl || clamped(r.ttl)) &&
      r.created * 1000 >= from &&
      r.created * 1000 <= to,
  );
  if (candidates.length === 0) return { kind: 'none' };
  if (candidates.length === 1) return { kind: 'one', receipt: candidates[0]! };
  return { kind: 'ambiguous', receipts: candidates };
}
