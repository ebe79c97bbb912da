// What a shareSecret workflow accepts as its input, checked before it does anything. Temporal UI and the CLI can
// start a workflow with any input: the first activity refuses one the agent API did not sign
// (activities/create-secret.ts), and this check refuses what is not even shaped like a hand-off, a run under another
// workflow id, on a cron schedule or as a workflow retry, a `resume` on a first run (so a continued run's state comes
// only from continue-as-new of a run whose input passed that signature check), and a poll schedule below the floor,
// with a message naming each problem. Pure: it runs in the workflow sandbox.
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { MAX_POLL_SCHEDULE_LENGTH, MIN_POLL_INTERVAL_SECONDS } from './poll-schedule.js';
import { shareWorkflowId } from './ids.js';
import type { ShareInput } from './types.js';

/**
 * What the workers' payload codec hands over in place of a payload that was not encrypted with PAYLOAD_KEYS
 * (src/temporal/payload-codec.ts): every handler and this check treat it as the malformed input it is.
 */
export const UNENCRYPTED_PAYLOAD = { unencryptedPayloadRefused: true } as const;
/**
 * In place of a payload that claims to be encrypted and does not decrypt with PAYLOAD_KEYS (with a `reason`). On a
 * workflow's input it fails the workflow task rather than the workflow: it is also what a key dropped from
 * PAYLOAD_KEYS too early looks like, and the hand-off goes on once the key is back.
 */
export const UNDECRYPTABLE_PAYLOAD = { undecryptablePayloadRefused: true } as const;

export const SHARE_ID = /^shr_[0-9a-z]{20,40}$/;
/** src/http/auth.ts tokenId. */
export const AGENT_ID = /^agt_[0-9a-f]{12}$/;

// The shape checks of the workflows' inputs, signals and updates (here, workflows/handoff.ts, call-session.ts).
type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A non-empty string of at most `max` characters. */
export const isText = (v: unknown, max = 512): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
export const isSealed = (v: unknown): boolean =>
  isObj(v) && v.sealed === 'v2' && isText(v.box, 64_000) && Object.keys(v).length === 2;
/** `share-<shareId>` with a well-formed share id (workflows/ids.ts). */
export const isShareWorkflowId = (id: unknown): id is string =>
  typeof id === 'string' && id.startsWith(shareWorkflowId('')) && SHARE_ID.test(id.slice(shareWorkflowId('').length));

/** The run a workflow input arrives in (from workflowInfo()). */
export interface RunFacts {
  workflowId: string;
  /** Continued from an earlier run (continue-as-new, but also a cron or retry run). */
  continued: boolean;
  /** Started with a cron schedule. */
  cron: boolean;
  /** The workflow's own attempt (above 1 when started with a retry policy). */
  attempt: number;
}

/**
 * The problems with a workflow input, one line each; empty when it is a hand-off's input. A hand-off runs under
 * `share-<shareId>`, never on a cron schedule and never retried as a whole workflow (the agent API starts it with
 * neither): a cron or retry run is also "continued from" the run before, and would otherwise carry a `resume` in
 * past the first run's signature check.
 */
