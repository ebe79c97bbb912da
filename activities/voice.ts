// Activities of the live-call passphrase.
//  - awaitCall runs on the main task queue (any process): it registers the hand-off with the call's session
//    workflow, which signals back where the call's media stream lives.
//  - speakPassphrase runs on the task queue of the one process that holds that stream (voiceTaskQueue): it opens
//    the sealed passphrase there, composes the reading from local phonetic clips and plays it into the stream.
//    The passphrase leaves this process only as μ-law audio to Twilio: never as text, TwiML or a Deepgram request.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { handoffContext, type Sealed, type Sealer } from '../src/seal.js';
import { awaitCallSignal } from '../workflows/messages.js';
import { failing } from './failures.js';
import { signalCallSession } from '../src/temporal/signal-call-session.js';
import type { Binding, PassphraseFormat, SpokenPassphrase } from '../workflows/types.js';

/** What this process's media-stream server offers the activity (src/voice/calls.ts). */
export interface VoiceLine {
  /**
   * Reads the passphrase on the call's live stream. Undefined when this process holds no stream for the call.
   * `signal` aborts the reading (activity cancelled); `progress` is called while audio plays (heartbeats).
   */
  read(
    callSid: string,
    passphrase: string,
    opts: { format: PassphraseFormat; signal: AbortSignal; progress(): void; shareId?: string },
  ): Promise<SpokenPassphrase> | undefined;
}

export function createVoiceActivities(deps: { client: Client; taskQueue: string; sealer: Sealer; line?: VoiceLine }) {
  return {
    async awaitCall(args: { callSid: string; workflowId: string }): Promise<void> {
      await signalCallSession(deps.client, deps.taskQueue, args.callSid, awaitCallSignal, {
        workflowId: args.workflowId,
      });
    },

    /** Reads the passphrase into the hand-off's own call (the CallSid and format come from the binding). */
    async speakPassphrase(args: { binding: Binding; passphrase: Sealed }): Promise<SpokenPassphrase> {
      const ctx = Context.current();
      const pp = args.binding.passphrase;
      if (pp.mode !== 'voice')
        throw ApplicationFailure.create({
          type: 'NO_RECIPIENT',
          message: 'this hand-off has no call',
          nonRetryable: true,
        });
      // A box sealed for another hand-off or call does not open: a SEAL_INVALID failure, not a reading.
      const passphrase = await failing(async () =>
        deps.sealer.open(args.passphrase, handoffContext('passphrase', args.binding)),
      );
      const callSid = pp.callSid;
      const reading = deps.line?.read(callSid, passphrase, {
        format: pp.format,
        signal: ctx.cancellationSignal,
        progress: () => ctx.heartbeat(),
        shareId: args.binding.shareId,
      });
      if (!reading) {
        throw ApplicationFailure.create({
          type: 'CALL_NOT_HERE',
          message: `this process holds no media stream for call ${callSid} (it stopped, or the call moved on)`,
          nonRetryable: true,
        });
      }
      return await reading;
    },
  };
}

export type VoiceActivities = ReturnType<typeof createVoiceActivities>;
