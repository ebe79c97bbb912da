// Fingerprint leases on a real Temporal server (src/ots/fingerprint-lease.ts): one holder per TTL across every
// client, the next of a hand-off's TTLs when one is held, free again when the lease's workflow ends, and a clear
// failure (not a lease) when Temporal cannot be reached.
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { leaseMsFor, temporalFingerprintLeases } from '../../src/ots/fingerprint-lease.js';
import { fingerprintLeaseWorkflowId } from '../../workflows/ids.js';

// TTLs no hand-off of another test file asks for (theirs lie just under 1 h, 24 h, 7 d or 30 d).
const base = 999_000 + (randomBytes(2).readUInt16BE(0) % 900);
const [A, B, C] = [base, base + 1, base + 2];

describe('fingerprint leases on Temporal', () => {
  let connection: Connection;
  let other: Connection;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `lease-test-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
    other = await Connection.connect({ address: inject('temporalAddress') });
    worker = await Worker.create({
      connection: await NativeConnection.connect({ address: inject('temporalAddress') }),
      taskQueue,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await connection?.close();
    await other?.close();
  });

  it('gives each TTL to one holder at a time, across clients, and frees it when the lease ends', async () => {
    // Two replicas: each its own client.
    const one = temporalFingerprintLeases(new Client({ connection }), taskQueue);
    const two = temporalFingerprintLeases(new Client({ connection: other }), taskQueue);
    const before = Date.now();
    const first = await one.acquire([A, B], 2_000, 'share-one');
    expect(first).toMatchObject({ ttl: A });
    expect(first!.askedAt).toBeGreaterThanOrEqual(before);
    // the other replica gets the next one, then none
    expect(await two.acquire([A, B], 2_000, 'share-two')).toMatchObject({ ttl: B });
    expect(await two.acquire([A, B], 2_000, 'share-two')).toBeUndefined();
    // Who holds which: in the lease's memo, as the retry of a create that lost its marker reads it.
    expect(await one.heldBy([A, B, C], 'share-one')).toEqual([{ ttl: A, askedAt: first!.askedAt }]);
    expect(await two.heldBy([A, B, C], 'share-two')).toEqual([{ ttl: B, askedAt: expect.any(Number) }]);
    // Each lease is a workflow named for its TTL, running for the lease's length on the service's queue (a start
    // delay: on no worker until then).
    const handle = new Client({ connection }).workflow.getHandle(fingerprintLeaseWorkflowId(A));
    const d = await handle.describe();
    expect(d).toMatchObject({ type: 'fingerprintLease', taskQueue, status: { name: 'RUNNING' } });
    await handle.result();
    expect(Date.now() - first!.askedAt).toBeGreaterThanOrEqual(2_000);
    // ended: A is free again (B too, soon after)
    expect(await two.acquire([A], 2_000, 'share-two')).toMatchObject({ ttl: A });
    expect(await one.heldBy([A], 'share-one')).toEqual([]); // the latest lease on A is two's now
    expect(await one.acquire([C], 500, 'share-one')).toMatchObject({ ttl: C });
  }, 30_000);

  it("is long enough to keep every other send out of a send's window, clock skew included", () => {
    // 2 x 5 s to send + the 10 s deadline + 2 x 30 s skew + 2 s for `created` being floored
    expect(leaseMsFor(10_000)).toBe(82_000);
  });

  it('fails, rather than say "no lease", when Temporal cannot be reached', async () => {
    const unreachable = await Connection.connect({ address: inject('temporalAddress') });
    await unreachable.close();
    const leases = temporalFingerprintLeases(new Client({ connection: unreachable }), taskQueue);
    await expect(leases.acquire([C + 1], 1_000, 'share-x')).rejects.toThrow();
    await expect(leases.heldBy([C + 1], 'share-x')).rejects.toThrow();
  }, 30_000);
});
