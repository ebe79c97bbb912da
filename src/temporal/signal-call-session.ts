// The one way a call's session workflow (`call-<CallSid>`) is reached: signal-with-start, so whichever comes first —
// the media stream starting or a hand-off waiting for it — starts it, with its search attribute and summary.
import type { Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import type { callSession } from '../../workflows/call-session.js';
import { callWorkflowId } from '../../workflows/ids.js';
import { CallSid } from '../../workflows/search-attributes.js';

/** Sends `signal(arg)` to the call's session, starting it if it is not running. */
export async function signalCallSession<T>(
  client: Client,
  taskQueue: string,
  callSid: string,
  signal: SignalDefinition<[T]>,
  arg: T,
): Promise<void> {
  await client.workflow.signalWithStart<typeof callSession, [T]>('callSession', {
    workflowId: callWorkflowId(callSid),
    taskQueue,
    args: [{ callSid }],
    signal,
    signalArgs: [arg],
    typedSearchAttributes: [{ key: CallSid, value: callSid }],
    staticSummary: `Phone call ${callSid}`,
  });
}
