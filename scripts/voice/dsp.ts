// Phone tuning for the clip maker (scripts/voice/make-clips.ts): what happens to every clip after it is resampled to
// 8 kHz and before it is coded as G.711 μ-law. Pure functions on linear samples, no dependencies, so
// test/unit/voice-clip-maker.test.ts checks them without a TTS engine. A maintainer's tool only: the service never
// runs it.
//
// The chain (tuneClip), every figure in PHONE_TUNING:
//   1. band-limit to the telephone band, 300–3400 Hz (the passband of a G.711 PCM channel, ITU-T G.712,
//      https://www.itu.int/rec/T-REC-G.712): energy outside it is removed on the line anyway, and left in it only
//      costs level (rumble under 300 Hz eats headroom the speech could use);
//   2. trim leading/trailing near-silence on the linear signal (relative to the clip's own peak), keeping a few ms of
//      lead-in and lead-out so quiet onsets and releases ("f" in "five", "s" in "six") survive;
//   3. fade in and out (raised cosine) so the cut never starts or ends on a step, which would click;
//   4. bring every clip to one active-speech level (RMS over the 20 ms frames above a gate relative to the clip's
//      loudest frame, a simplified form of the active speech level of ITU-T P.56,
//      https://www.itu.int/rec/T-REC-P.56), so a prompt, a digit and a NATO word sound equally loud; a clip whose
//      peak would then pass the ceiling gets only the gain that puts its peak on the ceiling, and is reported.
// make-clips.ts then codes the samples as μ-law and pads them with μ-law silence to whole 160-byte frames.
//
// Levels are in dBFS relative to 16-bit full scale (32768): a full-scale square wave is 0 dBFS RMS, a full-scale sine
// -3.01 dBFS RMS and 0 dBFS peak. μ-law's largest code is ±32124 (src/voice/mulaw.ts), so a -1 dBFS ceiling
// (29205) keeps every sample clear of the coder's overload.

/** Every setting of the phone tuning; recorded in the clip set's manifest (src/voice/clips.ts, `synthesis.tuning`). */
export const PHONE_TUNING = {
  /** Rate the filters are designed for: the telephone's, which make-clips.ts resamples to first. */
  sampleRate: 8000,
  /** High-pass corner (-3 dB), Hz: Butterworth, `filterOrder` poles. */
  highPassHz: 300,
  /** Low-pass corner (-3 dB), Hz: Butterworth, `filterOrder` poles. */
  lowPassHz: 3400,
  /** Order of each of the two Butterworth filters (an even number: order / 2 cascaded biquads each). */
  filterOrder: 4,
  /**
   * A sample is near-silence when its magnitude is this far below the clip's peak, dB. -45 keeps the weak ends of
   * fricatives and stop releases ("s" in "seven", "t" in "eight") and stays clear of the noise an engine leaves around
   * an utterance (festival's cmu_us_slt_arctic_hts about -58 to -67 dB below its peak, flite's awb from about -50 dB).
   */
  trimThresholdDb: -45,
  /**
   * Audio kept before the first and after the last sample above the threshold, ms (the lead-in is shorter than one
   * 20 ms frame, so the first frame always holds sound).
   */
  leadInMs: 10,
  leadOutMs: 30,
  /** Raised-cosine fades at the two ends, ms (inside the kept lead-in and lead-out). */
  fadeInMs: 5,
  fadeOutMs: 5,
  /** Frames over which active speech is measured, ms (one 20 ms telephone frame). */
  levelFrameMs: 20,
  /** A frame is active speech when its RMS is within this many dB of the clip's loudest frame. */
  levelGateDb: -30,
  /** Active-speech RMS every clip is brought to, dBFS. */
  targetActiveDbfs: -20,
  /** No sample may exceed this, dBFS peak; a clip that would is given less gain and reported as limited. */
  peakCeilingDbfs: -1,
} as const;

export type PhoneTuning = { readonly [K in keyof typeof PHONE_TUNING]: number };

const FULL_SCALE = 32768;

export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

export function gainToDb(gain: number): number {
  return 20 * Math.log10(gain);
}

/** Int16 samples to floats with full scale at ±1. */
export function toFloat(samples: Int16Array | readonly number[]): Float64Array {
  return Float64Array.from(samples, (s) => s / FULL_SCALE);
}

/** Floats (full scale ±1) to Int16, rounded and clamped. */
export function toInt16(samples: Float64Array): Int16Array {
  return Int16Array.from(samples, (s) => Math.max(-32768, Math.min(32767, Math.round(s * FULL_SCALE))));
}

