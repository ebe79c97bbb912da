// Exactly one Onetime Secret per hand-off: the fingerprint and matching rules (src/ots/create-recovery.ts) and the
// createSecret activity's recovery, run in a mock activity context against the OTS emulator on loopback.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, toFailure } from '../../activities/failures.js';
import { createSecretActivity, recoverySearches, type RecoverWindow } from '../../activities/create-secret.js';
import { createOtsActivities, type OtsPort } from '../../activities/ots.js';
import { OtsClient } from '../../src/ots/client.js';
import {
  AccountTtlCeiling,
  CLOCK_SKEW_MS,
  FINGERPRINT_CANDIDATES,
  FINGERPRINT_SPAN_MAX_SECONDS,
  fingerprintCandidates,
  fingerprintTtl,
  matchCreatedReceipt,
  type CreateMarker,
} from '../../src/ots/create-recovery.js';
import { OtsProtocolError, OtsRateLimitedError } from '../../src/ots/errors.js';
import type { Receipt } from '../../src/ots/schemas.js';
import { startOtsEmulatorServer } from '../../src/sandbox/index.js';
import { makeShareInput, signInput } from '../../src/handoff-input.js';
import { createSealer, handoffContext } from '../../src/seal.js';
import { SmsRateLimitedError } from '../../src/twilio/sms.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import type { CreatedSecret } from '../../workflows/types.js';
import { LEASE_SEND_WITHIN_MS, leaseMsFor } from '../../src/ots/fingerprint-lease.js';
import { memoryLeases } from '../helpers/leases.js';
import { authRefusal, OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';

describe('fingerprintTtl', () => {
  it('is fixed per share id, below the TTL asked for, within 1 % (at most 15 min) of it, never below 60 s', () => {
    for (const ttl of [3600, 86_400, 604_800, 2_592_000]) {
      const span = Math.min(FINGERPRINT_SPAN_MAX_SECONDS, Math.floor(ttl / 100));
      const seen = new Set<number>();
      for (let i = 0; i < 400; i++) {
        const id = `shr_${i}`;
        const fp = fingerprintTtl(id, ttl);
        expect(fingerprintTtl(id, ttl)).toBe(fp);
        // never the TTL itself: a secret made for exactly that long is anyone's
        expect(fp).toBeLessThan(ttl);
        expect(fp).toBeGreaterThan(ttl - span);
        seen.add(fp);
      }
      // spread over the span, not a handful of values
      expect(seen.size).toBeGreaterThan(Math.min(span, 400) / 3);
    }
    expect(fingerprintTtl('shr_a', 60)).toBe(60); // no room for an offset: the one TTL that is asked as it is
    // Short links get 10 offsets, though 1 % of them is less: a 150 s link lives 141 to 149 s.
    for (let i = 0; i < 50; i++) {
      expect(fingerprintTtl(`shr_${i}`, 150)).toBeGreaterThanOrEqual(141);
      expect(fingerprintTtl(`shr_${i}`, 150)).toBeLessThan(150);
      expect(fingerprintTtl(`shr_${i}`, 65)).toBeGreaterThanOrEqual(60);
    }
  });

  it('has up to 16 alternatives to lease, distinct, the first its own, none the TTL itself nor a clamp ceiling', () => {
    for (const ttl of [3600, 86_400, 604_800]) {
      const c = fingerprintCandidates('shr_alt', ttl);
      expect(c).toHaveLength(FINGERPRINT_CANDIDATES);
      expect(new Set(c).size).toBe(c.length);
      expect(c[0]).toBe(fingerprintTtl('shr_alt', ttl));
      const span = Math.min(FINGERPRINT_SPAN_MAX_SECONDS, Math.floor(ttl / 100));
      for (const t of c) expect(t < ttl && t > ttl - span).toBe(true);
      expect(fingerprintCandidates('shr_alt', ttl)).toEqual(c); // fixed per share id
    }
    // a short link has 9 (offsets 1 to 9) or 8 (when one is whole minutes); 60 and 61 s links only themselves
    expect(fingerprintCandidates('shr_alt', 250).sort()).toEqual([241, 242, 243, 244, 245, 246, 247, 248, 249]);
    expect(fingerprintCandidates('shr_alt', 245).sort()).toEqual([236, 237, 238, 239, 241, 242, 243, 244]);
    expect(fingerprintCandidates('shr_alt', 61)).toEqual([61]);
    expect(fingerprintCandidates('shr_alt', 60)).toEqual([60]);
    // Never whole minutes, the TTLs people and other tools ask for (a clamp ceiling among them: every receipt OTS
    // clamped shows one). Over 300 share ids 16 each, a rule that let them through would show ~80 here.
    for (let i = 0; i < 300; i++)
      for (const t of fingerprintCandidates(`shr_${i}`, 605_000)) expect(t % 60, String(t)).not.toBe(0);
  });
});

const receipt = (over: Partial<Receipt>): Receipt => ({
  metadataKey: `m${randomUUID().replace(/-/g, '')}`,
  ttl: 86_000,
  state: 'new',
  created: 1_700_000_000,
  updated: 1_700_000_000,
  recipient: [],
  shareDomain: '',
  ...over,
});

describe('matchCreatedReceipt', () => {
  const sinceMs = 1_700_000_000_000;
  const nowMs = sinceMs + 20_000;
  /** A send that held the lease on its TTL. */
  const want = { ttls: [86_000], sinceMs, untilMs: nowMs, exclusive: true };

  it('finds the one live receipt with the fingerprint created in the window', () => {
    const ours = receipt({ created: sinceMs / 1000 + 3 });
    const others = [
      receipt({ ttl: 85_999, created: sinceMs / 1000 + 3 }), // another hand-off's fingerprint
      receipt({ created: (sinceMs - CLOCK_SKEW_MS) / 1000 - 2 }), // before the send could have landed
      receipt({ created: (nowMs + CLOCK_SKEW_MS) / 1000 + 1 }), // after now
      receipt({ state: 'received', created: sinceMs / 1000 + 1 }), // opened: never ours, ours was never delivered
      receipt({ state: 'burned', created: sinceMs / 1000 + 1 }),
      receipt({ state: 'expired', created: sinceMs / 1000 + 1 }),
    ];
    expect(matchCreatedReceipt([...others, ours], want)).toEqual({ kind: 'one', receipt: ours });
    expect(matchCreatedReceipt(others, want)).toEqual({ kind: 'none' });
    expect(matchCreatedReceipt([], want)).toEqual({ kind: 'none' });
  });

  it('allows for clock skew either side of the window', () => {
    const early = receipt({ created: (sinceMs - CLOCK_SKEW_MS + 1000) / 1000 });
    expect(matchCreatedReceipt([early], want).kind).toBe('one');
    const late = receipt({ created: (nowMs + CLOCK_SKEW_MS - 1000) / 1000 });
    expect(matchCreatedReceipt([late], want).kind).toBe('one');
  });

  it('two candidates are ambiguous, never a guess', () => {
    const a = receipt({ created: sinceMs / 1000 + 1 });
    const b = receipt({ created: sinceMs / 1000 + 2, state: 'viewed' });
    expect(matchCreatedReceipt([a, b], want)).toEqual({ kind: 'ambiguous', receipts: [a, b] });
  });

  it('one receipt found for a send without a lease is ambiguous: another send may have had the same TTL', () => {
    const one = receipt({ created: sinceMs / 1000 + 1 });
    expect(matchCreatedReceipt([one], { ...want, exclusive: false })).toEqual({ kind: 'ambiguous', receipts: [one] });
    // a search over several TTLs (a retry that lost its marker) is never exclusive
    expect(matchCreatedReceipt([one], { ...want, ttls: [86_000, 85_990] }).kind).toBe('ambiguous');
    expect(matchCreatedReceipt([], { ...want, exclusive: false })).toEqual({ kind: 'none' });
  });

  it("over several searches one receipt is ours only when it is all they found; a clamped one is nobody's", () => {
    const ours = receipt({ created: sinceMs / 1000 + 1 });
    const other = receipt({ ttl: 85_990, created: sinceMs / 1000 + 2 });
    const technician = { ttls: [86_000, 85_990], sinceMs, untilMs: nowMs };
    // the same receipt found by the leased send and by a technician's wider window is still ours
    expect(matchCreatedReceipt([ours], [want, technician])).toEqual({ kind: 'one', receipt: ours });
    expect(matchCreatedReceipt([ours, other], [want, technician])).toEqual({
      kind: 'ambiguous',
      receipts: [ours, other],
    });
    // A receipt OTS clamped shows the ceiling, which every hand-off over it shows too: it matches no TTL asked for.
    const clamped = receipt({ ttl: 7 * 86_400, created: sinceMs / 1000 + 1 });
    expect(matchCreatedReceipt([clamped], { ...want, ttls: [fingerprintTtl('shr_fortnight', 14 * 86_400)] }).kind).toBe(
      'none',
    );
  });
});

describe('AccountTtlCeiling', () => {
  it('learns a ceiling from a create answered with less than it asked for, and forgets it when one gets more', () => {
    const c = new AccountTtlCeiling();
    expect(c.known).toBeUndefined();
    c.observe(86_000, 86_000); // under any ceiling: says nothing
    expect(c.known).toBeUndefined();
    c.observe(1_200_000, 1_100_000); // less, but not a ceiling OTS has: not learned
    expect(c.known).toBeUndefined();
    c.observe(1_209_000, 7 * 86_400);
    expect(c.known).toBe(7 * 86_400);
    c.observe(86_000, 86_000);
    expect(c.known).toBe(7 * 86_400);
    c.observe(2_591_000, 14 * 86_400); // the account now clamps at 14 d
    expect(c.known).toBe(14 * 86_400);
    c.observe(2_591_000, 2_591_000); // upgraded: no clamp any more
    expect(c.known).toBeUndefined();
  });
});

describe('createSecret across attempts', () => {
  const sealer = createSealer(Buffer.alloc(32, 7));
  let emu: Awaited<ReturnType<typeof startOtsEmulatorServer>>;
  let ots: OtsClient;
  let activities: ReturnType<typeof createOtsActivities>;
  /** The fleet's fingerprint leases, as the Temporal ones behave (test/helpers/leases.ts). */
  const leases = memoryLeases();
  const credentials = { username: 'unit@ots-handoff.invalid', apiKey: 'unit-api-key-0123456789' };

  beforeAll(async () => {
    emu = await startOtsEmulatorServer({ credentials });
    ots = new OtsClient({ baseUrl: emu.baseUrl, ...credentials, apiVersion: OTS_API_VERSION_UNDER_TEST });
    await ots.detectApiVersion();
    activities = createOtsActivities({ ots, sealer, leases, leaseWaitMs: 1_500, maxLandingWaitMs: 0 });
  });
  /** Where a create goes on the version in use (faults are injected there). */
  const createPath = () => (ots.apiVersion === 'v1' ? '/api/v1/share' : '/api/v2/secret/conceal');
  afterAll(async () => {
    await emu?.close();
  });
  beforeEach(() => {
    emu.emulator.reset();
    leases.held.clear();
  });

  /** A hand-off's input as the agent API makes it: sealed for this share and its recipient, and signed. */
  const args = (
    shareId: string,
    { ttlSeconds = 86_400, ...extra }: { recover?: RecoverWindow; ttlSeconds?: number } = {},
  ) => {
    const input = makeShareInput(
      sealer,
      {
        shareId,
        link: { channel: 'sms', to: '+15550001111' },
        passphrase: { mode: 'none' },
        ticketId: 'T-UNIT',
        agent: 'agt_0123456789ab',
        ttlSeconds,
        pollIntervals: [15],
        smsStatusCallback: 'http://127.0.0.1:9/unused',
        notesWebhook: false,
      },
      { value: `Unit-Secret-${shareId}` },
    );
    return { input, ...extra };
  };
  /** The receipt key and the link in a createSecret result, opened as the later activities open them. */
  const keyOf = (r: CreatedSecret, a: ReturnType<typeof args>) =>
    sealer.open(r.receipt, handoffContext('receipt', a.input));
  const linkOf = (r: CreatedSecret, a: ReturnType<typeof args>) => sealer.open(r.link, handoffContext('link', a.input));

  /**
   * Runs createSecret (of `acts`, default this file's process) as attempt `attempt` with the given heartbeat details;
   * returns its result, its heartbeats and the last one (the create marker).
   */
  async function run(
    a: ReturnType<typeof args>,
    info: { attempt?: number; heartbeatDetails?: unknown; scheduledTimestampMs?: number } = {},
    acts: Pick<typeof activities, 'createSecret'> = activities,
  ) {
    const env = new MockActivityEnvironment(
      {
        attempt: 1,
        scheduledTimestampMs: Date.now(),
        heartbeatTimeoutMs: 3_000,
        workflowExecution: { workflowId: shareWorkflowId(a.input.shareId), runId: 'unit' },
        ...info,
      },
      { logger: new DefaultLogger('ERROR', () => {}) },
    );
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const result: CreatedSecret = await env.run(acts.createSecret, a);
    return { result, beats, key: keyOf(result, a), link: linkOf(result, a), marker: beats.at(-1) as CreateMarker };
  }

  it('the first attempt leases its fingerprint TTL, creates with it and heartbeats a marker before sending', async () => {
    const before = Date.now();
    const { result, beats, key } = await run(args('shr_first'));
    expect(emu.emulator.secretCount()).toBe(1);
    const stored = emu.emulator.store.receipts.get(key)!;
    expect(stored.ttl).toBe(fingerprintTtl('shr_first', 86_400));
    expect(leases.held.get(stored.ttl)).toMatchObject({ holder: shareWorkflowId('shr_first') });
    expect(leases.held.get(stored.ttl)!.until).toBeGreaterThan(Date.now());
    const marker = beats.find((b): b is CreateMarker => typeof (b as CreateMarker)?.sentAt === 'number');
    expect(marker).toMatchObject({ ttl: stored.ttl, exclusive: true });
    expect(marker!.sentAt).toBeGreaterThanOrEqual(before);
    expect(marker!.sentAt).toBeLessThanOrEqual(stored.createdMs);
    expect(result.recovered).toBeUndefined();
  });

  it('a fingerprint another replica holds is not used: the next of its own is leased; with none free, nothing is sent', async () => {
    const elsewhere = (ms = 60_000) => ({ until: Date.now() + ms, holder: 'share-someone-else', askedAt: Date.now() });
    const [first, second] = fingerprintCandidates('shr_taken', 86_400);
    leases.held.set(first!, elsewhere());
    const { key, marker } = await run(args('shr_taken'));
    expect(emu.emulator.store.receipts.get(key)!.ttl).toBe(second);
    expect(marker).toMatchObject({ ttl: second, exclusive: true });
    // Every one taken: a send on a TTL someone holds would break what their lease proves, so it waits, then fails
    // to be retried later, having sent nothing.
    for (const t of fingerprintCandidates('shr_all_taken', 86_400)) leases.held.set(t, elsewhere());
    const err = await run(args('shr_all_taken')).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'OTS_FINGERPRINT_BUSY', nonRetryable: false });
    expect(emu.emulator.secretCount()).toBe(1);
    // one freed while it waits: it takes that one
    const last = fingerprintCandidates('shr_all_taken', 86_400).at(-1)!;
    leases.held.set(last, elsewhere(500));
    const waited = await run(args('shr_all_taken'));
    expect(waited.marker).toMatchObject({ ttl: last, exclusive: true });
  });

  it('a retry after a lost answer finds the secret already made and creates none', async () => {
    const first = await run(args('shr_lost'));
    const marker = first.beats.at(-1);
    const again = await run(args('shr_lost'), { attempt: 2, heartbeatDetails: marker });
    expect(emu.emulator.secretCount()).toBe(1);
    expect(again.key).toBe(first.key);
    expect(again.result.recovered).toBe(true);
    // the recovered link opens the same secret
    expect(again.link).toBe(first.link);
    const key = again.link.split('/secret/')[1]!;
    expect((await ots.retrieveSecret(key)).value).toBe('Unit-Secret-shr_lost');
  });

  it('a retry whose marker never reached the server finds its send by the lease it took', async () => {
    const first = await run(args('shr_nomarker'));
    const again = await run(args('shr_nomarker'), { attempt: 3, heartbeatDetails: undefined });
    expect(again.key).toBe(first.key);
    expect(again.result.recovered).toBe(true);
    expect(emu.emulator.secretCount()).toBe(1);
    // Its lease since taken by another hand-off (82 s later): its send cannot be told from theirs, so it is not
    // looked for, and a new one is made (an extra secret nobody was sent, the safe failure).
    const second = await run(args('shr_nomarker_2'));
    leases.held.set(second.marker.ttl!, { until: Date.now() + 60_000, holder: 'share-another', askedAt: Date.now() });
    const fresh = await run(args('shr_nomarker_2'), { attempt: 2, heartbeatDetails: undefined });
    expect(fresh.result.recovered).toBeUndefined();
    expect(fresh.key).not.toBe(second.key);
    expect(emu.emulator.secretCount()).toBe(3);
  });

  it('a marker older than the last send (its heartbeat held back) still finds the send, by the lease', async () => {
    const first = await run(args('shr_stale'));
    const again = await run(args('shr_stale'), {
      attempt: 2,
      heartbeatDetails: { sentAt: Date.now() - 5_000, settled: true },
    });
    expect(again.key).toBe(first.key);
    expect(emu.emulator.secretCount()).toBe(1);
  });

  it('a retry whose earlier attempt never reached the server creates the secret', async () => {
    const { result } = await run(args('shr_never'), { attempt: 2, heartbeatDetails: { sentAt: Date.now() - 500 } });
    expect(emu.emulator.secretCount()).toBe(1);
    expect(result.recovered).toBeUndefined();
  });

  it('two hand-offs whose first fingerprints collide lease different ones, and each retry recovers its own', async () => {
    // Two share ids whose first choices collide (1 in ~863 for a 24 h TTL), found by search.
    const a = 'shr_collide_a';
    let b = '';
    for (let i = 0; !b; i++)
      if (fingerprintTtl(`shr_collide_${i}`, 86_400) === fingerprintTtl(a, 86_400) && `shr_collide_${i}` !== a)
        b = `shr_collide_${i}`;
    // Both creates land, both answers are lost, both retry in the same window: the stack's rolling restart.
    const first = await run(args(a));
    const second = await run(args(b));
    expect(second.marker.ttl).not.toBe(first.marker.ttl);
    const againA = await run(args(a), { attempt: 2, heartbeatDetails: first.marker });
    const againB = await run(args(b), { attempt: 2, heartbeatDetails: second.marker });
    expect([againA.key, againB.key]).toEqual([first.key, second.key]);
    expect(emu.emulator.secretCount()).toBe(2);
  });

  it("a stranger's receipt with our TTL is never taken for a send that held no lease: the step pauses, naming it", async () => {
    // What the rolling restart did once in 500 before leases: our send never reached OTS, and another hand-off
    // (here one sent without a lease: all its offsets taken, or a replica of an older version) made a secret with
    // the same TTL inside our window. Taking it would send this caller a stranger's credential.
    const a = 'shr_unleased_a';
    const ttl = fingerprintTtl(a, 86_400);
    const stranger = await ots.share({ secret: 'Stranger-Secret', ttl });
    const sentAt = Date.now() - 500;
    const err = await run(args(a), { attempt: 2, heartbeatDetails: { sentAt, ttl } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'OTS_CREATE_AMBIGUOUS', nonRetryable: true });
    expect((err as Error).message).toMatch(/1 receipt [\s\S]*Burn in Onetime Secret/);
    expect((err as Error).message).toContain(stranger.metadataKey.slice(0, 8));
    expect(emu.emulator.secretCount()).toBe(1);
    // A marker from before leases (no ttl, no exclusive) is treated the same way.
    await expect(run(args(a), { attempt: 2, heartbeatDetails: { sentAt, lastSentAt: sentAt } })).rejects.toMatchObject({
      type: 'OTS_CREATE_AMBIGUOUS',
    });
    // The technician confirms it is not this hand-off's (another ticket's) and retries: a new one is made.
    await ots.burn(stranger.metadataKey);
    const retried = await run(args(a, { recover: { markers: [{ sentAt, ttl }] } }));
    expect(retried.result.recovered).toBeUndefined();
    expect(retried.key).not.toBe(stranger.metadataKey);
    expect(emu.emulator.secretCount()).toBe(2);
  });

  it("a leased send's retry takes its own receipt even with strangers' receipts of other TTLs all around it", async () => {
    const ours = await run(args('shr_crowd'));
    for (const t of fingerprintCandidates('shr_crowd', 86_400).slice(1))
      await ots.share({ secret: `Stranger-${t}`, ttl: t });
    await ots.share({ secret: 'Stranger-exact', ttl: 86_400 });
    const again = await run(args('shr_crowd'), { attempt: 2, heartbeatDetails: ours.marker });
    expect(again.result.recovered).toBe(true);
    expect(again.key).toBe(ours.key);
  });

  it('a single foreign receipt with our fingerprint is not taken when our earlier send was refused or lies outside its window', async () => {
    // Another hand-off whose fingerprint equals ours creates its secret now.
    const a = 'shr_refused_a';
    let b = '';
    for (let i = 0; !b; i++)
      if (fingerprintTtl(`shr_foreign_${i}`, 86_400) === fingerprintTtl(a, 86_400)) b = `shr_foreign_${i}`;
    const foreign = await run(args(b));
    // Our attempt 1 was answered 429 (refused: nothing made): its marker is settled and attempt 2 creates its own.
    emu.emulator.injectFault({
      method: 'POST',
      path: createPath(),
      times: 1,
      status: 429,
      headers: { 'Retry-After': '1' },
      body: ots.apiVersion === 'v1' ? { message: 'slow down' } : { error: 'slow down', error_type: 'LimitExceeded' },
    });
    const refused = await run(args(a)).catch((e: unknown) => e);
    expect(refused).toMatchObject({ type: 'OTS_RATE_LIMITED' });
    const ours = await run(args(a), {
      attempt: 2,
      heartbeatDetails: { sentAt: Date.now() - 200, lastSentAt: Date.now() - 200, settled: true },
    });
    expect(ours.result.recovered).toBeUndefined();
    expect(ours.key).not.toBe(foreign.key);
    // Another hand-off with the same fingerprint, whose earlier send (a marker from before leases) lies two minutes
    // before the foreign receipt: outside its window, so that is not its either.
    let c = '';
    for (let i = 0; !c; i++)
      if (fingerprintTtl(`shr_late_${i}`, 86_400) === fingerprintTtl(a, 86_400)) c = `shr_late_${i}`;
    const late = await run(args(c), {
      attempt: 2,
      heartbeatDetails: { sentAt: Date.now() - 120_000, lastSentAt: Date.now() - 120_000 },
    });
    expect(late.result.recovered).toBeUndefined();
    expect(emu.emulator.secretCount()).toBe(3);
  });

  it("a create that fails with its outcome unknown carries its marker in the failure, for a technician's retry", async () => {
    emu.emulator.injectFault({ method: 'POST', path: createPath(), times: 1, status: 503, body: { error: 'down' } });
    const err = await run(args('shr_marked')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const facts = (err as ApplicationFailure).details?.[0] as { outcome: string; createMarker: CreateMarker };
    expect(facts.outcome).toBe('unknown');
    expect(facts.createMarker).toMatchObject({ ttl: fingerprintTtl('shr_marked', 86_400), exclusive: true });
    expect(facts.createMarker.settled).toBeUndefined();
    // a technician's retry with it (attempt 1 of a new execution) looks, finds nothing (503: nothing was made), creates
    const retried = await run(args('shr_marked', { recover: { markers: [facts.createMarker] } }));
    expect(retried.result.recovered).toBeUndefined();
    expect(emu.emulator.secretCount()).toBe(1);
  });

  it('an attempt refused by OTS leaves a settled marker', async () => {
    emu.emulator.injectFault({
      method: 'POST',
      path: createPath(),
      times: 1,
      ...authRefusal(ots.apiVersion),
    });
    const env = new MockActivityEnvironment(
      {
        attempt: 1,
        scheduledTimestampMs: Date.now(),
        heartbeatTimeoutMs: 3_000,
        workflowExecution: { workflowId: shareWorkflowId('shr_settled'), runId: 'unit' },
      },
      { logger: new DefaultLogger('ERROR', () => {}) },
    );
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    await expect(env.run(activities.createSecret, args('shr_settled'))).rejects.toMatchObject({ type: 'OTS_AUTH' });
    expect(beats.at(-1)).toMatchObject({ settled: true, sentAt: expect.any(Number) });
    expect(emu.emulator.secretCount()).toBe(0);
  });

  it("a technician's retry of the step (attempt 1 again) looks where the failed tries' markers say", async () => {
    const firstTry = Date.now();
    const first = await run(args('shr_tech'));
    const retried = await run(args('shr_tech', { recover: { markers: [first.marker] } }));
    expect(retried.key).toBe(first.key);
    expect(retried.result.recovered).toBe(true);
    expect(emu.emulator.secretCount()).toBe(1);
    // A try that left no marker is found by the lease it took.
    const bySpan = await run(args('shr_tech', { recover: { since: firstTry, until: Date.now() } }));
    expect(bySpan.key).toBe(first.key);
    expect(emu.emulator.secretCount()).toBe(1);
  });

  // The attacks: a workflow started from Temporal UI or the CLI with an input the agent API did not sign (another
  // recipient, a plain-JSON input, a copied sealed value), or the victim's own signed input under another workflow
  // id. Each is refused before anything reaches Onetime Secret, and the workflow is told to end (fatal).
  describe('refuses an input the agent API did not make, before calling Onetime Secret', () => {
    const refused = { type: 'INPUT_NOT_AUTHENTIC', nonRetryable: true, details: [{ outcome: 'refused', fatal: true }] };
    it.each([
      [
        'another link recipient',
        (a: ReturnType<typeof args>) => ({
          input: { ...a.input, link: { channel: 'sms' as const, to: '+15559999999' } },
        }),
      ],
      [
        'a poll schedule of its own',
        (a: ReturnType<typeof args>) => ({ input: { ...a.input, pollIntervals: [0.001] } }),
      ],
      ['no signature', (a: ReturnType<typeof args>) => ({ input: { ...a.input, mac: undefined as never } })],
      [
        'a signature by another key',
        (a: ReturnType<typeof args>) => ({
          input: signInput(createSealer(Buffer.alloc(32, 8)), { ...a.input, mac: undefined } as never),
        }),
      ],
    ])('%s', async (_what, tamper) => {
      await expect(run(tamper(args('shr_victim')) as never)).rejects.toMatchObject(refused);
      expect(emu.emulator.secretCount()).toBe(0);
    });
    it("the victim's own signed input in a workflow under another id", async () => {
      await expect(
        run(args('shr_victim'), { workflowExecution: { workflowId: 'share-shr_attacker', runId: 'x' } } as never),
      ).rejects.toMatchObject(refused);
      expect(emu.emulator.secretCount()).toBe(0);
    });
  });

  describe('on an account that clamps TTLs to 7 days', () => {
    const WEEK = 7 * 86_400;
    /** The emulator's account as an anonymous-ceiling account: OTS clamps every create to 7 d (docs/onetime-secret.md, "TTL bounds"). */
    const clampingOts = (): OtsPort => ({
      share: (p) => ots.share({ ...p, ttl: Math.min(p.ttl, WEEK) }),
      generate: (p) => ots.generate({ ...p, ttl: Math.min(p.ttl, WEEK) }),
      receipt: (k) => ots.receipt(k),
      burn: (k, p) => ots.burn(k, p),
      shareLink: (r) => ots.shareLink(r),
      recent: () => ots.recent(),
    });
    /** One worker process: its own activity instance, so its own memory of the account's ceiling. */
    const process = (ttlCeiling = new AccountTtlCeiling()) => ({
      ttlCeiling,
      createSecret: createSecretActivity({ ots: clampingOts(), sealer, ttlCeiling, leases, maxLandingWaitMs: 0 }),
    });
    const fortnight = (shareId: string) => args(shareId, { ttlSeconds: 14 * 86_400 });

    const runIn = (
      p: ReturnType<typeof process>,
      a: ReturnType<typeof args>,
      info: { attempt?: number; heartbeatDetails?: unknown } = {},
    ) => run(a, info, p);

    it("a stranger's 7 d secret in the window is not taken while the clamp is unknown; the lost create is made again", async () => {
      // Someone else's secret on the account, exactly 7 days, made while our earlier send was in flight.
      const stranger = await ots.share({ secret: 'Stranger-Secret', ttl: WEEK });
      // Our attempt 1 sent, never reached OTS, and its process died; attempt 2 runs in a process that knows nothing.
      const ours = await runIn(process(), fortnight('shr_clamp_unknown'), {
        attempt: 2,
        heartbeatDetails: { sentAt: Date.now() - 500, lastSentAt: Date.now() - 500 },
      });
      expect(ours.result.recovered).toBeUndefined();
      expect(ours.key).not.toBe(stranger.metadataKey);
      expect(ours.link).not.toContain(stranger.secretKey);
      expect(emu.emulator.secretCount()).toBe(2);
    });

    it('once the clamp is known, the process asks within the ceiling, so its fingerprint survives and a lost answer is recovered', async () => {
      // This process saw the account clamp an earlier hand-off to 7 d.
      const worker = process();
      const earlier = await runIn(worker, fortnight('shr_clamp_earlier'));
      expect(worker.ttlCeiling.known).toBe(WEEK);
      expect(emu.emulator.store.receipts.get(earlier.key)!.ttl).toBe(WEEK);
      // Our create asks for a fingerprint under 7 d, which OTS keeps; the answer is lost.
      const first = await runIn(worker, fortnight('shr_clamp_known'));
      expect(first.marker.ttl).toBeLessThan(WEEK);
      expect(emu.emulator.store.receipts.get(first.key)!.ttl).toBe(first.marker.ttl);
      // The earlier hand-off's clamped receipt (exactly 7 d) in the same window is nobody's to take.
      const again = await runIn(worker, fortnight('shr_clamp_known'), { attempt: 2, heartbeatDetails: first.marker });
      expect(again.result.recovered).toBe(true);
      expect(again.key).toBe(first.key);
      // After a crash the retry runs in a new process with an empty memory: the marker says which TTL was sent.
      const elsewhere = await runIn(process(), fortnight('shr_clamp_known'), {
        attempt: 3,
        heartbeatDetails: first.marker,
      });
      expect(elsewhere.result.recovered).toBe(true);
      expect(elsewhere.key).toBe(first.key);
      expect(emu.emulator.secretCount()).toBe(2);
    });

    it('the first clamp ever seen is the lost one: its receipt shows the ceiling, so it is created again (the safe failure)', async () => {
      const first = await runIn(process(), fortnight('shr_clamp_first'));
      expect(emu.emulator.store.receipts.get(first.key)!.ttl).toBe(WEEK);
      const again = await runIn(process(), fortnight('shr_clamp_first'), {
        attempt: 2,
        heartbeatDetails: first.marker,
      });
      expect(again.result.recovered).toBeUndefined();
      expect(again.key).not.toBe(first.key);
      expect(emu.emulator.secretCount()).toBe(2);
    });
  });
});

