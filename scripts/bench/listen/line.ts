// A simulated phone line for the bench's listener (scripts/bench/listen/index.ts): what the service sends (G.711
// μ-law, 8 kHz) as a caller's handset would play it, optionally after line noise and packet loss. Pure and seeded,
// unit-tested in test/unit/listen.test.ts.
//
//   clean:  μ-law → linear (the G.711 decode every call has).
//   noisy:  μ-law → linear → + white Gaussian noise at `snrDb` below the speech → μ-law → linear (a second G.711
//           coding, as when the call crosses another codec hop) → each 20 ms frame lost with probability `loss` and
//           concealed by silence (the worst concealment; real jitter buffers repeat or interpolate).
// The SNR is measured against the speech's active level, the same measure the clip maker levels the clips by
// (scripts/voice/dsp.ts activeRms: the 20 ms frames within 30 dB of the loudest, so pauses do not dilute it). Noise
// and losses come from two streams of one seed, one draw per sample and one per frame, so the same seed gives the
// same noise and the same lost frames, counted from the start of the audio, whatever else changes.
import { decodeMulaw, encodeMulaw } from '../../../src/voice/mulaw.js';
import { FRAME_BYTES } from '../../../src/voice/types.js';
import { activeRms, toFloat } from '../../voice/dsp.js';
import { seededRandom } from '../stats.js';

export interface LineOptions {
  /** Signal-to-noise ratio in dB; omit for no noise. */
  snrDb?: number;
  /** Probability that a 20 ms frame is lost (0…1). */
  loss?: number;
  seed: number;
}

export function phoneLine(mulaw: Uint8Array, opts: LineOptions): Int16Array {
  let pcm = decodeMulaw(mulaw);
  if (opts.snrDb !== undefined) {
    const random = seededRandom(opts.seed);
    const noiseRms = (activeRms(toFloat(pcm)) * 32768) / 10 ** (opts.snrDb / 20);
    const noisy = new Int16Array(pcm.length);
    for (let i = 0; i < pcm.length; i++) {
      // Box–Muller: a standard normal sample from two uniform ones.
      const g = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      noisy[i] = Math.max(-32768, Math.min(32767, Math.round(pcm[i]! + g * noiseRms)));
    }
    pcm = decodeMulaw(encodeMulaw(noisy));
  }
  if (opts.loss) {
    const random = seededRandom(opts.seed ^ 0x5bd1e995);
    for (let i = 0; i < pcm.length; i += FRAME_BYTES) {
      if (random() < opts.loss) pcm.fill(0, i, Math.min(pcm.length, i + FRAME_BYTES));
    }
  }
  return pcm;
}

/** A 16-bit PCM mono RIFF/WAVE file (what the listener reads). */
export function wavFile(samples: Int16Array, sampleRate: number): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => data.writeInt16LE(s, i * 2));
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
