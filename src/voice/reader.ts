// Reads the passphrase to the caller over a started media stream (docs/voice.md, "Passphrase audio"):
// - the caller's speech never interrupts a reading (a cough must not cut it); a key press may: 1/3 restart it
//   (3 slower), 2 lets it finish and ends without waiting;
// - a reading counts as heard only when its final mark comes back with no clear since (the pacer's 'played');
// - after a heard reading the caller has `repeatWindowMs` to ask for it again, by key only: from before the first
//   frame until the repeat window closes the session's speech recognition is suspended (suspendSpeech), because
//   callers read the passphrase back aloud and that must not reach Deepgram (docs/voice.md, "Passphrase audio").
// Nothing here logs: the segments are the passphrase's audio and their names spell it.
import type { MediaSession } from './media-session.js';
import type { Clock } from './pacer.js';
import type { CallerIntent, Segment } from './types.js';

export interface ReadPassphraseOptions {
  /** Builds one whole reading (prompt, groups, repetition, "press 1 …") at a pace; called once per reading. */
  compose: (pace: number) => Segment[];
  pace: number;
  /** The pace after the caller asks for "slower"; kept for every later reading. */
  slowerPace: number;
  repeatWindowMs: number;
  /** Readings in all, restarts included (at least 1). */
  maxReadings: number;
  /** Timer and timestamps; default wall-clock time (Date.now), since firstHeardAt goes into notes. */
  clock?: Clock;
  /** Stops at once (the hand-off was burned or closed): the audio is cleared and no further reading starts. */
  signal?: AbortSignal;
}

export interface ReadPassphraseResult {
  /** heard: a reading played to its final mark; hung_up: the stream ended first; not_heard: cut every time. */
  outcome: 'heard' | 'hung_up' | 'not_heard';
  /** When the first reading finished playing (clock time). */
  firstHeardAt?: number;
  readings: number;
  /** When the first frame of the first reading went on the wire (clock time). */
  firstFrameAt?: number;
}

/** What the reader needs of a session (a started MediaSession). */
export type ReaderSession = Pick<MediaSession, 'play' | 'clear' | 'on' | 'off' | 'ended' | 'suspendSpeech'>;

export const wallClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

type WindowEvent = CallerIntent | 'hung_up' | 'timeout';

export async function readPassphrase(
  session: ReaderSession,
  opts: ReadPassphraseOptions,
): Promise<ReadPassphraseResult> {
  if (!Number.isInteger(opts.maxReadings) || opts.maxReadings < 1)
    throw new RangeError('maxReadings must be a positive integer');
  const clock = opts.clock ?? wallClock;
  if (session.ended) return { outcome: 'hung_up', readings: 0 };

  let readings = 0;
  let pace = opts.pace;
  let heard = false;
  let firstHeardAt: number | undefined;
  let firstFrameAt: number | undefined;
  let playing = false;
  let restartWith: CallerIntent | undefined;
  let gotItWhilePlaying = false;
  let waiter: ((e: WindowEvent) => void) | undefined;

  const onIntent = (intent: CallerIntent, source: 'dtmf' | 'speech') => {
    if (source !== 'dtmf') return; // keys only: speech is suspended for the whole reading (see the top of the file)
    if (!playing) {
      waiter?.(intent);
      return;
    }
    if (intent === 'got_it') gotItWhilePlaying = true;
    else if (readings < opts.maxReadings && !restartWith) {
      restartWith = intent;
      session.clear();
    }
  };
  const onStop = () => waiter?.('hung_up');
  const onAbort = () => {
    session.clear();
    waiter?.('timeout');
  };
  // No caller audio to speech recognition from here until the last repeat window closes (the finally below).
  const resumeSpeech = session.suspendSpeech();
  session.on('intent', onIntent);
  session.on('stop', onStop);
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const waitForIntent = () =>
    new Promise<WindowEvent>((resolve) => {
      const cancel = clock.setTimer(() => done('timeout'), opts.repeatWindowMs);
      const done = (e: WindowEvent) => {
        cancel();
        waiter = undefined;
        resolve(e);
      };
      waiter = done;
    });

  try {
    while (readings < opts.maxReadings && !session.ended && !opts.signal?.aborted) {
      readings += 1;
      restartWith = undefined;
      playing = true;
      let outcome;
      try {
        outcome = await session.play(opts.compose(pace), `reading-${readings}`, {
          onFirstFrame: () => {
            firstFrameAt ??= clock.now();
          },
        });
      } finally {
        playing = false;
      }
      if (outcome === 'closed') break;
      if (outcome === 'cleared') {
        if (!restartWith || opts.signal?.aborted) break; // cut by someone else (or aborted): not ours to retry
        if (restartWith === 'slower') pace = opts.slowerPace;
        continue;
      }
      heard = true;
      firstHeardAt ??= clock.now();
      if (gotItWhilePlaying || readings >= opts.maxReadings || session.ended || opts.signal?.aborted) break;
      const next = await waitForIntent();
      if (next === 'slower') pace = opts.slowerPace;
      else if (next !== 'repeat') break; // got_it, no answer, or hung up
    }
  } finally {
    resumeSpeech();
    waiter = undefined;
    session.off('intent', onIntent);
    session.off('stop', onStop);
    opts.signal?.removeEventListener('abort', onAbort);
  }

  const outcome = heard ? 'heard' : session.ended ? 'hung_up' : 'not_heard';
  return {
    outcome,
    readings,
    ...(firstHeardAt !== undefined && { firstHeardAt }),
    ...(firstFrameAt !== undefined && { firstFrameAt }),
  };
}
