// The voice activities' own decisions, run in a mock activity context (no server): speakPassphrase on a process
// that holds no media stream for the call fails at once, non-retryable, as CALL_NOT_HERE (the workflow then applies
// the fallback rule: test/workflows/share-voice.test.ts).
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createVoiceActivities, type VoiceLine } from '../../activities/voice.js';
import { createSealer, handoffContext } from '../../src/seal.js';
import type { Binding } from '../../workflows/types.js';

const sealer = createSealer(Buffer.alloc(32, 9));
const callSid = `CA${'7'.repeat(32)}`;

const binding: Binding = {
  shareId: 'shr_0000000000000000000000001',
  link: { channel: 'sms', to: '+15550000001' },
  passphrase: { mode: 'voice', callSid, format: 'digits' },
};

async function speak(line: VoiceLine | undefined, readWith: Binding = binding) {
  const activities = createVoiceActivities({ client: {} as Client, taskQueue: 'unit', sealer, line });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR', () => {}) });
  return env.run(activities.speakPassphrase, {
    binding: readWith,
    passphrase: sealer.seal('482913570164', handoffContext('passphrase', binding)),
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

  it('does not read a passphrase sealed for another call into this one', async () => {
    const calls: unknown[] = [];
    const other = {
      ...binding,
      passphrase: { mode: 'voice' as const, callSid: `CA${'8'.repeat(32)}`, format: 'digits' as const },
    };
    const err = await speak(
      {
        read: (sid) => {
          calls.push(sid);
          return Promise.resolve({ outcome: 'heard', readings: 1 });
        },
      },
      other,
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'SEAL_INVALID', nonRetryable: true });
    expect(calls).toEqual([]);
  });
});
