// Twilio's side of outbound audio, on a fake clock: audio plays in real time in the order sent, a mark is echoed
// when the audio before it has played, and `clear` drops the buffer and returns every pending mark at once
// (research/voice.md §1).
import { outboundFrameSchema } from '../../src/voice/frames.js';
import type { FakeClock } from './fake-clock.js';
import type { FakeMediaSocket } from './fake-media-socket.js';
import type { twilioStream } from './twilio-stream.js';

export function emulateTwilioPlayback(socket: FakeMediaSocket, clock: FakeClock, tw: ReturnType<typeof twilioStream>) {
  let playedUntil = 0;
  const pending = new Map<string, () => void>();
  const log = { playedMs: 0, clears: 0, marks: [] as string[] };
  const echo = (name: string) => {
    pending.delete(name);
    log.marks.push(name);
    if (socket.closedWith === undefined) socket.receive(tw.mark(name));
  };
  socket.onSend = (text) => {
    const frame = outboundFrameSchema.parse(JSON.parse(text));
    if (frame.event === 'media') {
      const ms = (Buffer.from(frame.media.payload, 'base64').length / 160) * 20;
      playedUntil = Math.max(playedUntil, clock.now()) + ms;
      log.playedMs += ms;
    } else if (frame.event === 'mark') {
      const name = frame.mark.name;
      pending.set(
        name,
        clock.setTimer(() => echo(name), Math.max(0, playedUntil - clock.now())),
      );
    } else {
      log.clears += 1;
      playedUntil = clock.now();
      const names = [...pending.keys()];
      for (const name of names) pending.get(name)!();
      clock.setTimer(() => names.forEach(echo), 0);
    }
  };
  return log;
}
