// The receipt batcher against the OTS v1 emulator over loopback: one recent-receipts call answers many checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtsClient } from '../../src/ots/client.js';
import { createReceiptBatcher } from '../../src/ots/receipt-batcher.js';
import { startOtsEmulatorServer } from '../../src/sandbox/index.js';
import { OTS_API_VERSION_UNDER_TEST } from '../helpers/ots-version.js';

let server: Awaited<ReturnType<typeof startOtsEmulatorServer>>;
let client: OtsClient;
const calls = { recent: 0, receipt: 0 };
// The real client, counting what reaches the server.
const counted = {
  recent: () => (calls.recent++, client.recent()),
  receipt: (key: string) => (calls.receipt++, client.receipt(key)),
};

beforeAll(async () => {
  const credentials = { username: 'batcher@example.org', apiKey: 'batcher-api-key-0123456789' };
  server = await startOtsEmulatorServer({ credentials });
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

  it('asks directly about a receipt the list still shows unopened after its lifetime (the list carries no expiry)', async () => {
    const made = await client.share({ secret: 'expiring-value-1', ttl: 3600 });
    const listed = (await client.recent()).find((r) => r.metadataKey === made.metadataKey)!;
    const frozen = { ...counted, recent: async () => (calls.recent++, [{ ...listed, state: 'new' as const }]) };
    let t = (listed.created + 3600) * 1000 - 1;
    const batcher = createReceiptBatcher({ ots: frozen, maxAgeMs: 60_000, now: () => t });
    calls.recent = calls.receipt = 0;
    expect((await batcher.receipt(made.metadataKey)).state).toBe('new');
    expect(calls).toEqual({ recent: 1, receipt: 0 });
    t += 2;
    await batcher.receipt(made.metadataKey);
    expect(calls).toEqual({ recent: 1, receipt: 1 });
  });

  it('asks for a receipt the list does not hold directly, and passes errors on', async () => {
    const batcher = createReceiptBatcher({ ots: counted, maxAgeMs: 10_000 });
    calls.recent = calls.receipt = 0;
    await expect(batcher.receipt('nosuchmetadatakey0000000000000')).rejects.toMatchObject({ code: 'OTS_NOT_FOUND' });
    expect(calls).toEqual({ recent: 1, receipt: 1 });
  });
});