/** Coefficients of one biquad, normalised so a0 = 1: y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]. */
export interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

/**
 * A second-order low- or high-pass section, from the RBJ Audio EQ Cookbook (R. Bristow-Johnson,
 * https://www.w3.org/TR/audio-eq-cookbook/, "LPF" and "HPF"): the analogue prototype 1/(s² + s/Q + 1) (or its
 * high-pass mirror) through the bilinear transform, pre-warped so the section's corner lands exactly on `hz`.
 */
export function biquad(kind: 'lowpass' | 'highpass', hz: number, q: number, sampleRate: number): Biquad {
  const w0 = (2 * Math.PI * hz) / sampleRate;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * q);
  const a0 = 1 + alpha;
  const b1 = kind === 'lowpass' ? 1 - cos : -(1 + cos);
  const b0 = Math.abs(b1) / 2;
  return { b0: b0 / a0, b1: b1 / a0, b2: b0 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

/**
 * The Q of each second-order section of an order-`order` Butterworth filter (order even): the analogue Butterworth
 * poles lie on the unit circle at angles θₖ = (2k − 1)π / (2·order) from the negative real axis, k = 1 … order/2, and
 * a conjugate pair at θ has Q = 1 / (2 cos θ). Order 4: Q = 0.5412 and 1.3066. Cascading sections with these Qs and a
 * common corner gives the maximally flat response, -3 dB at the corner.
 */
export function butterworthQs(order: number): number[] {
  if (order < 2 || order % 2 !== 0) throw new RangeError(`Butterworth order must be even and ≥ 2, not ${order}`);
  return Array.from({ length: order / 2 }, (_, i) => 1 / (2 * Math.cos(((2 * i + 1) * Math.PI) / (2 * order))));
}

/** The telephone band-pass of `tuning`: the high-pass sections, then the low-pass sections. */
export function phoneBandFilter(tuning: PhoneTuning = PHONE_TUNING): Biquad[] {
  const qs = butterworthQs(tuning.filterOrder);
  return [
    ...qs.map((q) => biquad('highpass', tuning.highPassHz, q, tuning.sampleRate)),
    ...qs.map((q) => biquad('lowpass', tuning.lowPassHz, q, tuning.sampleRate)),
  ];
}

/** `x` through the cascade of `sections` (direct form I per section, in double precision, starting at rest). */
export function applyFilter(x: Float64Array, sections: readonly Biquad[]): Float64Array {
  let cur = x.slice();
  for (const { b0, b1, b2, a1, a2 } of sections) {
    const out = new Float64Array(cur.length);
    let x1 = 0;
    let x2 = 0;
    let y1 = 0;
    let y2 = 0;
    for (let n = 0; n < cur.length; n++) {
      const xn = cur[n] as number;
      const yn = b0 * xn + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
      out[n] = yn;
      x2 = x1;
      x1 = xn;
      y2 = y1;
      y1 = yn;
    }
    cur = out;
  }
  return cur;
}

export function peakOf(x: Float64Array): number {
  let max = 0;
  for (const s of x) max = Math.max(max, Math.abs(s));
  return max;
}

function msToSamples(ms: number, sampleRate: number): number {
  return Math.round((ms * sampleRate) / 1000);
}

/**
 * `x` without leading and trailing near-silence: cut `leadInMs` before the first and `leadOutMs` after the last
 * sample whose magnitude is within `trimThresholdDb` of the peak. All-zero input trims to nothing. A copy.
 */
export function trimNearSilence(x: Float64Array, tuning: PhoneTuning = PHONE_TUNING): Float64Array {
  const threshold = peakOf(x) * dbToGain(tuning.trimThresholdDb);
  if (threshold === 0) return new Float64Array(0);
  let first = 0;
  while (first < x.length && Math.abs(x[first] as number) < threshold) first++;
  let last = x.length - 1;
  while (last > first && Math.abs(x[last] as number) < threshold) last--;
  const start = Math.max(0, first - msToSamples(tuning.leadInMs, tuning.sampleRate));
  const end = Math.min(x.length, last + 1 + msToSamples(tuning.leadOutMs, tuning.sampleRate));
  return x.slice(start, end);
}

/** `x` with raised-cosine fades over its first `fadeInMs` and last `fadeOutMs` (shortened for a very short clip). */
export function fadeEdges(x: Float64Array, tuning: PhoneTuning = PHONE_TUNING): Float64Array {
  const out = x.slice();
  const half = Math.floor(out.length / 2);
  const fadeIn = Math.min(half, msToSamples(tuning.fadeInMs, tuning.sampleRate));
  const fadeOut = Math.min(half, msToSamples(tuning.fadeOutMs, tuning.sampleRate));
  // Gain 0 on the outermost sample, rising as 0.5 − 0.5 cos to 1 just inside the fade.
  for (let i = 0; i < fadeIn; i++) out[i] = (out[i] as number) * (0.5 - 0.5 * Math.cos((Math.PI * i) / fadeIn));
  for (let i = 0; i < fadeOut; i++) {
    const n = out.length - 1 - i;
    out[n] = (out[n] as number) * (0.5 - 0.5 * Math.cos((Math.PI * i) / fadeOut));
  }
  return out;
}

/**
 * Active-speech RMS of `x` (full scale ±1): the RMS over the `levelFrameMs` frames whose own RMS is within
 * `levelGateDb` of the loudest frame's (a last partial frame counts for its length). 0 for silence.
 */
export function activeRms(x: Float64Array, tuning: PhoneTuning = PHONE_TUNING): number {
  const frame = Math.max(1, msToSamples(tuning.levelFrameMs, tuning.sampleRate));
  const frames: { sum: number; n: number }[] = [];
  for (let start = 0; start < x.length; start += frame) {
    let sum = 0;
    const end = Math.min(x.length, start + frame);
    for (let i = start; i < end; i++) sum += (x[i] as number) ** 2;
    frames.push({ sum, n: end - start });
  }
  const loudest = Math.max(0, ...frames.map((f) => f.sum / f.n));
  if (loudest === 0) return 0;
  const gate = loudest * 10 ** (tuning.levelGateDb / 10); // on mean squares, so /10
  let sum = 0;
  let n = 0;
  for (const f of frames) {
    if (f.sum / f.n >= gate) {
      sum += f.sum;
      n += f.n;
    }
  }
  return Math.sqrt(sum / n);
}

/** What loudness normalisation did to one clip. */
export interface LevelReport {
  /** Gain applied, dB. */
  gainDb: number;
  /** Active-speech RMS after the gain, dBFS (below the target by `shortfallDb` when limited). */
  activeDbfs: number;
  /** Peak after the gain, dBFS. */
  peakDbfs: number;
  /** True when the peak ceiling, not the target, set the gain. */
  limited: boolean;
  /** How far below the target the clip stays because of the ceiling, dB (0 unless limited). */
  shortfallDb: number;
}

/** `x` scaled to the target active-speech level, or to the peak ceiling if that is lower; silence is returned as is. */
export function normaliseLoudness(
  x: Float64Array,
  tuning: PhoneTuning = PHONE_TUNING,
): { samples: Float64Array; report: LevelReport } {
  const active = activeRms(x, tuning);
  const peak = peakOf(x);
  if (active === 0 || peak === 0) {
    return {
      samples: x.slice(),
      report: { gainDb: 0, activeDbfs: -Infinity, peakDbfs: -Infinity, limited: false, shortfallDb: 0 },
    };
  }
  const wanted = dbToGain(tuning.targetActiveDbfs) / active;
  const allowed = dbToGain(tuning.peakCeilingDbfs) / peak;
  const limited = wanted > allowed;
  const gain = limited ? allowed : wanted;
  return {
    samples: x.map((s) => s * gain),
    report: {
      gainDb: gainToDb(gain),
      activeDbfs: gainToDb(active * gain),
      peakDbfs: gainToDb(peak * gain),
      limited,
      shortfallDb: limited ? gainToDb(wanted / allowed) : 0,
    },
  };
}

/**
 * The whole phone tuning of one clip already at `tuning.sampleRate`: band-limit, trim, fade, normalise loudness,
 * back to Int16 (empty if the clip is silence). make-clips.ts codes the result as μ-law and pads it to whole frames.
 */
export function tuneClip(
  samples: Int16Array,
  tuning: PhoneTuning = PHONE_TUNING,
): { samples: Int16Array; report: LevelReport } {
  const band = applyFilter(toFloat(samples), phoneBandFilter(tuning));
  const faded = fadeEdges(trimNearSilence(band, tuning), tuning);
  const { samples: level, report } = normaliseLoudness(faded, tuning);
  return { samples: toInt16(level), report };
}
