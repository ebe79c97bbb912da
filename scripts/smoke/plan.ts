// Which parts of `npm run smoke` the environment allows, and whether it is valid. Pure: reads the environment it is
// given, never process.env, and starts nothing.
//
// Credential groups (README.md, "Development" → "Smoke test against the real services"):
//   OTS       OTS_USERNAME, OTS_API_KEY             (optional OTS_BASE_URL, OTS_API_VERSION)
//   Twilio    TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM, and SMOKE_SMS_TO (smoke only: the number to text)
//   Deepgram  DEEPGRAM_API_KEY                      (optional DEEPGRAM_BASE_URL, DEEPGRAM_STT_MODEL)
// A group is set (every required variable), unset (none of its variables), or partial: an error naming what is
// missing. The variables are validated by src/config.ts's loadConfig, the service's own rules and messages, with
// the few variables smoke provides for itself filled in (`fillers`).
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig, type Config } from '../../src/config.js';
import { shareRequestSchema } from '../../src/http/schemas.js';

export type GroupName = 'ots' | 'twilio' | 'deepgram';

export interface Group {
  name: GroupName;
  title: string;
  /** All of these, or the group is not set. */
  required: readonly string[];
  /** Tuning; they do not make a group partial on their own (they have defaults). */
  optional: readonly string[];
  /** Optional variables that only make sense with the group's credentials: set alone, the group is partial. */
  marks: readonly string[];
  /** A hint for the skip message. */
  hint?: string;
}

export const GROUPS: readonly Group[] = [
  {
    name: 'ots',
    title: 'Onetime Secret',
    required: ['OTS_USERNAME', 'OTS_API_KEY'],
    optional: ['OTS_BASE_URL', 'OTS_API_VERSION'],
    marks: ['OTS_BASE_URL'],
  },
  {
    name: 'twilio',
    title: 'Twilio',
    required: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'SMOKE_SMS_TO'],
    optional: [],
    marks: [],
    hint: "SMOKE_SMS_TO is the phone smoke texts; with test credentials TWILIO_FROM=+15005550006, Twilio's magic number",
  },
  {
    name: 'deepgram',
    title: 'Deepgram',
    required: ['DEEPGRAM_API_KEY'],
    optional: ['DEEPGRAM_BASE_URL', 'DEEPGRAM_STT_MODEL'],
    marks: ['DEEPGRAM_BASE_URL'],
  },
];

/** Twilio's magic sender for test credentials (https://www.twilio.com/docs/iam/test-credentials). */
export const TWILIO_MAGIC_FROM = '+15005550006';

export type Env = Record<string, string | undefined>;

/** Empty counts as unset, as in src/config.ts. */
const isSet = (env: Env, name: string) => env[name] !== undefined && env[name] !== '';

export type GroupStatus = { state: 'set' } | { state: 'unset' } | { state: 'partial'; missing: string[] };

export function groupStatus(env: Env, g: Group): GroupStatus {
  const present = [...g.required, ...g.marks].filter((n) => isSet(env, n));
  if (present.length === 0) return { state: 'unset' };
  const missing = g.required.filter((n) => !isSet(env, n));
  return missing.length === 0 ? { state: 'set' } : { state: 'partial', missing };
}

