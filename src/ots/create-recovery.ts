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
//     every receipt, recent-list entries included. So each hand-off asks for its TTL minus a small offset (1 % of
//     the TTL, at least 10 s, at most 15 minutes, never below OTS's 60 s minimum; never 0 and never a clamp ceiling,
//     values anyone's secret may show): the link never lives longer than asked for, and the receipt's `ttl` says
//     which send it belongs to. A share id has up to 16 such TTLs, in a fixed order (fingerprintCandidates).
//  2. A lease that makes the fingerprint the fleet's own. An offset alone is not unique (a 24 h TTL has 863, a 1 h
//     TTL 35), and under load another hand-off's receipt with the same `ttl` lies in the window of a lost create
//     more often than not: a retry would then send this caller a stranger's link (the stack's rolling restart did,
//     once in 500). So every send holds a fleet-wide lease on the TTL it sends (src/ots/fingerprint-lease.ts: a
//     Temporal workflow id, which Temporal keeps unique, whose memo names the hand-off), long enough that no other
//     send with that `ttl` can land within this send's window, clock skew included (leaseMsFor). It takes the first
//     of its TTLs that is free; with none free it waits, and never sends on a TTL it does not hold.
//  3. A marker before the call. Just before POSTing, the activity heartbeats `{ sentAt, ttl, exclusive }`; heartbeat
//     details survive into the next attempt of the same activity (activityInfo().heartbeatDetails), and a failed step
//     hands them to the workflow for a technician's retry. When OTS answers with an error that proves nothing was
//     created (auth, bad request, rate limit, not found: the errors whose `refused` is true, src/ots/errors.ts), or a
//     lookup found nothing, the marker is `settled`. A marker may still not reach the server before a SIGKILL; the
//     lease's memo is the record that does.
//  4. A lookup before any retry. On attempt 2 or later (or when the workflow retries the step for a technician),
//     the activity first lists the recent receipts (GET /api/v1/private/recent, /api/v2/receipt/recent) and keeps the
//     live ones with the TTL of one of its sends (the markers', and those of the leases whose latest run is still its
//     own) created where that send could have landed: from the send (or its lease's request) to it plus the client's
//     request deadline (± clock skew).
//       - exactly one: that is our secret (no other send with that `ttl` could land there). While it is unopened its
//         receipt gives its secret key (on v2, for a passphrase-protected secret, the recent list does), which
//         rebuilds the link; nothing new is created.
//       - none: no earlier attempt reached the server; create.
//       - otherwise (several, or one found for a send that held no lease: a marker of a version before leases):
//         guessing could hand this caller someone else's credential, and creating could leave a duplicate, so the
//         step fails with OTS_CREATE_AMBIGUOUS and the hand-off pauses for a technician, whose note names them.
//  5. Clamped TTLs. OTS clamps a TTL above the account's ceiling silently (7 d anonymous, 14 d free plan, 30 d), and a
//     clamped receipt shows the ceiling, the same for every hand-off over it, so it is never a candidate: a lost
//     create that was clamped is made again (an extra secret nobody was sent, the safe failure). A process that has
//     seen the account clamp (AccountTtlCeiling) asks within the ceiling from then on, so its fingerprints survive.
// What is left: a send whose lease was re-taken by another hand-off before a retry that lost the marker looked for it
// is not looked for (made again: an extra secret nobody was sent); a process stalled for more than ~15 s between its
// lease and its request reaching OTS, or an OTS clock more than 30 s off ours, falls outside what the lease covers;
// another tool creating secrets on the same OTS account is not bound by the leases. Give the service its own account.
// The price: a lease per create (one workflow start, more when TTLs are held), a retried create costs up to 16
// workflow describes and one recent-receipts call, and links live up to 1 % (short ones 9 s) shorter than asked.
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
 */
export const OTS_TTL_CEILINGS: readonly number[] = [7 * 86_400, 14 * 86_400, 30 * 86_400];

/**
 * The TTL ceiling this process has seen the OTS account apply, from create answers: a create asked for more than a
 * ceiling and the receipt came back with the ceiling. A later create answered with more than the remembered ceiling
 * (the plan was upgraded) forgets it. Memory only: a new process starts knowing nothing (and may see one create
 * clamped, which it then makes again if its answer was lost).
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

/** How many of its TTLs a hand-off tries to lease, in order, before it waits for one to come free. */
export const FINGERPRINT_CANDIDATES = 16;

/** Offsets a short TTL gets even though 1 % of it is less (a 2 min link may be up to 9 s shorter). */
export const FINGERPRINT_SPAN_MIN_SECONDS = 10;

/** How many offsets a TTL has room for: 1 % of it (at least 10 s, at most 15 min), never below 60 s. */
function fingerprintSpan(ttlSeconds: number): number {
  const share = Math.min(FINGERPRINT_SPAN_MAX_SECONDS, Math.floor(ttlSeconds * FINGERPRINT_SPAN_SHARE));
  return Math.min(ttlSeconds - MIN_TTL_SECONDS + 1, Math.max(FINGERPRINT_SPAN_MIN_SECONDS, share));
}

