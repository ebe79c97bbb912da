// callSession (`call-<CallSid>`): the registry of one phone call's media stream. The media-stream handler
// signals-with-start it when Twilio's stream starts (recording which process holds the stream, by that process's
// own task queue); the stream's stop or the call-status webhook ends it. If the agent sends the call to us again
// later, the new stream starts a new run under the same id. A hand-off that must read a passphrase over the call registers
// here (awaitCall, also signal-with-start, so the order of the two does not matter) and is told, by a signal
// back, on which task queue to run speakPassphrase — or that the call is gone.
//
// No timers poll anything: the workflow sleeps until a signal arrives, and ends by itself after a quiet period
// so an abandoned call (no status callback) does not stay open for ever.
import {
  condition,
  getExternalWorkflowHandle,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { isShareWorkflowId, isText } from './input.js';
import { isVoiceTaskQueue } from './queues.js';
import {
  awaitCallSignal,
  callEndedSignal,
  callLineSignal,
  callQuery,
  streamStartedSignal,
  streamStoppedSignal,
} from './messages.js';
import type { CallLine, CallSessionStatus } from './types.js';

export interface CallSessionInput {
  callSid: string;
  /** End after this long with no stream and nobody waiting (default 30 minutes). */
  idleMs?: number;
}

const DEFAULT_IDLE_MS = 30 * 60_000;
const STREAM_STOPPED = 'the media stream stopped';
/** A call is not kept open longer than this, whatever happens (Twilio's own maximum call length is 4 hours). */
export const MAX_LIFETIME_MS = 4 * 3_600_000;
/** Hand-offs that may wait on one call at once (a call carries one or two resets, not hundreds). */
const MAX_WAITING = 20;

// Every handler checks its input and ignores what does not fit: a stream must be on one of this deployment's voice
// queues (a signal pointing a hand-off's reading at another queue is ignored), and only hand-offs register.

export async function callSession(input: CallSessionInput): Promise<CallSessionStatus> {
  const s: CallSessionStatus = { callSid: input.callSid, state: 'waiting_for_stream', served: [], waiting: [] };
  let changed = true;
  const touch = () => {
    changed = true;
    setCurrentDetails(details(s));
  };

  setHandler(callQuery, () => s);
  setHandler(streamStartedSignal, (ev) => {
    if (!isText(ev?.streamSid, 128) || !isText(ev.taskQueue, 300)) return;
    if (!isVoiceTaskQueue(workflowInfo().taskQueue, ev.taskQueue)) return;
    // A new stream right after the last one stopped (the call handed back to us at once) reopens this run; a call
    // that is over stays over.
    if (s.state === 'ended' && s.endReason !== STREAM_STOPPED) return;
    s.endReason = undefined;
    s.endedAt = undefined;
    s.state = 'streaming';
    s.streamSid = ev.streamSid;
    s.taskQueue = ev.taskQueue;
    touch();
  });
  setHandler(streamStoppedSignal, (ev) => {
    // Only the stream we know about: a late stop of an earlier stream must not end a newer one.
    if (s.state !== 'streaming' || ev?.streamSid !== s.streamSid) return;
    s.state = 'ended';
    s.endedAt = isText(ev?.at, 40) ? ev.at : new Date().toISOString();
    s.endReason = STREAM_STOPPED;
    touch();
  });
  setHandler(callEndedSignal, (ev) => {
    if (s.state === 'ended') return;
    s.state = 'ended';
    s.endedAt = isText(ev?.at, 40) ? ev.at : new Date().toISOString();
    s.endReason = `call ${isText(ev?.status, 40) ? ev.status : 'ended'}`;
    touch();
  });
  setHandler(awaitCallSignal, (ev) => {
    if (!isShareWorkflowId(ev?.workflowId) || s.waiting.includes(ev.workflowId) || s.waiting.length >= MAX_WAITING)
      return;
    s.waiting.push(ev.workflowId);
    touch();
  });
  setCurrentDetails(details(s));

  const tell = async (workflowId: string, line: CallLine) => {
    try {
      await getExternalWorkflowHandle(workflowId).signal(callLineSignal, line);
    } catch {
      // The hand-off has finished meanwhile: nobody to tell.
    }
  };

  const started = Date.now();
  /** Served hand-offs already told that the call ended. */
  const told = new Set<string>();
  for (;;) {
    changed = false;
    // Answer everyone waiting as soon as there is something to answer.
    if (s.waiting.length > 0 && (s.state === 'streaming' || s.state === 'ended')) {
      const line: CallLine =
        s.state === 'streaming'
          ? { live: true, taskQueue: s.taskQueue!, streamSid: s.streamSid! }
          : { live: false, reason: s.endReason ?? 'the call ended' };
      const waiting = s.waiting.splice(0);
      for (const id of waiting) await tell(id, line);
      if (line.live) s.served.push(...waiting);
      touch();
      continue;
    }
    if (s.state === 'ended') {
      // The hand-offs it served learn that the call is over: a voice hand-off's live window lasts as long as its
      // call (workflows/handoff.ts liveForMs). Patched: sessions that ended before this change did not send these.
      const untold = s.served.filter((id) => !told.has(id));
      if (untold.length > 0 && patched('tell-served-call-ended')) {
        for (const id of untold) told.add(id);
        const over: CallLine = { live: false, reason: s.endReason ?? 'the call ended' };
        await Promise.all(untold.map((id) => tell(id, over)));
        // A registration or a new stream that came in meanwhile is answered, not dropped with the run.
        if (changed) continue;
      }
      break;
    }
    const remaining = MAX_LIFETIME_MS - (Date.now() - started);
    if (remaining <= 0) {
      s.state = 'ended';
      s.endReason = 'the call session reached its maximum lifetime';
      continue;
    }
    // A stream in progress, or a hand-off waiting for one (it has its own bounded wait), keeps the session open;
    // otherwise it ends after a quiet period.
    const quiet =
      s.state === 'streaming' || s.waiting.length > 0
        ? remaining
        : Math.min(remaining, input.idleMs ?? DEFAULT_IDLE_MS);
    if (!(await condition(() => changed, quiet))) {
      s.state = 'ended';
      s.endedAt = new Date().toISOString();
      s.endReason = 'no media stream for this call';
      touch();
    }
  }
  s.endedAt ??= new Date().toISOString();
  setCurrentDetails(details(s));
  return s;
}

function details(s: CallSessionStatus): string {
  return [
    `**Call:** ${s.callSid}`,
    `**State:** ${s.state.replace(/_/g, ' ')}`,
    s.streamSid ? `**Stream:** ${s.streamSid} (task queue ${s.taskQueue})` : undefined,
    s.served.length ? `**Hand-offs served:** ${s.served.join(', ')}` : undefined,
    s.waiting.length ? `**Waiting:** ${s.waiting.join(', ')}` : undefined,
    s.endReason ? `**Ended:** ${s.endedAt} (${s.endReason})` : undefined,
  ]
    .filter(Boolean)
    .join('\n\n');
}
