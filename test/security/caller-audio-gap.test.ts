// The attack, end to end on the real service: callers read the passphrase back aloud during the reading and in the
// repeat window after it, and that audio must never reach Deepgram (docs/voice.md, "Passphrase audio"). A simulated
// caller (Twilio's side: 20 ms inbound frames all the time, its words as recorded clips) speaks before the reading,
// during it and in the repeat window; the sandbox's Deepgram fake, reached over its real WebSocket protocol, counts
// the audio bytes it receives and records what it transcribed. The unit-level version with frame-exact timing and
// key presses is test/unit/voice-caller-audio-gap.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callQuery } from '../../workflows/messages.js';
import { callWorkflowId } from '../../workflows/ids.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { shortClipSetDir, until } from '../helpers/voice.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({
    VOICE_CLIPS_DIR: shortClipSetDir(),
    VOICE_PACE: '0.5',
    VOICE_REPEAT_WINDOW_SECONDS: '2',
    VOICE_CALL_WAIT_SECONDS: '5',
  });
});
afterAll(async () => {
  await svc?.stop();
});

describe('caller audio during a passphrase reading', () => {
  it('never reaches Deepgram from the reading until its repeat window closes; before the reading it does', async () => {
    const fake = svc.deepgramFake!;
    const before = fake.connections().length;
    const call = svc.simulatedCalls!.place({
      script: [
        { after: 'prompt-again', say: 'caller-say-again' }, // while the passphrase plays
        { after: 'prompt-repeat', afterMs: 300, say: 'caller-repeat' }, // in the repeat window
      ],
    });
    const callSid = call.callSid;
    const session = svc.temporal.client.workflow.getHandle(callWorkflowId(callSid));
    await until(
      'the call to stream',
      async () => (await session.query(callQuery).catch(() => undefined))?.state === 'streaming',
      10_000,
      100,
    );
    // This call's listen connections (a reconnect would add one).
    const mine = () => fake.connections().slice(before);
    const bytes = () => mine().reduce((n, c) => n + c.audioBytes, 0);
    const transcripts = () => mine().flatMap((c) => c.transcripts);
    // Before any reading, once the listener is connected (audio before that is dropped), the caller's words are
    // heard (and acted on by no one): the pipeline below does transcribe this caller.
    await until('the Deepgram listener to connect', () =>
      svc.logs.some((l) => l.includes('"deepgram.connected"') && l.includes(callSid)),
    );
    call.say('caller-got-it');
    await until('Deepgram to hear the caller before the reading', () => transcripts().includes('Got it.'), 10_000);

    const share = await svc.api('POST', '/v1/shares', {
      ticketId: 'T-AUDIO-GAP',
      secret: { value: `Audio-Gap-${Date.now().toString(36)}` },
      link: { channel: 'sms', to: '+15550499001' },
      passphrase: 'voice',
      callSid,
    });
    expect(share.status, share.text).toBe(202);
    // Deep inside the reading ("Again." has played): whatever was sent before it has long arrived.
    await until('the first half of the reading', () =>
      svc.simulatedCalls!.get(callSid)!.heard.includes('prompt-again'),
    );
    const inReading = bytes();
    const done = await svc.waitFor(
      share.body.shareId,
      (s) => s.passphrase.deliveredAt !== undefined || s.state === 'needs_technician',
      60_000,
    );
    expect(done.notes.map((x) => x.text).join('\n')).toMatch(/\(1 reading;/); // "repeat" by voice is not heard
    expect(svc.simulatedCalls!.get(callSid)!.heard).toContain('prompt-goodbye');

    // From "Again." through the repeat window and the goodbye to the end of the stream: not one byte.
    expect(bytes()).toBe(inReading);
    expect(transcripts()).toEqual(['Got it.']);
    expect(mine().length).toBeGreaterThan(0);
  }, 90_000);
});
