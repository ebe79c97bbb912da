// The process's voice line: what the speakPassphrase activity (activities/voice.ts) uses to read a passphrase into
// a call whose media stream this process holds. It composes the reading from the local clip set and plays it
// through the call's MediaSession (reader.ts): the passphrase exists here only in memory and as μ-law audio.
// After the reading, a short goodbye, then the stream is closed, so Twilio carries on with the TwiML after
// </Connect>: the agent's returnUrl (<Redirect>), or the end of the call. Two hand-offs for one call take turns:
// their readings never overlap, and the stream closes after the last.
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { inSpan } from '../tracing.js';
import type { VoiceLine } from '../../activities/voice.js';
import type { SpokenPassphrase } from '../../workflows/types.js';
import { composePrompt, composeReading, PACE_MAX } from './compose.js';
import type { MediaSession } from './media-session.js';
import { readPassphrase } from './reader.js';
import type { ClipSet } from './types.js';

export interface VoiceLineOptions {
  sessions(): Map<string, MediaSession>;
  clips: ClipSet;
  /** VOICE_PACE: 1 normal, up to 2 slower (longer pauses). */
  pace: number;
  repeatWindowMs: number;
  log: Logger;
  /** Readings in all, the caller's repeats included. */
  maxReadings?: number;
  /** Heartbeat period while a reading runs (the activity's heartbeatTimeout is 15 s). */
  heartbeatMs?: number;
  /** Told when a reading's first frame went out and how the pacing went (npm run bench). */
  onReading?(r: { callSid: string; startedAt: number; firstFrameAt?: number; session: MediaSession }): void;
  /** Readings by outcome (src/metrics.ts). */
  metrics?: Metrics;
}

export function createVoiceLine(opts: VoiceLineOptions): VoiceLine & { shutdown(): void } {
  /** Per call: the reading in progress (and those queued behind it). */
  const turns = new Map<string, { last: Promise<unknown>; queued: number }>();
  /** The process is stopping and closes the streams it holds: the caller did not hang up. */
  let stopping = false;
  return {
    shutdown() {
      stopping = true;
    },
    read(callSid, passphrase, { signal, progress, shareId }) {
      const session = opts.sessions().get(callSid);
      if (!session || session.ended) return undefined;
      const log = opts.log.child({ callSid, shareId });
      const turn = turns.get(callSid) ?? { last: Promise.resolve(), queued: 0 };
      turns.set(callSid, turn);
      turn.queued += 1;
      // Heartbeats from now on, also while waiting for another hand-off's reading on this call to finish.
      const beat = setInterval(progress, opts.heartbeatMs ?? 2_000);
      const mine = turn.last
        .then(async (): Promise<SpokenPassphrase> => {
          let spoken: SpokenPassphrase = { outcome: session.ended ? 'hung_up' : 'not_heard', readings: 0 };
          if (!signal.aborted && !session.ended) {
            const startedAt = Date.now();
            // A span in the hand-off's trace (the speakPassphrase activity's), linked to the call's media-stream
            // session span (src/voice/media-server.ts), which has a trace of its own.
            const r = await inSpan(
              'voice.reading',
              {
                attributes: { 'handoff.share_id': shareId ?? '', 'twilio.call_sid': callSid },
                links: session.spanContext ? [{ context: session.spanContext }] : [],
              },
              async (span) => {
                // A cancelled activity (the hand-off was burned or closed) clears the audio and ends the reading.
                const reading = await readPassphrase(session, {
                  signal,
                  compose: (pace) => composeReading(passphrase, opts.clips, { pace }),
                  pace: opts.pace,
                  slowerPace: Math.min(PACE_MAX, opts.pace * 1.5),
                  repeatWindowMs: opts.repeatWindowMs,
                  maxReadings: opts.maxReadings ?? 4,
                });
                span.setAttributes({ 'voice.outcome': reading.outcome, 'voice.readings': reading.readings });
                return reading;
              },
            );
            opts.onReading?.({ callSid, startedAt, firstFrameAt: r.firstFrameAt, session });
            log.info({ outcome: r.outcome, readings: r.readings }, 'passphrase reading ended');
            spoken = {
              outcome: r.outcome,
              heardAt: r.firstHeardAt !== undefined ? new Date(r.firstHeardAt).toISOString() : undefined,
              readings: r.readings,
            };
          }
          if (stopping && spoken.outcome !== 'heard') {
            spoken = {
              ...spoken,
              outcome: 'not_heard',
              reason: 'the service holding the call stream stopped; the call went back to the agent',
            };
          }
          // The last hand-off on this call hands the call back (after a goodbye, unless it was cut short).
          if (!session.ended && turn.queued === 1) {
            if (!signal.aborted) await session.play(composePrompt('prompt-goodbye', opts.clips), 'goodbye');
            session.end();
          }
          opts.metrics?.voiceReadings.labels(spoken.outcome).inc();
          return spoken;
        })
        .finally(() => {
          clearInterval(beat);
          turn.queued -= 1;
          if (turn.queued === 0) turns.delete(callSid);
        });
      turn.last = mine.catch(() => undefined);
      return mine;
    },
  };
}
