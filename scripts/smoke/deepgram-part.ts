// The Deepgram part: the service's own listener (src/deepgram/listener.ts, live transcription through @deepgram/sdk)
// hears committed caller-word clips (assets/clips: "Repeat.", "Got it.", spoken by the same voice as the passphrase
// clips), streamed in real time as a call's inbound audio would be. The listener turns transcripts into intents and
// never hands the transcript out (docs/deepgram.md, "Live transcription"), so what smoke can show of what Deepgram
// heard is the intent; each clip must give the intent the service acts on (CALLER_WORD_INTENTS).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/config.js';
import { createDeepgramListenerFactory } from '../../src/deepgram/listener.js';
import { createLogger } from '../../src/log.js';
import { loadClipSet } from '../../src/voice/clips.js';
import { silenceMs, splitFrames } from '../../src/voice/mulaw.js';
import { FRAME_MS, type CallerIntent } from '../../src/voice/types.js';
import { CALLER_WORD_INTENTS, CALLER_WORDS, type CallerWordName } from '../../src/voice/vocabulary.js';
import type { Interrupt } from './ledger.js';
import { StepFailed } from './ots-part.js';
import type { Output } from './output.js';

/** Two clips asking for different things: Deepgram must tell them apart, not just hear speech. */
export const SMOKE_CLIPS: readonly CallerWordName[] = ['caller-repeat', 'caller-got-it'];
const CONNECT_TIMEOUT_MS = 10_000;
/** After the clip: silence, so Deepgram's endpointing (300 ms) and utterance end (1 s) come. */
const TRAILING_SILENCE_MS = 1_500;
/** How long after the audio an intent may still arrive. */
const ANSWER_WAIT_MS = 4_000;

export async function runDeepgramPart(ctx: { out: Output; interrupt: Interrupt; config: Config }): Promise<void> {
  const { out, config } = ctx;
  const clips = loadClipSet(undefined, { required: [...SMOKE_CLIPS] });
  out.say(
    `Deepgram: streaming ${SMOKE_CLIPS.length} clips from assets/clips in real time to ${config.DEEPGRAM_BASE_URL ?? "Deepgram's listen endpoint"} (model ${config.DEEPGRAM_STT_MODEL})`,
  );
  const results = await ctx.interrupt.guard(
    Promise.all(SMOKE_CLIPS.map((name, i) => hear(config, name, clips.get(name).audio, i))),
  );
  const failed: string[] = [];
  for (const r of results) {
    const expected = CALLER_WORD_INTENTS[r.name];
    const heard = r.intents.length ? r.intents.join(', ') : 'no intent';
    const ok = r.intents.includes(expected) && !r.unavailable;
    out.say(
      `Deepgram: ${r.name} ("${CALLER_WORDS[r.name]}", ${r.seconds.toFixed(1)} s) heard as ${r.unavailable ? `nothing: ${r.unavailable}` : heard}` +
        (ok ? ` (expected ${expected})` : `, expected ${expected}`),
    );
    if (!ok) failed.push(r.name);
  }
  if (failed.length) {
    const refused = results.some((r) => /\b(401|403)\b/.test(r.unavailable ?? ''));
    throw new StepFailed(
      'Deepgram',
      `${failed.join(' and ')} not recognised as the service would need (see above)` +
        (refused ? '; Deepgram refused the key: check DEEPGRAM_API_KEY (and DEEPGRAM_BASE_URL, if set)' : ''),
    );
  }
}

interface Heard {
  name: CallerWordName;
  seconds: number;
  intents: CallerIntent[];
  unavailable?: string;
}

/** One listen connection: wait until it is open, stream the clip at 20 ms a frame, wait for the intent, close. */
async function hear(config: Config, name: CallerWordName, clip: Buffer, n: number): Promise<Heard> {
  let onConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  // The listener says when it is connected only in its log (event deepgram.connected); audio sent before is dropped.
  const log = createLogger({
    level: 'info',
    destination: {
      write(line: string) {
        try {
          if ((JSON.parse(line) as { event?: string }).event === 'deepgram.connected') onConnected();
        } catch {
          // not JSON: not ours to read
        }
      },
    },
  });
  const factory = createDeepgramListenerFactory({
    apiKey: config.DEEPGRAM_API_KEY!,
    baseUrl: config.DEEPGRAM_BASE_URL,
    model: config.DEEPGRAM_STT_MODEL,
    log,
    reconnectAttempts: 1,
  });
  const heard: Heard = { name, seconds: clip.length / 8000, intents: [] };
  const expected = CALLER_WORD_INTENTS[name];
  let onExpected: () => void = () => undefined;
  const gotExpected = new Promise<void>((resolve) => (onExpected = resolve));
  const listener = factory(`CAsmoke${n}`, {
    onIntent(intent) {
      heard.intents.push(intent);
      if (intent === expected) onExpected();
    },
    onUnavailable(reason) {
      heard.unavailable = reason;
      onConnected();
      onExpected();
    },
  });
  try {
    const open = await Promise.race([connected.then(() => true), sleep(CONNECT_TIMEOUT_MS).then(() => false)]);
    if (heard.unavailable) return heard;
    if (!open) {
      heard.unavailable = `no connection within ${CONNECT_TIMEOUT_MS / 1000} s`;
      return heard;
    }
    const frames = splitFrames(Buffer.concat([silenceMs(300), clip, silenceMs(TRAILING_SILENCE_MS)]));
    const start = Date.now();
    for (let i = 0; i < frames.length; i++) {
      const due = start + i * FRAME_MS - Date.now();
      if (due > 0) await sleep(due);
      listener.send(frames[i]!);
    }
    await Promise.race([gotExpected, sleep(ANSWER_WAIT_MS)]);
    return heard;
  } finally {
    await listener.close();
  }
}