/**
 * The TTLs a hand-off may ask OTS for, in the order it tries to lease them: `ttlSeconds` minus offsets fixed by the
 * share id. Never the TTL itself (a secret made for exactly the TTL asked is anyone's) and never a whole number of
 * minutes: those are what people and other tools ask for (the OTS web page's choices, the smoke test, the clamp
 * ceilings every clamped receipt shows), so no secret made that way can carry a hand-off's TTL. A link of 60 to 61 s
 * has no room for such an offset: it asks for its own TTL.
 */
export function fingerprintCandidates(
  shareId: string,
  ttlSeconds: number,
  count: number = FINGERPRINT_CANDIDATES,
): number[] {
  const span = fingerprintSpan(ttlSeconds);
  const out: number[] = [];
  // 256 draws find every offset of a span of up to 16 with certainty short of 1 in 10^20, and 16 of a larger one.
  for (let i = 0; out.length < Math.min(count, span - 1) && i < 256; i++) {
    const h = createHash('sha256').update(`ots-handoff ttl fingerprint\0${shareId}${i ? `\0${i}` : ''}`);
    const ttl = ttlSeconds - (h.digest().readUInt32BE(0) % span);
    if (ttl !== ttlSeconds && ttl % 60 !== 0 && !out.includes(ttl)) out.push(ttl);
  }
  return out.length > 0 ? out : [ttlSeconds];
}

/** The TTL a hand-off asks OTS for when it gets its first choice: `ttlSeconds` minus an offset fixed by the share id. */
export function fingerprintTtl(shareId: string, ttlSeconds: number): number {
  return fingerprintCandidates(shareId, ttlSeconds)[0]!;
}

/**
 * What the last send left behind: when it was sent (epoch ms), the TTL it asked for and whether it held the lease
 * on it (then a receipt with that TTL in its window can only be its own); or `settled`: nothing is outstanding (the
 * answer proved nothing was created, or a lookup found nothing and no send followed yet). Markers written before
 * leases existed carry neither `ttl` (it was, for TTLs of 1,000 s and more, fingerprintTtl's) nor `exclusive`, and
 * may carry `lastSentAt` (their window ran from `sentAt` to it) and a `ceiling`, now ignored.
 */
export interface CreateMarker {
  sentAt: number;
  lastSentAt?: number;
  settled?: true;
  ttl?: number;
  exclusive?: true;
}

export function isCreateMarker(v: unknown): v is CreateMarker {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as CreateMarker;
  return (
    typeof m.sentAt === 'number' &&
    Number.isFinite(m.sentAt) &&
    (m.lastSentAt === undefined || (typeof m.lastSentAt === 'number' && Number.isFinite(m.lastSentAt))) &&
    (m.ttl === undefined || Number.isInteger(m.ttl))
  );
}

export type CreatedMatch =
  { kind: 'none' } | { kind: 'one'; receipt: Receipt } | { kind: 'ambiguous'; receipts: Receipt[] };

/** Where to look for a secret an earlier send may have made: the TTLs it may carry, when, and whether it was leased. */
export interface CreateSearch {
  ttls: readonly number[];
  sinceMs: number;
  untilMs: number;
  /** The send held the lease on its only TTL: a single receipt found is its own. */
  exclusive?: boolean;
}

/**
 * The receipts in `recent` that may be an earlier send's secret: still live (new or viewed: the link was never
 * delivered, so anything else is not ours to recover), carrying one of its TTLs, created in [sinceMs - skew - 1 s,
 * untilMs + skew] (`created` is whole seconds, floored). Over several searches (a retry's own marker and a
 * technician's windows), one receipt is ours only when it is the only candidate of all of them and a search that
 * found it was exclusive; anything else found is ambiguous, never a guess.
 */
export function matchCreatedReceipt(
  recent: readonly Receipt[],
  searches: CreateSearch | readonly CreateSearch[],
): CreatedMatch {
  const list: readonly CreateSearch[] = Array.isArray(searches) ? searches : [searches as CreateSearch];
  const found = new Map<string, { receipt: Receipt; exclusive: boolean }>();
  for (const want of list) {
    const from = want.sinceMs - CLOCK_SKEW_MS - 1000;
    const to = want.untilMs + CLOCK_SKEW_MS;
    const exclusive = want.exclusive === true && want.ttls.length === 1;
    for (const r of recent) {
      if (r.state !== 'new' && r.state !== 'viewed') continue;
      if (!want.ttls.includes(r.ttl) || r.created * 1000 < from || r.created * 1000 > to) continue;
      const seen = found.get(r.metadataKey);
      found.set(r.metadataKey, { receipt: r, exclusive: exclusive || (seen?.exclusive ?? false) });
    }
  }
  const candidates = [...found.values()];
  if (candidates.length === 0) return { kind: 'none' };
  if (candidates.length === 1 && candidates[0]!.exclusive) return { kind: 'one', receipt: candidates[0]!.receipt };
  return { kind: 'ambiguous', receipts: candidates.map((c) => c.receipt) };
}