/** "A, B and C" */
export function names(list: readonly string[]): string {
  return list.length <= 1 ? (list[0] ?? '') : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`;
}

/** The variables smoke makes up when the environment lacks them, so a dev machine needs only the credentials. */
export interface Fillers {
  /** The bearer token of smoke's own in-process service (always smoke's: the API is its own). */
  agentToken: string;
  /** Used only when the environment has none; with TEMPORAL_ADDRESS, PAYLOAD_KEYS must come from the environment. */
  payloadKeys: string;
  sealKey: string;
}

export function makeFillers(): Fillers {
  return {
    agentToken: `smoke-${randomBytes(24).toString('base64url')}`,
    payloadKeys: `smoke:${randomBytes(32).toString('base64')}`,
    sealKey: randomBytes(32).toString('base64'),
  };
}

export interface Plan {
  groups: Record<GroupName, GroupStatus>;
  /** The environment through loadConfig. Without OTS, Twilio's variables are not in it (see `twilio`). */
  config: Config;
  /** The Twilio group, validated (by loadConfig, and SMOKE_SMS_TO by the agent API's rule for link.to). */
  twilio?: { accountSid: string; authToken: string; from: string; to: string };
  /** Everything is unset: nothing to run. */
  nothing: boolean;
}

export type PlanResult = { ok: true; plan: Plan } | { ok: false; problems: { variable: string; message: string }[] };

/**
 * The environment smoke validates and runs with: the operator's, plus a loopback PUBLIC_BASE_URL when it has none
 * (smoke then does not wait for Twilio's status callbacks), smoke's own API token, and keys for the throwaway
 * Temporal when it has none. Notes webhooks are left out: a smoke hand-off is not a ticket.
 */
export function smokeEnv(env: Env, fillers: Fillers, localUrl: string): Env {
  const out: Env = { ...env };
  out.PUBLIC_BASE_URL ||= localUrl;
  out.AGENT_API_TOKENS = fillers.agentToken;
  out.SEAL_KEY ||= fillers.sealKey;
  if (!env.TEMPORAL_ADDRESS) out.PAYLOAD_KEYS ||= fillers.payloadKeys;
  return out;
}

/**
 * Validates `env` (already through smokeEnv) with loadConfig and the groups' completeness. A problem about a
 * variable of a group nobody set is not an error but a reason to skip that part (e.g. loadConfig's "OTS_USERNAME
 * must be set with live Twilio" when only Twilio is set: smoke then texts without a hand-off).
 */
export function makePlan(env: Env): PlanResult {
  const groups = Object.fromEntries(GROUPS.map((g) => [g.name, groupStatus(env, g)])) as Record<GroupName, GroupStatus>;
  const problems: { variable: string; message: string }[] = [];
  const add = (p: { variable: string; message: string }) => {
    if (!problems.some((q) => q.variable === p.variable)) problems.push(p);
  };
  const unsetVariables = new Set(
    GROUPS.filter((g) => groups[g.name].state === 'unset').flatMap((g) => [...g.required, ...g.optional]),
  );
  const validate = (e: Env): Config | undefined => {
    try {
      return loadConfig(e);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) if (!unsetVariables.has(p.variable)) add(p);
      return undefined;
    }
  };
  // loadConfig's own messages first (a partial Twilio group reads as it does for `npm start`); then what only smoke
  // needs (SMOKE_SMS_TO, and the Deepgram key without which DEEPGRAM_BASE_URL means nothing).
  let config = validate(env);
  // Twilio without OTS is refused by loadConfig (links would point at this machine): its variables are checked
  // above, then left out, and smoke only texts.
  if (!config && problems.length === 0) config = validate(withoutTwilioAlone(env, groups));
  for (const g of GROUPS) {
    const s = groups[g.name];
    if (s.state === 'partial')
      for (const variable of s.missing)
        add({ variable, message: `must be set too: the ${g.title} part of smoke needs ${names(g.required)}` });
  }
  const to = env.SMOKE_SMS_TO;
  if (groups.twilio.state === 'set' && to) {
    // The agent API's own rule for an SMS recipient (src/http/schemas.ts), on a request like the one smoke sends.
    const parsed = shareRequestSchema.safeParse({
      ticketId: 'SMOKE',
      secret: { value: 'x' },
      link: { channel: 'sms', to },
    });
    for (const issue of parsed.success ? [] : parsed.error.issues)
      if (issue.path.join('.') === 'link.to') add({ variable: 'SMOKE_SMS_TO', message: issue.message });
  }
  if (!config && problems.length === 0)
    add({
      variable: '(environment)',
      message: 'does not validate (src/config.ts refused it without naming a variable)',
    });
  if (problems.length > 0 || !config) return { ok: false, problems };
  const nothing = GROUPS.every((g) => groups[g.name].state === 'unset');
  const twilio =
    groups.twilio.state === 'set'
      ? {
          accountSid: env.TWILIO_ACCOUNT_SID!,
          authToken: env.TWILIO_AUTH_TOKEN!,
          from: env.TWILIO_FROM!,
          to: env.SMOKE_SMS_TO!,
        }
      : undefined;
  return { ok: true, plan: { groups, config, twilio, nothing } };
}

/** Twilio without OTS is refused by loadConfig (links would point at this machine); smoke then only texts. */
function withoutTwilioAlone(env: Env, groups: Record<GroupName, GroupStatus>): Env {
  if (groups.twilio.state !== 'set' || groups.ots.state === 'set') return env;
  const out = { ...env };
  for (const n of ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM']) delete out[n];
  return out;
}
