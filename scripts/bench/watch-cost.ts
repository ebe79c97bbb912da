// Watch cost: how many Onetime Secret calls one hand-off makes over a 24 h link, measured by running the real
// shareSecret workflow and the real activities on Temporal's time-skipping test server. Time skipping jumps the
// server clock to the next timer whenever the workflow is idle, so a 24 h watch takes well under a second, and
// every durable timer, poll and expiry check happens exactly as on a real server: the counts are the workflow's
// own, not arithmetic. Only the Onetime Secret port is replaced, by a fake that reads the *server's* clock (the
// activity's scheduled time) to decide whether the link has been opened or has expired.
import { handoffMetricsSink } from '../../src/metrics.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { createDeliveryActivities } from '../../activities/delivery.js';
import { createOtsActivities, type OtsPort } from '../../activities/ots.js';
import { makeShareInput } from '../../src/handoff-input.js';
import { DEFAULT_POLL_INTERVALS_TEXT } from '../../src/config.js';
import { noNotesWebhook } from '../../src/notes.js';
import { OtsNotFoundError } from '../../src/ots/errors.js';
import type { Receipt } from '../../src/ots/schemas.js';
import { createSealer } from '../../src/seal.js';
import { generatePayloadKey } from '../../src/temporal/payload-codec.js';
import { createDataConverter } from '../../src/temporal/data-converter.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import { otsTaskQueue } from '../../workflows/queues.js';
import type { ShareResult } from '../../workflows/types.js';
import { bundleForTestServer, ensureTestServer } from '../temporal-test-server.js';

export interface WatchOutcome {
  /** Seconds after creation the caller opens the link; undefined: never. */
  openAfterS?: number;
}

export interface WatchResult {
  calls: number;
  state: string;
  /** Seconds from the opening to the workflow noticing it (the "opened" note). */
  noteDelayS?: number;
}

export async function measureWatchCost(opts: {
  projectDir: string;
  log: (s: string) => void;
  outcomes: Record<string, WatchOutcome>;
}): Promise<Record<string, WatchResult>> {
  const executable = await ensureTestServer(opts.log, opts.projectDir);
  const workflowBundle = await bundleForTestServer(opts.projectDir);
  const results: Record<string, WatchResult> = {};
  // One fresh test server per outcome: the real createSecret dates the expiry by the wall clock, which only
  // matches the server's clock before it has skipped ahead for an earlier watch.
  for (const [name, outcome] of Object.entries(opts.outcomes))
    results[name] = await watchOnce(executable, workflowBundle, name, outcome);
  return results;
}

async function watchOnce(
  executable: string,
  workflowBundle: { code: string },
  name: string,
  outcome: WatchOutcome,
): Promise<WatchResult> {
  const dataConverter = createDataConverter([generatePayloadKey('bench')]);
  // env.client (not a Client of our own) is the one whose result() lets the server skip time while it waits.
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: executable } },
    client: { dataConverter },
  });
  const sealer = createSealer(randomBytes(32));
  const secret = { createdMs: 0, expiresMs: 0, openMs: undefined as number | undefined, calls: 0 };
  const now = () => Context.current().info.currentAttemptScheduledTimestampMs;

  const port: OtsPort = {
    async share() {
      throw new Error('the watch benchmark uses generated secrets');
    },
    async generate(args) {
      Object.assign(secret, {
        createdMs: now(),
        expiresMs: now() + args.ttl * 1000,
        openMs: outcome.openAfterS !== undefined ? now() + outcome.openAfterS * 1000 : undefined,
      });
      return { receipt: receipt(`m${name}`, `s${name}`, args.ttl, 'new') };
    },
    async receipt(metadataKey) {
      secret.calls++;
      const t = now();
      if (secret.openMs !== undefined && t >= secret.openMs && secret.openMs < secret.expiresMs) {
        return { ...receipt(metadataKey, undefined, 0, 'received'), received: Math.floor(secret.openMs / 1000) };
      }
      if (t >= secret.expiresMs) throw new OtsNotFoundError('Unknown secret');
      return receipt(metadataKey, undefined, Math.ceil((secret.expiresMs - t) / 1000), 'new');
    },
    async burn(metadataKey) {
      return receipt(metadataKey, undefined, 0, 'burned');
    },
    // Only a retried create reads it (to find a secret made by an attempt whose answer was lost); none here.
    async recent() {
      return [];
    },
    shareLink: (r) => `https://ots.invalid/secret/${r.secretKey}`,
  };
  const otsActivities = createOtsActivities({ ots: port, sealer });
  const deliveryActivities = createDeliveryActivities({
    sms: { send: async () => ({ sid: `SM${randomBytes(16).toString('hex')}`, status: 'queued' }) },
    sealer,
    notes: noNotesWebhook,
  });

  const taskQueue = 'bench-watch';
  const workers = await Promise.all([
    Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: {
        ...deliveryActivities,
        checkSecret: otsActivities.checkSecret,
        watchReceipt: otsActivities.watchReceipt,
      },
      dataConverter,
      // The workflow reports its metrics through this sink; here they are dropped.
      sinks: { handoffMetrics: handoffMetricsSink() },
    }),
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: otsTaskQueue(taskQueue),
      activities: otsActivities,
      dataConverter,
    }),
  ]);
  const running = Promise.all(workers.map((w) => w.run()));
  try {
    // Signed as the agent API signs it (the first activity checks: src/handoff-input.ts).
    const shareId = `shr_benchwatch${name.toLowerCase().replace(/[^0-9a-z]/g, '')}`.padEnd(24, '0');
    const input = makeShareInput(
      sealer,
      {
        shareId,
        ticketId: `T-BENCH-${name}`,
        agent: 'agt_000000000000',
        ttlSeconds: 86_400,
        link: { channel: 'email', to: 'caller@bench.invalid' },
        passphrase: { mode: 'none' },
        pollIntervals: DEFAULT_POLL_INTERVALS_TEXT.split(',').map(Number),
        smsStatusCallback: 'http://127.0.0.1:9/unused',
        notesWebhook: false,
      },
      {}, // no value: Onetime Secret generates one
    );
    const handle = await env.client.workflow.start('shareSecret', {
      taskQueue,
      workflowId: shareWorkflowId(shareId),
      args: [input],
    });
    const result = (await handle.result()) as ShareResult;
    return {
      calls: secret.calls,
      state: result.state,
      noteDelayS:
        result.viewedAt && secret.openMs !== undefined ? await viewedNoteDelay(handle, secret.openMs) : undefined,
    };
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running.catch(() => undefined);
    await env.teardown();
  }

  function receipt(
    metadataKey: string,
    secretKey: string | undefined,
    secretTtl: number,
    state: Receipt['state'],
  ): Receipt {
    const t = Math.floor(now() / 1000);
    return {
      metadataKey,
      secretKey,
      ttl: 86_400,
      secretTtl,
      state,
      created: t,
      updated: t,
      recipient: [],
      shareDomain: '',
      passphraseRequired: false,
    };
  }
}

/** When the workflow wrote the "opened" note, against the opening time (both on the server's skipped clock). */
async function viewedNoteDelay(handle: { query: (q: string) => Promise<unknown> }, openMs: number): Promise<number> {
  const status = (await handle.query('status')) as { notes: { at: string; text: string }[] };
  const note = status.notes.find((n) => n.text.startsWith('Link opened at'));
  return note ? (Date.parse(note.at) - openMs) / 1000 : NaN;
}
