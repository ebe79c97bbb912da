// Process wiring of the live-call passphrase, called once by src/service.ts: the clip set, speech recognition
// (Deepgram live transcription at the base URL it is given), the media-stream server and the voice line the
// speakPassphrase activity reads through: see docs/architecture.md ("Voice round trip"). It builds no fake: in the
// sandbox it is handed the fake Deepgram's base URL and a hook for the simulated callers, as plain options.
import { hkdfSync } from 'node:crypto';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { VoiceLine } from '../../activities/voice.js';
import { callWorkflowId } from '../../workflows/ids.js';
import { streamStartedSignal, streamStoppedSignal } from '../../workflows/messages.js';
import type { Config } from '../config.js';
import { signalCallSession } from '../temporal/signal-call-session.js';
import { createDeepgramListenerFactory } from '../deepgram/listener.js';
import { synthesizeClipSet } from '../deepgram/tts-clips.js';
import { createVoiceLine } from './calls.js';
import { loadClipSet, ClipSetError } from './clips.js';
import { createMediaStreamServer, callToken, type MediaStreamServer } from './media-server.js';
import type { ClipSet } from './types.js';
import { CLIP_VOCABULARY, SERVICE_CLIP_NAMES } from './vocabulary.js';

export interface Voice {
  clips: ClipSet;
  media: MediaStreamServer;
  line: VoiceLine;
  /** For the TwiML webhook. */
  mediaUrl: string;
  callToken(callSid: string): string;
  close(): Promise<void>;
}

/**
 * Calls placed against this service from inside its own process (the sandbox's simulated callers): handed the clip
 * set the service speaks from once it is loaded, so they recognise what they hear, and hung up by close() before
 * the media server closes.
 */
export interface SimulatedCallsHook {
  useClips(clips: ClipSet): void;
  closeAll(): Promise<void>;
}

/**
 * The clips the service speaks from: VOICE_CLIPS_DIR (your own recordings), the Deepgram TTS set (synthesised once
 * into DATA_DIR and reused), or the committed set. A broken set stops start-up with the clip named.
 */
export async function loadVoiceClips(config: Config, log: Logger): Promise<ClipSet> {
  try {
    if (config.VOICE_CLIPS_DIR) return loadClipSet(config.VOICE_CLIPS_DIR);
    if (config.VOICE_CLIPS === 'deepgram') {
      const dir = join(config.DATA_DIR, 'clips', `deepgram-${config.DEEPGRAM_TTS_MODEL}`);
      // Only the fixed vocabulary goes to Deepgram, never a passphrase (passphrases are composed from these clips).
      const vocabulary = Object.fromEntries(SERVICE_CLIP_NAMES.map((n) => [n, CLIP_VOCABULARY[n]!]));
      const r = await synthesizeClipSet({
        apiKey: config.DEEPGRAM_API_KEY!,
        baseUrl: config.DEEPGRAM_BASE_URL,
        model: config.DEEPGRAM_TTS_MODEL,
        speed: config.DEEPGRAM_TTS_SPEED,
        dir,
        vocabulary,
        log,
      });
      log.info({ dir, created: r.created, cached: r.cached }, 'Deepgram clip set ready');
      return loadClipSet(dir);
    }
    return loadClipSet();
  } catch (err) {
    if (err instanceof ClipSetError) throw new Error(`voice clips: ${err.message}`);
    throw err;
  }
}

export async function setupVoice(opts: {
  config: Config;
  log: Logger;
  client: Client;
  /** This process's voice task queue (workflows/queues.ts voiceTaskQueue). */
  voiceTaskQueue: string;
  twilioAuthToken: string;
  /** Derives the call-token key; only workers and this process hold it. */
  sealKey: Buffer;
  /** Deepgram live transcription (Deepgram's, or the sandbox's fake at its base URL); none: DTMF only. */
  speech?: { apiKey: string; baseUrl?: string };
  simulatedCalls?: SimulatedCallsHook;
  /** Bench hook: each reading's timing and pacing. */
  onReading?: Parameters<typeof createVoiceLine>[0]['onReading'];
  metrics?: Metrics;
}): Promise<Voice> {
  const { config, log } = opts;
  const clips = await loadVoiceClips(config, log);
  const speech = opts.speech
    ? createDeepgramListenerFactory({ ...opts.speech, model: config.DEEPGRAM_STT_MODEL, log })
    : undefined;

  const callTokenKey = Buffer.from(hkdfSync('sha256', opts.sealKey, Buffer.alloc(0), 'ots-handoff call token v1', 32));
  const media = createMediaStreamServer({
    publicBaseUrl: config.publicBaseUrl,
    authToken: opts.twilioAuthToken,
    sharedKeys: config.TWILIO_WEBHOOK_KEYS,
    callTokenKey,
    log,
    speech,
    metrics: opts.metrics,
    onSession(session) {
      const { callSid, streamSid } = session.info!;
      const calls = opts.client.workflow;
      signalCallSession(opts.client, config.TEMPORAL_TASK_QUEUE, callSid, streamStartedSignal, {
        streamSid,
        taskQueue: opts.voiceTaskQueue,
        at: new Date().toISOString(),
      }).catch((err: Error) =>
        log.error({ callSid, err: { message: err.message } }, 'could not record the media stream in its call session'),
      );
      session.on('stop', () => {
        calls
          .getHandle(callWorkflowId(callSid))
          .signal(streamStoppedSignal, { streamSid, at: new Date().toISOString() })
          .catch(() => undefined); // the session has ended already
      });
    },
  });
  const line = createVoiceLine({
    sessions: () => media.sessions(),
    clips,
    pace: config.VOICE_PACE,
    repeatWindowMs: config.VOICE_REPEAT_WINDOW_SECONDS * 1000,
    log,
    onReading: opts.onReading,
    metrics: opts.metrics,
  });

  opts.simulatedCalls?.useClips(clips);

  return {
    clips,
    media,
    line,
    mediaUrl: media.url,
    callToken: (callSid) => callToken(callTokenKey, callSid),
    async close() {
      line.shutdown();
      await opts.simulatedCalls?.closeAll();
      await media.close();
    },
  };
}