describe('the lease covers what it must', () => {
  // Two sends with the same TTL under consecutive leases, every way the timing and OTS's clock may fall within what
  // the design allows: a send up to LEASE_SEND_WITHIN_MS after asking, landing up to the deadline after sending,
  // OTS's clock up to CLOCK_SKEW_MS either side, `created` floored to the second. Neither send's searches (by its
  // marker, by its lease's memo) ever take the other's receipt, and each always finds its own.
  const D = 10_000;
  const L = leaseMsFor(D);
  const TTL = 86_123;
  const sends = (askedAt: number) =>
    [0, LEASE_SEND_WITHIN_MS].flatMap((s) =>
      [0, D].map((land) => ({ askedAt, sentAt: askedAt + s, landedAt: askedAt + s + land })),
    );
  const createdBy = (landedAt: number, skew: number) => Math.floor((landedAt + skew) / 1000);
  const searchesOf = (x: { askedAt: number; sentAt: number }) =>
    recoverySearches([{ sentAt: x.sentAt, ttl: TTL, exclusive: true }], [{ ttl: TTL, askedAt: x.askedAt }], D, TTL);

  it('keeps every other send with the same TTL out, and never loses its own', () => {
    const base = 1_800_000_000_000;
    for (const skew of [-CLOCK_SKEW_MS, 0, CLOCK_SKEW_MS])
      for (const ours of sends(base)) {
        const own = receipt({ ttl: TTL, created: createdBy(ours.landedAt, skew) });
        for (const w of searchesOf(ours))
          expect(matchCreatedReceipt([own], w).kind, `own, skew ${skew}`).not.toBe('none');
        // The holder before us asked at most L before our lease was granted (our grant: up to 5 s after our ask),
        // the one after us asks once our lease has run its length from our ask.
        for (const theirs of [...sends(base + LEASE_SEND_WITHIN_MS - L), ...sends(base + L)]) {
          const foreign = receipt({ ttl: TTL, created: createdBy(theirs.landedAt, skew) });
          expect(matchCreatedReceipt([foreign], searchesOf(ours)).kind, `foreign, skew ${skew}`).toBe('none');
        }
      }
  });

  it('is no longer than that needs: 2 s shorter and a foreign receipt can fall into a window', () => {
    const base = 1_800_000_000_000;
    const short = L - 2_000;
    const hits = sends(base).some((ours) =>
      [...sends(base + LEASE_SEND_WITHIN_MS - short), ...sends(base + short)].some(
        (theirs) =>
          matchCreatedReceipt(
            [receipt({ ttl: TTL, created: createdBy(theirs.landedAt, CLOCK_SKEW_MS) })],
            searchesOf(ours),
          ).kind !== 'none' ||
          matchCreatedReceipt(
            [receipt({ ttl: TTL, created: createdBy(theirs.landedAt, -CLOCK_SKEW_MS) })],
            searchesOf(ours),
          ).kind !== 'none',
      ),
    );
    expect(hits).toBe(true);
  });
});

