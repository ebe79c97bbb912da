// The workflow's own check of its input (workflows/input.ts), run as a pure function: what a forged start from
// Temporal UI or the CLI is refused for before any activity runs. The runs here stand for how Temporal starts them:
// a first run, a continue-as-new, and the cron and retry runs that are also "continued from" the run before.
import { describe, expect, it } from 'vitest';
import { shareInputProblems, UNENCRYPTED_PAYLOAD, type RunFacts } from '../../workflows/input.js';
import type { ShareInput } from '../../workflows/types.js';

const shareId = 'shr_0000000000000000000000001';
const sealed = { sealed: 'v2', box: 'AAAA' };
const input: ShareInput = {
  shareId,
  ticketId: 'T-1',
  agent: 'agt_0123456789ab',
  secret: { value: sealed as never },
  ttlSeconds: 3600,
  link: { channel: 'sms', to: '+15550000001' },
  passphrase: { mode: 'none' },
  pollIntervals: [15, 30],
  smsStatusCallback: 'http://127.0.0.1:3000/twilio/sms-status?share=' + shareId,
  notesWebhook: false,
  mac: 'x'.repeat(43),
};
const first: RunFacts = { workflowId: `share-${shareId}`, continued: false, cron: false, attempt: 1 };
const resume = { state: 'awaiting_view', notes: [], polls: 0, runs: 1, sms: {}, handledFailures: [] };

describe('a hand-off workflow checks its input and its run', () => {
  it('accepts what the agent API starts, and a resume on a continue-as-new', () => {
    expect(shareInputProblems(input, first)).toEqual([]);
    expect(shareInputProblems({ ...input, resume }, { ...first, continued: true })).toEqual([]);
  });

  it.each<[string, unknown, RunFacts, RegExp]>([
    ['a plain-JSON start', UNENCRYPTED_PAYLOAD, first, /not encrypted with PAYLOAD_KEYS/],
    ['another workflow id', input, { ...first, workflowId: 'share-shr_attacker' }, /workflow id must be share-shr_0+1/],
    ['a resume on a first run', { ...input, resume }, first, /resume is accepted only on a run continued/],
    // Cron and retry runs are "continued from" the run before: without these two, a forged input whose first run
    // failed the signature check would carry a copied `resume` straight past it in its second run.
    ['a cron run with a resume', { ...input, resume }, { ...first, continued: true, cron: true }, /cron schedule/],
    [
      'a retried run with a resume',
      { ...input, resume },
      { ...first, continued: true, attempt: 2 },
      /retried as a whole/,
    ],
    ['a poll every millisecond', { ...input, pollIntervals: [0.001] }, first, /each at least 0\.25/],
    [
      'a passphrase delivery without a sealed passphrase',
      { ...input, passphrase: { mode: 'sms', to: '+1555' } },
      first,
      /needs a sealed secret\.passphrase/,
    ],
    [
      'an old unbound sealed value',
      { ...input, secret: { value: { sealed: 'v1', box: 'AAAA' } } },
      first,
      /secret\.value must be a sealed value/,
    ],
  ])('refuses %s', (_what, v, run, problem) => {
    expect(shareInputProblems(v, run).join('; ')).toMatch(problem);
  });
});
