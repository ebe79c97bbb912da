// Just enough WAV reading for the clip maker: espeak-ng writes 16-bit PCM RIFF/WAVE (22,050 Hz mono), and Twilio
// wants 8 kHz. A maintainer's tool only: the service never reads WAV.

export interface PcmAudio {
  sampleRate: number;
  /** Mono 16-bit samples (channels are averaged). */
  samples: Int16Array;
}

/** Parses a PCM 16-bit RIFF/WAVE file; throws with what is wrong for anything else. */
export function parseWav(file: Buffer): PcmAudio {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | undefined;
  let offset = 12;
  while (offset + 8 <= file.length) {
    const id = file.toString('ascii', offset, offset + 4);
    const declared = file.readUInt32LE(offset + 4);
    const start = offset + 8;
    // Writers streaming to a pipe declare 0x7fffffff or 0 for the data size; take what is there.
    const size = Math.min(declared, file.length - start);
    if (id === 'fmt ') {
      fmt = {
        format: file.readUInt16LE(start),
        channels: file.readUInt16LE(start + 2),
        sampleRate: file.readUInt32LE(start + 4),
        bits: file.readUInt16LE(start + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data chunk before its fmt chunk');
      if (fmt.format !== 1 || fmt.bits !== 16)
        throw new Error(`WAV is format ${fmt.format}, ${fmt.bits}-bit; need PCM 16-bit`);
      const frames = Math.floor(size / (2 * fmt.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < fmt.channels; c++) sum += file.readInt16LE(start + (i * fmt.channels + c) * 2);
        samples[i] = Math.round(sum / fmt.channels);
      }
      return { sampleRate: fmt.sampleRate, samples };
    }
    offset = start + size + (size % 2); // chunks are padded to an even size
  }
  throw new Error('WAV has no data chunk');
}

/**
 * Band-limited resampling (windowed-sinc interpolation, Blackman window, cut-off just under the lower Nyquist
 * frequency), so 22,050 Hz speech does not alias into the 8 kHz telephone band.
 */
export function resample(input: Int16Array, fromRate: number, toRate: number, halfWidth = 24): Int16Array {
  if (fromRate === toRate) return input.slice();
  const cutoff = (0.92 * Math.min(fromRate, toRate)) / 2 / fromRate; // cycles per input sample
  const step = fromRate / toRate;
  const outLength = Math.floor(input.length / step);
  const out = new Int16Array(outLength);
  const reach = Math.ceil(halfWidth / Math.min(1, 2 * cutoff));
  for (let n = 0; n < outLength; n++) {
    const t = n * step;
    const centre = Math.floor(t);
    let acc = 0;
    for (let k = centre - reach + 1; k <= centre + reach; k++) {
      if (k < 0 || k >= input.length) continue;
      const d = t - k;
      const x = Math.abs(d) / reach;
      if (x >= 1) continue;
      const window = 0.42 + 0.5 * Math.cos(Math.PI * x) + 0.08 * Math.cos(2 * Math.PI * x);
      const arg = 2 * cutoff * d;
      const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
      acc += (input[k] as number) * 2 * cutoff * sinc * window;
    }
    out[n] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}

/** Scales samples so the loudest reaches `peak` of full scale (clips from one engine end up equally loud). */
export function normalizePeak(samples: Int16Array, peak = 0.7): Int16Array {
  let max = 0;
  for (const s of samples) max = Math.max(max, Math.abs(s));
  if (max === 0) return samples.slice();
  const gain = (peak * 32767) / max;
  return samples.map((s) => Math.max(-32768, Math.min(32767, Math.round(s * gain))));
}