describe('OTS and Twilio errors as retry decisions', () => {
  it('a short Retry-After becomes the next retry delay; a longer one than the bound hands over at once', () => {
    const short = toFailure(new OtsRateLimitedError('limited', { retryAfterMs: 5_000 })) as ApplicationFailure;
    expect(short).toMatchObject({ type: 'OTS_RATE_LIMITED', nonRetryable: false, nextRetryDelay: 5_000 });
    const long = toFailure(new OtsRateLimitedError('limited', { retryAfterMs: 3_600_000 })) as ApplicationFailure;
    expect(long).toMatchObject({ type: 'OTS_RATE_LIMITED', nonRetryable: true });
    expect(long.message).toMatch(/asked to wait 3600 s/);
    const sms = toFailure(
      new SmsRateLimitedError('limited', { retryAfterMs: MAX_RETRY_AFTER_MS + 1 }),
    ) as ApplicationFailure;
    expect(sms).toMatchObject({ type: 'SMS_RATE_LIMITED', nonRetryable: true });
    const smsShort = toFailure(new SmsRateLimitedError('limited', { retryAfterMs: 1_000 })) as ApplicationFailure;
    expect(smsShort).toMatchObject({ type: 'SMS_RATE_LIMITED', nonRetryable: false, nextRetryDelay: 1_000 });
  });

  it('a garbled 2xx body is retried (every OTS activity is safe to repeat); a wrong route is not', () => {
    const garbled = toFailure(new OtsProtocolError('not JSON', { status: 200 })) as ApplicationFailure;
    expect(garbled).toMatchObject({ type: 'OTS_BAD_RESPONSE', nonRetryable: false });
    const noRoute = toFailure(new OtsProtocolError('no route', { status: 404 })) as ApplicationFailure;
    expect(noRoute).toMatchObject({ type: 'OTS_BAD_RESPONSE', nonRetryable: true });
  });
});

