// npm run smoke: one hand-off against the real services, for a maintainer or an operator before a deployment
// (README.md, "Development"). Parts by credential group (scripts/smoke/plan.ts):
//   OTS          the service's OTS client: API version, create → receipt → recent → burn → receipt
//   hand-off     OTS + Twilio: the service in this process, POST /v1/shares, link SMS, burn through the API,
//                and Onetime Secret's receipt says burned
//   SMS          Twilio without OTS: one plain SMS through the service's sender
//   Deepgram     the service's listener hears committed caller-word clips
// What is not set is skipped, naming the missing variables; with nothing set it says so and exits 0. Everything it
// makes is burned before it exits, on success, on failure and on Ctrl-C.
// Exit codes: 0 passed (or nothing to run), 1 a step failed or something could not be burned, 2 invalid
// configuration (nothing was run), 130 interrupted (after burning).
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../src/config.js';
import { Interrupt, Interrupted, Ledger } from './ledger.js';
import { errorText, Output } from './output.js';
import { GROUPS, makeFillers, makePlan, names, smokeEnv, type Env, type GroupName } from './plan.js';

const HELP = `npm run smoke: one hand-off against the real services, everything it makes burned before it exits.

Credentials, by group (each group all or nothing; what is not set is skipped):
  Onetime Secret  OTS_USERNAME, OTS_API_KEY            optional: OTS_BASE_URL, OTS_API_VERSION (auto|v2|v1)
  Twilio          TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM, SMOKE_SMS_TO (the number smoke texts)
                  test credentials: TWILIO_FROM=+15005550006 (Twilio's magic number; nothing is delivered)
  Deepgram        DEEPGRAM_API_KEY                     optional: DEEPGRAM_BASE_URL, DEEPGRAM_STT_MODEL
A hand-off needs Onetime Secret and Twilio. The service's other variables apply as for npm start (README.md,
"Configuration"); smoke makes up AGENT_API_TOKENS, and SEAL_KEY and PAYLOAD_KEYS when unset, and starts a throwaway
Temporal dev server unless TEMPORAL_ADDRESS is set. With PUBLIC_BASE_URL set it listens on HOST:PORT and waits for
Twilio's delivery report there.

Exit codes: 0 passed or nothing to run, 1 a step failed (or something could not be burned), 2 invalid
configuration, 130 interrupted.`;

type PartName = 'OTS' | 'hand-off' | 'SMS' | 'Deepgram';
interface PartResult {
  part: PartName;
  outcome: 'passed' | 'failed' | 'skipped' | 'interrupted';
  why?: string;
}

const out = new Output();
const interrupt = new Interrupt();
const ledger = new Ledger();
const teardown: (() => Promise<void>)[] = [];
const logs: string[] = [];

async function main(argv: string[], env: Env): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out.say(HELP);
    return 0;
  }
  const fillers = makeFillers();
  // Validated as the service would run it; the port is chosen later (scripts/smoke/handoff-part.ts).
  const planned = makePlan(smokeEnv(env, fillers, `http://127.0.0.1:${env.PORT || 3000}`));
  if (!planned.ok) {
    out.warn(new ConfigError(planned.problems).message);
    out.warn('Smoke test not run: fix the variables above (npm run smoke -- --help lists them).');
    return 2;
  }
  const plan = planned.plan;
  withhold(env, fillers);
  if (plan.nothing) {
    out.say('Smoke test skipped: no credentials are set, so nothing was run against the real services.');
    out.say('Set one or more of these groups (npm run smoke -- --help):');
    for (const g of GROUPS)
      out.say(
        `  ${g.title}: ${names(g.required)}${g.optional.length ? ` (optional ${names(g.optional)})` : ''}${g.hint ? `; ${g.hint}` : ''}`,
      );
    out.say('A hand-off needs Onetime Secret and Twilio.');
    return 0;
  }

  const runId = randomBytes(4).toString('hex');
  out.say(
    `Smoke test ${runId}: the real services, one step a line; secrets, passphrases, links and keys are never printed, and everything made is burned before exit (Ctrl-C too).`,
  );
  const results: PartResult[] = [];
  const set = (g: GroupName) => plan.groups[g].state === 'set';
  const missing = (...gs: GroupName[]) =>
    names(GROUPS.filter((g) => gs.includes(g.name) && !set(g.name)).flatMap((g) => g.required));

  // Modules are loaded only for the parts that run (the service's whole graph takes seconds to load): the skip path
  // stays quick.
  const { makeOtsClient } = await import('./ots-part.js');
  const ots = set('ots') ? makeOtsClient(plan.config) : undefined;

  const run = async (part: PartName, body: () => Promise<void>) => {
    if (interrupt.signal) return void results.push({ part, outcome: 'skipped', why: `${interrupt.signal} before it` });
    try {
      await body();
      results.push({ part, outcome: 'passed' });
    } catch (err) {
      if (err instanceof Interrupted) {
        results.push({ part, outcome: 'interrupted', why: err.signal });
        return;
      }
      const step = (err as { step?: string }).step ?? part;
      results.push({ part, outcome: 'failed', why: `${step}: ${errorText(err)}` });
      out.warn(`FAILED ${step}: ${errorText(err)}`);
    }
  };
  const skip = (part: PartName, why: string) => {
    results.push({ part, outcome: 'skipped', why });
    out.say(`Skipped: ${part} (${why})`);
  };

  if (ots) {
    const { runOtsPart } = await import('./ots-part.js');
    await run('OTS', () => runOtsPart({ out, ledger, interrupt, ots, runId }));
  } else skip('OTS', `${missing('ots')} not set`);

  if (ots && plan.twilio) {
    if (results.some((r) => r.part === 'OTS' && r.outcome === 'failed')) skip('hand-off', 'the OTS part failed');
    else {
      const { runHandoffPart } = await import('./handoff-part.js');
      await run('hand-off', () =>
        runHandoffPart({ out, ledger, interrupt, env, fillers, ots, runId, twilio: plan.twilio!, teardown, logs }),
      );
    }
  } else if (plan.twilio) {
    skip('hand-off', `it needs Onetime Secret too: ${missing('ots')} not set`);
    const { runSmsPart } = await import('./sms-part.js');
    await run('SMS', () => runSmsPart({ out, interrupt, twilio: plan.twilio! }));
  } else skip('hand-off', `${missing('ots', 'twilio')} not set`);

  if (set('deepgram')) {
    const { runDeepgramPart } = await import('./deepgram-part.js');
    await run('Deepgram', () => runDeepgramPart({ out, interrupt, config: plan.config }));
  } else skip('Deepgram', `${missing('deepgram')} not set`);

  const burnedAll = await finish();
  return summary(results, burnedAll);
}

