// Shared shapes of the live-call passphrase (docs/voice.md): audio format, clips, caller intents, speech recognition.
// The pieces (clips and composition, pacing, Deepgram, the media-stream session) meet only through these types.

/** Twilio Media Streams audio: G.711 μ-law, 8 kHz, mono, one byte a sample (docs/voice.md, "G.711 μ-law"). */
export const SAMPLE_RATE = 8000;
/** 20 ms of audio: Twilio's frame size, and the unit every clip and pause is padded to. */
export const FRAME_BYTES = 160;
export const FRAME_MS = 20;
/** μ-law encoding of a zero sample. */
export const MULAW_SILENCE = 0xff;

/** A named piece of μ-law audio whose length is a multiple of FRAME_BYTES, trimmed of leading/trailing silence. */
export interface Clip {
  name: string;
  audio: Buffer;
}

/** The fixed vocabulary: digits "0"…"9", letters "a"…"z" (NATO words), prompts (see src/voice/clips.ts). */
export interface ClipSet {
  /** "committed" for the clips in the repository, "deepgram:<model>" for a cached Deepgram TTS set. */
  readonly id: string;
  has(name: string): boolean;
  /** Throws for a name the set does not have. */
  get(name: string): Clip;
  names(): string[];
}

/** One piece of a reading: a clip or a pause. `name` is the clip's name, or "pause" for silence. */
export interface Segment {
  name: string;
  audio: Buffer;
}

/** What the caller may ask for on the line, by key press or by voice. */
export type CallerIntent = 'repeat' | 'slower' | 'got_it';

/** Speech-to-text for one call: caller audio in, intents out. Transcripts are never logged. */
export interface SpeechListener {
  /** μ-law 8 kHz audio from the call (Twilio's inbound track). */
  send(audio: Buffer): void;
  /** Ends the recognition session; safe to call twice. */
  close(): Promise<void>;
}

export interface SpeechListenerOptions {
  /** Called for every intent recognised in the caller's words (interim results included, deduplicated per utterance). */
  onIntent(intent: CallerIntent): void;
  /** Called once when recognition is lost for good (reconnect attempts exhausted); DTMF keeps working. */
  onUnavailable?(reason: string): void;
}

/** Makes a SpeechListener per call; undefined when no speech recognition is configured (DTMF only). */
export type SpeechListenerFactory = (callSid: string, opts: SpeechListenerOptions) => SpeechListener;
