// The voice activities' own decisions, run in a mock activity context (no server): speakPassphrase on a process
// that holds no media stream for the call fails at once, non-retryable, as CALL_NOT_HERE (the workflow then applies
// the fallback rule: test/workflows/share-voice.test.ts).
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createVoiceActivities, type VoiceLine } from '../../activities/voice.js';
import { createSealer } from '../../src/seal.js';

const sealer = createSealer(Buffer.alloc(32, 9));
const callSid = `CA${'7'.repeat(32)}`;

async function speak(line: VoiceLine | undefined) {
  const activities = createVoiceActivities({ client: {} as Client, taskQueue: 'unit', sealer, line });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR', () => {}) });
  return env.run(activities.speakPassphrase, {
    callSid,
    passphrase: sealer.seal('482913570164'),
    format: 'digits' as const,
  });
}

describe('speakPassphrase', () => {
  it('on a process that holds no stream for the call: CALL_NOT_HERE, non-retryable, naming the call only', async () => {
    for (const line of [undefined, { read: () => undefined }]) {
      const err = await speak(line).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({
        type: 'CALL_NOT_HERE',
        nonRetryable: true,
        message: `this process holds no media stream for call ${callSid} (it stopped, or the call moved on)`,
      });
    }
  });

  it('reads the opened passphrase on the line holding the call, and reports how it went', async () => {
    const calls: unknown[] = [];
    const result = await speak({
      read: (sid, passphrase, opts) => {
        calls.push({ sid, passphrase, format: opts.format });
        return Promise.resolve({ outcome: 'heard', readings: 1, heardAt: '2026-01-01T00:00:00.000Z' });
      },
    });
    expect(calls).toEqual([{ sid: callSid, passphrase: '482913570164', format: 'digits' }]);
    expect(result).toEqual({ outcome: 'heard', readings: 1, heardAt: '2026-01-01T00:00:00.000Z' });
  });
});