/** Burns what is left (the service still up for its burn API), then stops what the run started, newest first. */
async function finish(): Promise<boolean> {
  const burnedAll = await ledger.burnAll(out);
  for (const close of teardown.reverse()) await close().catch((err: unknown) => out.warn(`Stop: ${errorText(err)}`));
  teardown.length = 0;
  return burnedAll;
}

function summary(results: PartResult[], burnedAll: boolean): number {
  const failed = results.filter((r) => r.outcome === 'failed');
  if (failed.length && logs.length) {
    out.warn('The service and Temporal logged (warnings and errors, redacted):');
    for (const line of logs.slice(-15)) out.warn(`  ${logLine(line)}`);
  }
  const parts = results.map((r) => `${r.part} ${r.outcome}`).join(', ');
  const made = `${ledger.made} made, ${ledger.burned} burned`;
  if (interrupt.signal) {
    out.warn(`Smoke test interrupted by ${interrupt.signal}: ${parts}; ${made}.`);
    return 130;
  }
  if (failed.length || !burnedAll) {
    out.warn(
      `Smoke test FAILED: ${parts}; ${made}.` +
        (failed.length ? ` Failed: ${failed.map((f) => f.why).join('; ')}` : '') +
        (burnedAll ? '' : ' Something could not be burned (see Cleanup above).'),
    );
    return 1;
  }
  out.say(`Smoke test passed: ${parts}; ${made}.`);
  return 0;
}

/** A pino JSON line as "level msg (err)": the service's logs carry no secrets (src/log.ts redacts the rest). */
function logLine(line: string): string {
  try {
    const o = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string }; component?: string };
    const level = (o.level ?? 0) >= 50 ? 'error' : 'warn';
    return `${level} ${o.component ? `[${o.component}] ` : ''}${o.msg ?? ''}${o.err?.message ? ` (${o.err.message})` : ''}`;
  } catch {
    return line.slice(0, 300);
  }
}

/** Every credential and key the environment holds, and smoke's own: never printed, whatever a library says. */
function withhold(env: Env, fillers: ReturnType<typeof makeFillers>): void {
  const lists = ['AGENT_API_TOKENS', 'CODEC_TOKENS', 'PAYLOAD_KEYS', 'NOTES_WEBHOOK_SECRET', 'TWILIO_WEBHOOK_KEYS'];
  const single = [
    'OTS_API_KEY',
    'TWILIO_AUTH_TOKEN',
    'DEEPGRAM_API_KEY',
    'SEAL_KEY',
    'TEMPORAL_API_KEY',
    'TEMPORAL_TLS_CLIENT_KEY_DATA',
  ];
  for (const n of single) out.sensitive(env[n]);
  // Not a credential, but personal: printed only as +1555…0001.
  out.sensitive(env.SMOKE_SMS_TO);
  for (const n of lists)
    for (const item of (env[n] ?? '').split(','))
      out.sensitive(item.trim(), item.includes(':') ? item.slice(item.indexOf(':') + 1).trim() : undefined);
  out.sensitive(fillers.agentToken, fillers.sealKey, fillers.payloadKeys, fillers.payloadKeys.split(':')[1]);
}

// One Ctrl-C in a terminal reaches this process more than once: the terminal signals the whole foreground group
// (npm, tsx and this process), and npm and tsx each pass it on to their child as well. Signals within this window
// of the first are that same Ctrl-C; a later one is the user pressing it again.
const SAME_CTRL_C_MS = 1_500;
let firstSignalAt: number | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      out.warn(`${signal}: stopping; burning what was made first (${signal} again to exit at once) …`);
      interrupt.trigger(signal);
      return;
    }
    if (Date.now() - firstSignalAt < SAME_CTRL_C_MS) return;
    const live = ledger.items.filter((m) => !m.burned);
    out.warn(
      `${signal} again: exiting now.` +
        (live.length
          ? ` NOT burned: ${live.map((m) => `${m.what} (stops opening at ${m.expiresAt.toISOString()})`).join(', ')}.`
          : ''),
    );
    process.exit(130);
  });
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  async (err: unknown) => {
    out.warn(`Smoke test crashed: ${errorText(err)}`);
    await finish().catch(() => undefined);
    process.exit(1);
  },
);
