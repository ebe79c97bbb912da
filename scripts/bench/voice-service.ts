// The service in its own process for the voice load run of `npm run bench` (scripts/bench/voice.ts): the same
// startService() wiring as src/main.ts (sandbox mode, against the bench's Temporal), plus what main.ts has no way
// to report: each passphrase reading's timing and pacing (ServiceOptions.sandbox.onReading) and the media frames
// its live streams have handled, over the IPC channel. Started only by the bench, with an IPC channel.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { resolve } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { loadSandboxSecrets } from '../../src/sandbox/index.js';
import { startService } from '../../src/service.js';
import { installTemporalLogging } from '../../src/temporal/runtime-logging.js';

/** One reading as the parent gets it: no passphrase, only timings. */
export interface ChildReading {
  callSid: string;
  firstFrameMs?: number;
  firstFrameAt?: number;
  lateness: number[];
  underruns: number;
}

/** The answer to a `stats` request. */
export interface ChildStats {
  live: number;
  mediaFrames: number;
  cpuMs: number;
  /** Timer delay beyond the monitor's 5 ms resolution (ms). */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** process.memoryUsage() in MB (main thread; Temporal runs workflows in a worker thread, counted only in rss). */
  memory: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
}

/** `gc`: collect garbage first (the bench starts this process with --expose-gc), so memory is what is retained. */
export type ParentMessage = { type: 'stats'; id: number; resetEventLoop?: boolean; gc?: boolean };
export type ChildMessage =
  | { type: 'ready'; url: string; publicBaseUrl: string }
  | { type: 'reading'; reading: ChildReading }
  | { type: 'stats'; id: number; stats: ChildStats };

async function main() {
  if (!process.send) throw new Error('voice-service.ts is started by scripts/bench/voice.ts with an IPC channel');
  const send = (m: ChildMessage) => process.send!(m);
  const config = loadConfig(process.env);
  const log = pino({ level: config.LOG_LEVEL }, pino.destination(2));
  installTemporalLogging(log);
  const RESOLUTION_MS = 5;
  const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  eld.enable();
  const svc = await startService({
    config,
    temporalAddress: config.TEMPORAL_ADDRESS!,
    log,
    sandboxSecrets: loadSandboxSecrets(resolve(config.DATA_DIR)),
    sandbox: {
      onReading: ({ callSid, startedAt, firstFrameAt, session }) =>
        send({
          type: 'reading',
          reading: {
            callSid,
            ...(firstFrameAt !== undefined && { firstFrameMs: firstFrameAt - startedAt, firstFrameAt }),
            lateness: [...session.latenessSamples()],
            underruns: session.stats().pacer?.underruns ?? 0,
          },
        }),
    },
  });
  process.on('message', (m: ParentMessage) => {
    if (m.type !== 'stats') return;
    if (m.gc) (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    let mediaFrames = 0;
    const sessions = svc.voice.media.sessions();
    for (const s of sessions.values()) mediaFrames += s.stats().frames.media ?? 0;
    const cpu = process.cpuUsage();
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
    send({
      type: 'stats',
      id: m.id,
      stats: {
        live: sessions.size,
        mediaFrames,
        cpuMs: (cpu.user + cpu.system) / 1000,
        eventLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
        memory: {
          rss: mb(mem.rss),
          heapUsed: mb(mem.heapUsed),
          external: mb(mem.external),
          arrayBuffers: mb(mem.arrayBuffers),
        },
      },
    });
    if (m.resetEventLoop) eld.reset();
  });
  const stop = () => void svc.stop().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  send({ type: 'ready', url: svc.url, publicBaseUrl: config.publicBaseUrl });
}

main().catch((err: Error) => {
  process.stderr.write(`voice-service failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
