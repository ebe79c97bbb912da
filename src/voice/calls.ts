// The process's voice line: what the speakPassphrase activity (activities/voice.ts) uses to read a passphrase into
// a call whose media stream this process holds. It composes the reading from the local clip set and plays it
// through the call's MediaSession (reader.ts): the passphrase exists here only in memory and as μ-law audio.
// After the reading, a short goodbye, then the stream is closed, so Twilio carries on with the TwiML after
// </Connect>: the agent's returnUrl (<Redirect>), or the end of the call.
import type { Logger } from 'pino';
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
}

export function createVoiceLine(opts: VoiceLineOptions): VoiceLine {
  return {
    read(callSid, passphrase, { signal, progress }) {
      const session = opts.sessions().get(callSid);
      if (!session || session.ended) return undefined;
      const log = opts.log.child({ callSid });
      return (async (): Promise<SpokenPassphrase> => {
        const startedAt = Date.now();
        const beat = setInterval(progress, opts.heartbeatMs ?? 2_000);
        // The activity was cancelled (the hand-off was burned or closed): stop the audio at once.
        const stop = () => session.clear();
        signal.addEventListener('abort', stop, { once: true });
        try {
          const r = await readPassphrase(session, {
            compose: (pace) => composeReading(passphrase, opts.clips, { pace }),
            pace: opts.pace,
            slowerPace: Math.min(PACE_MAX, opts.pace * 1.5),
            repeatWindowMs: opts.repeatWindowMs,
            maxReadings: opts.maxReadings ?? 4,
          });
          opts.onReading?.({ callSid, startedAt, firstFrameAt: r.firstFrameAt, session });
          log.info({ outcome: r.outcome, readings: r.readings }, 'passphrase reading ended');
          if (!session.ended && !signal.aborted) {
            await session.play(composePrompt('prompt-goodbye', opts.clips), 'goodbye');
            session.end();
          }
          return {
            outcome: r.outcome,
            heardAt: r.firstHeardAt !== undefined ? new Date(r.firstHeardAt).toISOString() : undefined,
            readings: r.readings,
          };
        } finally {
          clearInterval(beat);
          signal.removeEventListener('abort', stop);
        }
      })();
    },
  };
}
