// Messages of the shareSecret workflow, declared once for the workflow and the HTTP layer: docs/architecture.md
// ("Workflow rules").
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Sealed } from '../src/seal.js';
import type {
  Binding,
  CallLine,
  CallSessionStatus,
  CreatedSecret,
  Resolution,
  ShareState,
  ShareStatus,
  SmsStatusEvent,
  StreamStarted,
} from './types.js';

/** Current status (GET /v1/shares/:id). */
export const statusQuery = defineQuery<ShareStatus>('status');
/** Twilio SMS status callback, relayed by POST /twilio/sms-status. Out of order and duplicated: ranked. */
export const smsStatusSignal = defineSignal<[SmsStatusEvent]>('smsStatus');
/**
 * Burn from Temporal UI or the CLI, saying who asks, encoded through the codec server: `temporal workflow signal
 * --name burn --input '{"by":"alice"}' --codec-endpoint …` (README.md, "For technicians").
 */
export const burnSignal = defineSignal<[{ by: string }]>('burn');
/** A technician's decision on a paused hand-off: `temporal workflow signal --name resolve --input '{"action":"retry"}'`. */
export const resolveSignal = defineSignal<[Resolution]>('resolve');
/** Burn and wait for the outcome (POST /v1/shares/:id/burn), by the agent token (id) that started the hand-off. */
export const burnUpdate = defineUpdate<ShareStatus, [{ by: string; agent: string }]>('burnSecret');

/**
 * A long poll (GET /v1/shares/:id?waitFor=change, MCP's wait_for_handoff), by the agent token (id) that started the
 * hand-off: answers with the status once its state differs from `since`, or after `timeoutMs` (at most a minute). Refused
 * before anything is written to history for another agent, a hand-off already over, or a run about to continue as
 * new (the API then answers with the status as it is).
 */
export const waitForChangeUpdate = defineUpdate<ShareStatus, [WaitRequest]>('waitForChange');
export interface WaitRequest {
  agent: string;
  since: ShareState;
  timeoutMs: number;
}
/** The longest wait the update accepts. */
export const MAX_WAIT_MS = 60_000;

/**
 * A process's batched receipt list saw this hand-off's receipt change (src/ots/receipt-batcher.ts): check it now rather
 * than at the next timer. Only a hint: the workflow checks the receipt itself, at most once every
 * RECEIPT_HINT_SPACING_MS, so a made-up signal costs one batched check, not a state change.
 */
export const receiptChangedSignal = defineSignal('receiptChanged');

/**
 * What burning the secret takes, sealed as the workflow holds it: the receipt and the passphrase, with the binding
 * they were sealed for (src/seal.ts handoffContext). Empty unless the link may still open (a secret exists, and the
 * hand-off neither reached a final state nor burned it).
 */
export interface BurnMaterial {
  binding?: Binding;
  created?: CreatedSecret;
  passphrase?: Sealed;
}
/**
 * For POST /v1/shares/:id/burn once the workflow has closed without burning (terminated, timed out, failed, or a
 * burn that failed for good): the API burns directly (src/http/direct-burn.ts). Queries reach closed workflows while
 * a worker polls their task queue.
 */
export const burnMaterialQuery = defineQuery<BurnMaterial>('burnMaterial');

// The callSession workflow (`call-<CallSid>`): which process holds the call's media stream, and who waits for it.
/** The media stream of the call started on a process; its voice activities run on `taskQueue`. */
export const streamStartedSignal = defineSignal<[StreamStarted]>('streamStarted');
/** The media stream stopped (the call may go on at the agent's returnUrl). */
export const streamStoppedSignal = defineSignal<[{ streamSid: string; at: string }]>('streamStopped');
/** Twilio's call-status webhook: the call is over. */
export const callEndedSignal = defineSignal<[{ status: string; at: string }]>('callEnded');
/** A hand-off waits for the call's stream (sent with signal-with-start by the awaitCall activity). */
export const awaitCallSignal = defineSignal<[{ workflowId: string }]>('awaitCall');
/** The call session's answer to a waiting hand-off: the stream is live on a process, or the call is gone. */
export const callLineSignal = defineSignal<[CallLine]>('callLine');
/** The call as it stands. */
export const callQuery = defineQuery<CallSessionStatus>('call');
