// Activities: the only code the workflows run that touches the outside world (Onetime Secret, Twilio, the notes
// webhook, the live call). This is the one factory the worker uses: it receives the clients, so tests pass fakes
// and the service passes real ones, and returns the activities grouped by the task queue that runs them.
//
// Secret material arrives sealed and is opened only in an activity, just before it goes to Onetime Secret, Twilio
// or the call; nothing returned from an activity (and so nothing in Temporal history) holds it in the clear
// (docs/architecture.md, "Confidentiality").
//
//  - ots.ts: createSecret (create-secret.ts), checkSecret, watchReceipt, burnSecret
//  - delivery.ts: sendLinkSms, sendPassphraseSms, postNote
//  - voice.ts: awaitCall, speakPassphrase
//  - failures.ts: how every client error becomes an ApplicationFailure
import type { Client } from '@temporalio/client';
import { notOurHandoff } from '../src/temporal/handoff-run.js';
import type { Metrics } from '../src/metrics.js';
import type { NotesSink } from '../src/notes.js';
import { temporalFingerprintLeases } from '../src/ots/fingerprint-lease.js';
import type { ReceiptSource } from '../src/ots/receipt-batcher.js';
import type { Sealer } from '../src/seal.js';
import type { SmsSender } from '../src/twilio/sms.js';
import { createDeliveryActivities } from './delivery.js';
import { createOtsActivities, type OtsPort } from './ots.js';
import { createVoiceActivities, type VoiceLine } from './voice.js';

export type { DeliveryActivities } from './delivery.js';
export type { OtsActivities, OtsPort, SecretCheck } from './ots.js';
export type { VoiceActivities, VoiceLine } from './voice.js';

export interface ActivityDeps {
  ots: OtsPort;
  /** The process's receipt batcher for checkSecret (src/ots/receipt-batcher.ts); default: `ots`, one call a check. */
  receipts?: ReceiptSource;
  /** The OTS client's request deadline, which bounds when a lost create can still land. Default 10 s. */
  otsRequestTimeoutMs?: number;
  sms: SmsSender;
  sealer: Sealer;
  notes: NotesSink;
  /** For the voice activities: the Temporal client and main task queue (awaitCall), this process's voice line. */
  temporal: { client: Client; taskQueue: string };
  line?: VoiceLine;
  /** The service's metrics (src/metrics.ts): SMS sent. */
  metrics?: Metrics;
}

export function createActivities(deps: ActivityDeps) {
  const { client, taskQueue } = deps.temporal;
  const ots = createOtsActivities({
    ...deps,
    // A create's fingerprint, leased fleet-wide on the main queue (src/ots/fingerprint-lease.ts).
    leases: temporalFingerprintLeases(client, taskQueue),
    // createSecret runs only for this service's own hand-offs: a shareSecret run on its task queue.
    checkWorkflow: async (workflowId, runId) => {
      const problem = notOurHandoff(await client.workflow.getHandle(workflowId, runId).describe(), taskQueue);
      return problem && `workflow ${workflowId} is ${problem}`;
    },
  });
  const delivery = createDeliveryActivities(deps);
  const voice = createVoiceActivities({ ...deps.temporal, sealer: deps.sealer, line: deps.line });
  return {
    /** The main task queue (any process): deliveries, receipt checks (batched) and live watches, awaitCall. */
    main: { ...delivery, checkSecret: ots.checkSecret, watchReceipt: ots.watchReceipt, awaitCall: voice.awaitCall },
    /** `<queue>-ots`, rate limited fleet-wide to the OTS account's budget. */
    ots,
    /** This process's own voice queue: only the process holding a call's media stream can read into it. */
    voice: { speakPassphrase: voice.speakPassphrase },
  };
}

export type Activities = ReturnType<typeof createActivities>;