export function shareInputProblems(v: unknown, run: RunFacts): string[] {
  if (!isObj(v)) return ['the input is not an object'];
  if (v.unencryptedPayloadRefused === true) return ['the input was not encrypted with PAYLOAD_KEYS'];
  const p: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) p.push(what);
  };
  need(!run.cron, 'a hand-off does not run on a cron schedule');
  need(run.attempt === 1, 'a hand-off is not retried as a whole workflow');
  if (typeof v.shareId === 'string')
    need(run.workflowId === shareWorkflowId(v.shareId), `the workflow id must be ${shareWorkflowId(v.shareId)}`);
  need(typeof v.shareId === 'string' && SHARE_ID.test(v.shareId), 'shareId must be shr_ and 20-40 of [0-9a-z]');
  need(isText(v.ticketId, 128), 'ticketId must be a string of 1-128 characters');
  need(v.sessionId === undefined || isText(v.sessionId, 128), 'sessionId must be a string of 1-128 characters');
  need(typeof v.agent === 'string' && AGENT_ID.test(v.agent), 'agent must be an agent token id (agt_ and 12 hex)');
  need(isText(v.mac, 128), "mac must be the agent API's signature");
  const secret = v.secret;
  if (!isObj(secret)) p.push('secret must be an object');
  else {
    need(
      (secret.value === undefined) !== (secret.generate === undefined),
      'secret needs exactly one of value, generate',
    );
    need(secret.value === undefined || isSealed(secret.value), 'secret.value must be a sealed value');
    need(secret.generate === undefined || secret.generate === true, 'secret.generate must be true');
    need(secret.passphrase === undefined || isSealed(secret.passphrase), 'secret.passphrase must be a sealed value');
  }
  need(
    typeof v.ttlSeconds === 'number' && Number.isInteger(v.ttlSeconds) && v.ttlSeconds > 0,
    'ttlSeconds must be a positive whole number',
  );
  const link = v.link;
  need(
    isObj(link) && (link.channel === 'sms' || link.channel === 'email') && isText(link.to, 320),
    'link is malformed',
  );
  const pp = v.passphrase;
  const ppOk =
    isObj(pp) &&
    (pp.mode === 'none' ||
      (pp.mode === 'sms' && isText(pp.to, 320)) ||
      (pp.mode === 'voice' &&
        isText(pp.callSid, 64) &&
        (pp.format === 'digits' || pp.format === 'letters') &&
        (pp.fallbackTo === undefined || isText(pp.fallbackTo, 320))));
  need(ppOk, 'passphrase is malformed');
  if (ppOk && isObj(secret))
    need((pp.mode === 'none') === (secret.passphrase === undefined), 'a passphrase needs a sealed secret.passphrase');
  const polls = v.pollIntervals;
  need(
    Array.isArray(polls) &&
      polls.length >= 1 &&
      polls.length <= MAX_POLL_SCHEDULE_LENGTH &&
      polls.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= MIN_POLL_INTERVAL_SECONDS),
    `pollIntervals must be 1-${MAX_POLL_SCHEDULE_LENGTH} numbers of seconds, each at least ${MIN_POLL_INTERVAL_SECONDS}`,
  );
  need(isText(v.smsStatusCallback, 2048), 'smsStatusCallback must be a URL');
  need(typeof v.notesWebhook === 'boolean', 'notesWebhook must be true or false');
  need(
    v.callWaitMs === undefined || (typeof v.callWaitMs === 'number' && v.callWaitMs >= 0 && v.callWaitMs <= 3_600_000),
    'callWaitMs must be from 0 to 3,600,000',
  );
  if (v.resume !== undefined) {
    need(run.continued, 'resume is accepted only on a run continued from an earlier one');
    need(isObj(v.resume) && typeof v.resume.state === 'string' && Array.isArray(v.resume.notes), 'resume is malformed');
  }
  return p;
}

/** The input, or a failure that ends the workflow (not retried, nothing sent) naming every problem. */
export function checkShareInput(v: unknown): ShareInput {
  if (isObj(v) && v.undecryptablePayloadRefused === true)
    throw new Error(`the workflow input does not decrypt with PAYLOAD_KEYS (${String(v.reason)}); is a key missing?`);
  const info = workflowInfo();
  const problems = shareInputProblems(v, {
    workflowId: info.workflowId,
    continued: info.continuedFromExecutionRunId !== undefined,
    cron: Boolean(info.cronSchedule),
    attempt: info.attempt,
  });
  if (problems.length > 0)
    throw ApplicationFailure.create({
      type: 'INPUT_INVALID',
      nonRetryable: true,
      message: `not a hand-off's input (only the agent API starts hand-offs): ${problems.join('; ')}`,
    });
  return v as ShareInput;
}
