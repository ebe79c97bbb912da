// Twilio's side of outbound audio for tests on a fake clock. The playback model is the sandbox's one emulation of
// Twilio (src/sandbox/caller-playback.ts, which the simulated caller uses too): audio plays in real time in the
// order sent, a mark is echoed once the audio before it has played, and `clear` drops the buffer and returns every
// pending mark at once: see docs/twilio.md ("Media streams"). Here the fake clock drives it, one tick per 20 ms frame.
import { PlaybackQueue } from '../../src/sandbox/index.js';
import { outboundFrameSchema } from '../../src/voice/frames.js';
import { FRAME_BYTES, FRAME_MS } from '../../src/voice/types.js';
import type { FakeClock } from './fake-clock.js';
import type { FakeMediaSocket } from './fake-media-socket.js';
import type { twilioStream } from './twilio-stream.js';

export function emulateTwilioPlayback(socket: FakeMediaSocket, clock: FakeClock, tw: ReturnType<typeof twilioStream>) {
  const log = { playedMs: 0, clears: 0, marks: [] as string[] };
  const queue = new PlaybackQueue({
    played: (frame) => {
      log.playedMs += (frame.length / FRAME_BYTES) * FRAME_MS;
    },
    // Echoed from a timer of its own, never from inside the service's send, as over a real socket.
    mark: (name) =>
      clock.setTimer(() => {
        log.marks.push(name);
        if (socket.closedWith === undefined) socket.receive(tw.mark(name));
      }, 0),
  });

  // The playback clock ticks every 20 ms on a deadline grid while audio plays, and stops when the buffer runs dry.
  let nextTick = 0;
  let cancelTick: (() => void) | undefined;
  const schedule = () => {
    cancelTick = clock.setTimer(run, Math.max(0, nextTick - clock.now()));
  };
  const run = () => {
    cancelTick = undefined;
    while (nextTick <= clock.now()) {
      queue.tick();
      if (queue.bufferedBytes === 0) return;
      nextTick += FRAME_MS;
    }
    schedule();
  };

  socket.onSend = (text) => {
    const frame = outboundFrameSchema.parse(JSON.parse(text));
    if (frame.event === 'media') {
      queue.enqueueAudio(Buffer.from(frame.media.payload, 'base64'));
      if (!cancelTick) {
        // Nothing was playing: this audio starts now.
        queue.tick();
        nextTick = clock.now() + FRAME_MS;
        schedule();
      }
    } else if (frame.event === 'mark') {
      queue.enqueueMark(frame.mark.name);
    } else {
      log.clears += 1;
      queue.clear();
      cancelTick?.();
      cancelTick = undefined;
    }
  };
  return log;
}
