// The receipt batcher against the OTS emulator over loopback (v2, or v1 with OTS_API_VERSION=v1): one recent-receipts
// call answers many checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtsClient } from '../../src/ots/client.js';
import { createReceiptBatcher } from '../../src/ots/receipt-batcher.js';
import { startOtsEmulatorServer } from '../../src/sandbox/index.js';
import { OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';

let server: Awaited<ReturnType<typeof startOtsEmulatorServer>>;
/** The emulator's clock: real time plus what a test has moved it on. */
let skew = 0;
let client: OtsClient;
const calls = { recent: 0, receipt: 0 };
// The real client, counting what reaches the server.
const counted = {
  recent: () => (calls.recent++, client.recent()),
  receipt: (key: string) => (calls.receipt++, client.receipt(key)),
};

beforeAll(async () => {
  const credentials = { username: 'batcher@example.org', apiKey: 'batcher-api-key-0123456789' };
  server = await startOtsEmulatorServer({ credentials, now: () => Date.now() + skew });
  client = new OtsClient({ baseUrl: server.baseUrl, ...credentials, apiVersion: OTS_API_VERSION_UNDER_TEST });
});
afterAll(() => server?.close());

describe('receipt batcher', () => {
  it('answers concurrent checks of many receipts with one recent call, and sees changes once the list is stale', async () => {
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.share({ secret: `batched-${i}-value`, ttl: 3600 })),
    );
    let t = 1_000_000;
    const batcher = createReceiptBatcher({ ots: counted, maxAgeMs: 10_000, now: () => t });
    calls.recent = calls.receipt = 0;
    const states = await Promise.all(made.map((m) => batcher.receipt(m.metadataKey)));
    expect(states.map((s) => s.state)).toEqual(made.map(() => 'new'));
    expect(calls).toEqual({ recent: 1, receipt: 0 });

    // Opened now, but the list is fresh: still "new" (the staleness the batcher trades for calls).
    await client.retrieveSecret(made[0]!.secretKey!);
    expect((await batcher.receipt(made[0]!.metadataKey)).state).toBe('new');
    expect(calls.recent).toBe(1);
    t += 10_000;
    const seen = await batcher.receipt(made[0]!.metadataKey);
    expect(seen.state).toBe('received');
    expect(seen.received).toBeGreaterThan(0);
    expect(calls).toEqual({ recent: 2, receipt: 0 });
  });

  it('asks directly about a receipt the list still shows unopened after its lifetime, which is what marks it expired', async () => {
    // The real server's list shows the stored state: a secret past its TTL stays "new" there until its receipt is
    // loaded (onetimesecret/onetimesecret apps/api/v{1,2}/logic/secrets/show_receipt.rb; the conformance suite).
    const made = await client.share({ secret: 'expiring-value-1', ttl: 60 });
    const batcher = createReceiptBatcher({ ots: counted, maxAgeMs: 120_000, now: () => Date.now() + skew });
    calls.recent = calls.receipt = 0;
    expect((await batcher.receipt(made.metadataKey)).state).toBe('new');
    expect(calls).toEqual({ recent: 1, receipt: 0 });
    skew += 61_000;
    try {
      const listed = (await client.recent()).find((r) => r.metadataKey === made.metadataKey)!;
      expect(listed.state).toBe('new'); // past its lifetime, still new in the list
      calls.recent = calls.receipt = 0;
      // The batcher's list is still fresh, but it shows the receipt unopened past its lifetime: asked directly.
      expect((await batcher.receipt(made.metadataKey)).state).toBe('expired');
      expect(calls).toEqual({ recent: 0, receipt: 1 });
      expect((await client.recent()).find((r) => r.metadataKey === made.metadataKey)!.state).toBe('expired');
    } finally {
      skew -= 61_000;
    }
  });

  it('asks for a receipt the list does not hold directly, and passes errors on', async () => {
    const batcher = createReceiptBatcher({ ots: counted, maxAgeMs: 10_000 });
    calls.recent = calls.receipt = 0;
    await expect(batcher.receipt('nosuchmetadatakey0000000000000')).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
    expect(calls).toEqual({ recent: 1, receipt: 1 });
  });
});

describe('live watch', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('refreshes every maxAgeMs while a receipt is live, reports its workflow once when opened, and stops after', async () => {
    const [a, b] = await Promise.all([
      client.share({ secret: 'live-a-value', ttl: 3600 }),
      client.share({ secret: 'live-b-value', ttl: 3600 }),
    ]);
    const changed: string[] = [];
    const batcher = createReceiptBatcher({
      ots: counted,
      maxAgeMs: 200,
      onChange: async (id) => void changed.push(id),
    });
    calls.recent = calls.receipt = 0;
    batcher.watchLive(a.metadataKey, 'share-a', 60_000);
    batcher.watchLive(b.metadataKey, 'share-b', 60_000);
    await sleep(1_100);
    // Nothing asked, nothing opened: the list is fetched on its own, about every 200 ms, never more often.
    expect(calls.recent).toBeGreaterThanOrEqual(3);
    expect(calls.recent).toBeLessThanOrEqual(7);
    expect(changed).toEqual([]);
    await client.retrieveSecret(a.secretKey!);
    await sleep(500);
    expect(changed).toEqual(['share-a']);
    expect(batcher.liveCount()).toBe(1);
    // A check in between shares the same list: no second call for it.
    const before = calls.recent;
    expect((await batcher.receipt(b.metadataKey)).state).toBe('new');
    expect(calls.recent - before).toBeLessThanOrEqual(1);
    batcher.close();
    const atClose = calls.recent;
    await sleep(600);
    expect(calls.recent).toBe(atClose);
    expect(changed).toEqual(['share-a']);
    expect(calls.receipt).toBe(0);
  });

  it('stops refreshing once the live windows are over', async () => {
    const made = await client.share({ secret: 'live-c-value', ttl: 3600 });
    const batcher = createReceiptBatcher({ ots: counted, maxAgeMs: 100, onChange: async () => undefined });
    calls.recent = 0;
    batcher.watchLive(made.metadataKey, 'share-c', 350);
    await sleep(900);
    const after = calls.recent;
    expect(after).toBeGreaterThanOrEqual(2);
    expect(after).toBeLessThanOrEqual(6);
    expect(batcher.liveCount()).toBe(0);
    await sleep(400);
    expect(calls.recent).toBe(after);
    batcher.close();
  });

  it('without onChange (no Temporal client to signal), watching is a no-op', async () => {
    const made = await client.share({ secret: 'live-d-value', ttl: 3600 });
    const batcher = createReceiptBatcher({ ots: counted, maxAgeMs: 100 });
    calls.recent = 0;
    batcher.watchLive(made.metadataKey, 'share-d', 60_000);
    await sleep(400);
    expect(calls.recent).toBe(0);
    expect(batcher.liveCount()).toBe(0);
  });

  it('a failing list is tried again a whole period later, not in a loop', async () => {
    let tries = 0;
    const batcher = createReceiptBatcher({
      ots: {
        recent: async () => {
          tries += 1;
          throw new Error('503 from Onetime Secret');
        },
        receipt: async () => {
          throw new Error('not asked');
        },
      },
      maxAgeMs: 200,
      onChange: async () => undefined,
    });
    batcher.watchLive('receipt-key-that-fails', 'share-e', 60_000);
    await sleep(1_100);
    batcher.close();
    // One try at once, then one every 200 ms: 5 or 6 in 1.1 s, never hundreds.
    expect(tries).toBeGreaterThanOrEqual(4);
    expect(tries).toBeLessThanOrEqual(7);
  });
});