describe('recovering a secret whose share key only the recent list carries (API v2)', () => {
  // v2's receipt leaves out the key of a passphrase-protected secret, its recent list keeps it
  // (onetimesecret/onetimesecret apps/api/v2/logic/secrets/show_receipt.rb, list_receipts.rb). A stub OTS port
  // answers as v2 does, so each rule of recoverCreated is seen on its own.
  const sealer = createSealer(Buffer.alloc(32, 9));
  const SHARE = 'shr_v2recover';
  const TTL = fingerprintTtl(SHARE, 86_400);
  const input = (passphrase?: string) =>
    makeShareInput(
      sealer,
      {
        shareId: SHARE,
        link: { channel: 'sms', to: '+15550001111' },
        passphrase: passphrase ? { mode: 'sms', to: '+15550002222' } : { mode: 'none' },
        ticketId: 'T-UNIT',
        agent: 'agt_0123456789ab',
        ttlSeconds: 86_400,
        pollIntervals: [15],
        smsStatusCallback: 'http://127.0.0.1:9/unused',
        notesWebhook: false,
      },
      { value: 'V2-Unit-Secret', ...(passphrase ? { passphrase } : {}) },
    );

  function stub(listed: Partial<Receipt>, loaded: Partial<Receipt>) {
    const calls: string[] = [];
    const now = Math.floor(Date.now() / 1000);
    const base = receipt({ metadataKey: 'm'.repeat(62), ttl: TTL, created: now, updated: now });
    const ots: OtsPort = {
      recent: async () => (calls.push('recent'), [{ ...base, ...listed }]),
      receipt: async () => (calls.push('receipt'), { ...base, ...loaded }),
      burn: async (_k: string, p?: string) => (calls.push(`burn:${p ?? ''}`), { ...base, state: 'burned' }),
      share: async () => (calls.push('share'), { ...base, metadataKey: 'n'.repeat(62), secretKey: 's'.repeat(62) }),
      generate: async () => {
        throw new Error('not used');
      },
      shareLink: (r: Receipt) => `https://ots.test/secret/${r.secretKey}`,
    } as unknown as OtsPort;
    return { ots, calls };
  }

  async function retry(
    ots: OtsPort,
    passphrase?: string,
    {
      sentAt = Date.now() - 1_000,
      wait = { maxLandingWaitMs: 0 } as { maxLandingWaitMs?: number; otsRequestTimeoutMs?: number },
    } = {},
  ) {
    const a = { input: input(passphrase) };
    const env = new MockActivityEnvironment(
      {
        attempt: 2,
        scheduledTimestampMs: Date.now(),
        heartbeatTimeoutMs: 3_000,
        heartbeatDetails: { sentAt, ttl: TTL, exclusive: true } satisfies CreateMarker,
        workflowExecution: { workflowId: shareWorkflowId(SHARE), runId: 'unit' },
      },
      { logger: new DefaultLogger('ERROR', () => {}) },
    );
    const result: CreatedSecret = await env.run(createSecretActivity({ ots, sealer, ...wait }), a);
    return { result, link: sealer.open(result.link, handoffContext('link', a.input)) };
  }

  it('a retry right after a fast failure waits until the send could have landed before it looks', async () => {
    // The send failed at once (a reset, a proxy's 502) but OTS still made the secret, a moment later.
    const sentAt = Date.now();
    const { ots, calls } = stub({ secretKey: 'k'.repeat(62) }, { secretKey: 'k'.repeat(62) });
    const recent = ots.recent;
    ots.recent = async () => (Date.now() < sentAt + 1_200 ? [] : recent());
    const { result } = await retry(ots, undefined, { sentAt, wait: { otsRequestTimeoutMs: 1_500 } });
    expect(result.recovered).toBe(true);
    expect(calls).not.toContain('share');
  });

  it('a passphrase-protected secret is recovered with the key from the list when its receipt hides it', async () => {
    const { ots, calls } = stub(
      { secretKey: 'k'.repeat(62), passphraseRequired: true },
      { secretKey: undefined, passphraseRequired: true },
    );
    const { result, link } = await retry(ots, 'open sesame 42');
    expect(result.recovered).toBe(true);
    expect(link).toBe(`https://ots.test/secret/${'k'.repeat(62)}`);
    expect(calls).toEqual(['recent', 'receipt']);
  });

  it("a secret whose passphrase protection differs from the hand-off's is a stranger's: not taken, not burned", async () => {
    for (const [theirs, ours] of [
      [true, undefined],
      [false, 'open sesame 42'],
    ] as const) {
      const { ots, calls } = stub(
        { secretKey: 'k'.repeat(62), passphraseRequired: theirs },
        { secretKey: 'k'.repeat(62), passphraseRequired: theirs },
      );
      const { result } = await retry(ots, ours);
      expect(result.recovered).toBeUndefined();
      expect(calls).toEqual(['recent', 'receipt', 'share']);
    }
  });

  it('with no key anywhere, the old secret is burned with our passphrase before a new one is made', async () => {
    const { ots, calls } = stub({ passphraseRequired: true }, { secretKey: undefined, passphraseRequired: true });
    const { result } = await retry(ots, 'open sesame 42');
    expect(result.recovered).toBeUndefined();
    expect(calls).toEqual(['recent', 'receipt', 'burn:open sesame 42', 'share']);
  });

  it('with no key anywhere and nothing saying the old one has a passphrase, nothing is burned', async () => {
    // OTS burns a secret without a passphrase whatever passphrase is sent: a stranger's could not refuse ours.
    const { ots, calls } = stub(
      { passphraseRequired: undefined },
      { secretKey: undefined, passphraseRequired: undefined },
    );
    const { result } = await retry(ots, 'open sesame 42');
    expect(result.recovered).toBeUndefined();
    expect(calls).toEqual(['recent', 'receipt', 'share']);
  });

  it("with no key anywhere and no passphrase, nothing is burned (it could be a stranger's): a new one is made", async () => {
    const { ots, calls } = stub({ passphraseRequired: false }, { secretKey: undefined, passphraseRequired: false });
    const { result } = await retry(ots);
    expect(result.recovered).toBeUndefined();
    expect(calls).toEqual(['recent', 'receipt', 'share']);
  });

  it('a receipt found expired on loading is not recovered, whatever the list said', async () => {
    const { ots, calls } = stub({ secretKey: 'k'.repeat(62) }, { state: 'expired', secretKey: undefined });
    const { result } = await retry(ots);
    expect(result.recovered).toBeUndefined();
    expect(calls).toEqual(['recent', 'receipt', 'share']);
  });
});
