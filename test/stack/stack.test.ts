// The production topology (docker-compose.yml run natively by scripts/stack/: PostgreSQL, Temporal server with
// mutual TLS, the compose jobs, Temporal UI, the OTS emulator as its own process, two replicas of the service) started
// and broken: hand-offs across replicas, replicas SIGKILLed mid-watch and mid-create, a rolling restart under a
// steady stream of requests, Temporal and PostgreSQL going away, replicas with a wrong or no client certificate.
// Every scenario ends with the leak scan over every replica's log and every hand-off's history (test/stack/fleet.ts).
// Figures of each scenario go to .artifacts/stack-faults.json for the closing note and the README.
//
// Run by `npm run test:stack` (.ci/run, after npm test). It skips, saying why, only when the stack cannot be built
// here (no Go, no module proxy, no apt for PostgreSQL): scripts/stack/binaries.ts, StackUnavailableError.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StackUnavailableError } from '../../scripts/stack/binaries.js';
import { alive, launch, stop, tail, waitFor } from '../../scripts/stack/procs.js';
import { projectDir, Stack, stackUp } from '../../scripts/stack/stack.js';
import { postShare } from '../../scripts/lib/agent.js';
import { freePort } from '../../src/temporal/ports.js';
import { Fleet } from './fleet.js';

const RUN_DIR = join(projectDir, '.cache', 'stack', 'test-run');
let fleet: Fleet | undefined;
let unavailable: string | undefined;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  try {
    const stack = await stackUp({
      runDir: RUN_DIR,
      replicas: 2,
      // docker-compose.yml's own variables: quick first polls so opened links are seen within seconds (then every
      // 30 s, or 500 watches would keep the server busy), and an OTS budget
      // that is not what these tests are about.
      composeVars: { OTS_POLL_INTERVALS: '3,10,30', OTS_RATE_LIMIT_PER_MINUTE: '60000', LOG_LEVEL: 'info' },
      say: (line) => process.stderr.write(`[stack] ${line}\n`),
    });
    fleet = new Fleet(stack);
  } catch (err) {
    // .ci/run sets OTS_STACK_REQUIRED=1: there a stack that cannot be built is a failure, not a skip.
    if (!(err instanceof StackUnavailableError) || process.env.OTS_STACK_REQUIRED === '1') throw err;
    unavailable = err.message;
    process.stderr.write(`\n[stack] SKIPPED: the stack cannot run on this machine: ${unavailable}\n\n`);
  }
}, 900_000);

beforeEach(async () => {
  await fleet?.wholeStack();
}, 300_000);

afterAll(async () => {
  mkdirSync(join(projectDir, '.artifacts'), { recursive: true });
  writeFileSync(join(projectDir, '.artifacts', 'stack-faults.json'), `${JSON.stringify(figures, null, 2)}\n`);
  await fleet?.close();
  await fleet?.stack.down();
}, 180_000);

let n = 0;
const phone = () => `+1555${String(3_000_000 + ++n).padStart(7, '0')}`;
const secretValue = (tag: string) => `Stack-${tag}-${randomBytes(6).toString('hex')}!`;
const smsShare = (tag: string, to = phone()) => ({
  ticketId: `T-STACK-${tag}`,
  secret: { value: secretValue(tag) },
  link: { channel: 'sms', to },
});

/** Skips (with the reason) when the stack could not be built here; otherwise the running fleet. */
function theFleet(ctx: { skip: (note?: string) => void }): Fleet {
  if (!fleet) ctx.skip(unavailable ?? 'the stack did not start');
  return fleet!;
}

/** Opens the hand-off's link as the caller and waits for the hand-off to say `viewed`. */
async function openAndWaitViewed(f: Fleet, shareId: string, to: string, passphrase?: string) {
  const link = await f.linkSentTo(to);
  const opened = await f.open(link, passphrase);
  expect(opened.value).toBeTruthy();
  return f.waitFor(shareId, (s) => s.state === 'viewed', 60_000);
}

describe('hand-offs across the replicas', () => {
  it('through replica 1 and replica 2 alike: every one ends viewed', async (ctx) => {
    const f = theFleet(ctx);
    const started = Date.now();
    const made = await Promise.all(
      [0, 1, 0, 1].map(async (i, k) => {
        const body = smsShare(`AB-${k}`);
        const shareId = await f.share(i, body);
        return { shareId, to: body.link.to, secret: body.secret.value };
      }),
    );
    for (const h of made) await f.waitFor(h.shareId, (s) => s.state === 'awaiting_view');
    for (const h of made) {
      const link = await f.linkSentTo(h.to);
      const opened = await f.open(link);
      expect(opened.value).toBe(h.secret);
      await f.waitFor(h.shareId, (s) => s.state === 'viewed', 60_000);
    }
    figures.across_replicas = { handoffs: made.length, viewed: made.length, seconds: (Date.now() - started) / 1000 };
    await f.expectNoLeaks();
  });

  it('a voice hand-off asked of replica 1 while replica 2 holds the call: the caller opens it with what was read', async (ctx) => {
    const f = theFleet(ctx);
    // The caller's call streams to replica 2 (its sandbox Twilio places it there).
    const call = await f.api(1, 'POST', '/sandbox/calls', {});
    expect(call.status, call.text).toBe(201);
    const callSid: string = call.body.callSid;
    const to = phone();
    const body = { ...smsShare('VOICE', to), passphrase: 'voice', callSid };
    const shareId = await f.share(0, body);
    const delivered = await f.waitFor(
      shareId,
      (s) => s.passphrase.deliveredAt !== undefined || s.state === 'needs_technician',
      120_000,
    );
    expect(delivered.state, JSON.stringify(delivered.notes)).toBe('awaiting_view');
    // What the caller wrote down (the simulated caller's ear: the passphrase by design, not a leak).
    const heard = await request(`${f.url(1)}/sandbox/calls/${callSid}`, {
      headers: { authorization: `Bearer ${f.stack.state.agentToken}` },
    });
    const snapshot = (await heard.body.json()) as { wroteDown?: string };
    expect(snapshot.wroteDown).toMatch(/^\d{12}$/);
    f.secrets.push(snapshot.wroteDown!);
    await expect(f.open(await f.linkSentTo(to))).rejects.toThrow(); // no passphrase: refused
    const viewed = await openAndWaitViewed(f, shareId, to, snapshot.wroteDown);
    expect(viewed.state).toBe('viewed');
    figures.voice_across_replicas = { handoffs: 1, viewed: 1 };
    await f.expectNoLeaks();
  });
});

describe('a replica killed', () => {
  it('SIGKILL of a replica holding watches: the other sees every link opened', async (ctx) => {
    const f = theFleet(ctx);
    const made = await Promise.all(
      [0, 1, 0, 1, 0, 1].map(async (i, k) => {
        const body = smsShare(`WATCH-${k}`);
        return { shareId: await f.share(i, body), to: body.link.to };
      }),
    );
    for (const h of made) await f.waitFor(h.shareId, (s) => s.state === 'awaiting_view');
    await f.collectLinks();
    const killedAt = Date.now();
    await f.stack.stopReplica(0, 'SIGKILL');
    for (const h of made) await openAndWaitViewed(f, h.shareId, h.to);
    const recoveredS = (Date.now() - killedAt) / 1000;
    await f.stack.startReplica(0);
    figures.kill_watching_replica = {
      handoffs: made.length,
      viewed: made.length,
      lost: 0,
      seconds_to_all_viewed: recoveredS,
    };
    await f.expectNoLeaks();
  });

  it('SIGKILL of the replica creating secrets, OTS answers held back: the other finishes, one secret each', async (ctx) => {
    const f = theFleet(ctx);
    const control = f.stack.state.ots.controlUrl;
    const post = (path: string, body?: unknown) =>
      request(`${control}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
    const stats = async () =>
      (await (await request(`${control}/stats`)).body.json()) as { secretsCreated: number; stalled: number };
    // Only replica 1 runs while the creates are made, so it is the one creating them.
    await f.stack.stopReplica(1);
    const before = (await stats()).secretsCreated;
    const count = 4;
    expect((await post('/faults', { op: 'create', stall: {}, times: count })).status).toBe(201);
    const made = await Promise.all(
      Array.from({ length: count }, async (_, k) => {
        const body = smsShare(`CREATE-${k}`);
        return { shareId: await f.share(0, body), to: body.link.to };
      }),
    );
    // Every create has reached OTS (the secret exists there) and its answer is held back.
    await waitFor('the creates to reach OTS', async () => (await stats()).secretsCreated - before >= count, {
      timeoutMs: 60_000,
    });
    const killedAt = Date.now();
    await f.stack.stopReplica(0, 'SIGKILL');
    await post('/release');
    await f.stack.startReplica(1);
    for (const h of made) await f.waitFor(h.shareId, (s) => s.state === 'awaiting_view', 120_000);
    const recoveredS = (Date.now() - killedAt) / 1000;
    const created = (await stats()).secretsCreated - before;
    expect(created, 'exactly one secret per hand-off').toBe(count);
    for (const h of made) await openAndWaitViewed(f, h.shareId, h.to);
    await f.stack.startReplica(0);
    figures.kill_creating_replica = {
      handoffs: count,
      secrets_created: created,
      doubled: created - count,
      lost: 0,
      seconds_to_all_links_sent: recoveredS,
    };
    await f.expectNoLeaks();
  });
});

describe('a rolling restart under load', () => {
  it('500 share requests over a restart of each replica in turn: each answered 202 or 503 with Retry-After, none lost or doubled', async (ctx) => {
    const f = theFleet(ctx);
    const total = 500;
    const rollTicket = `T-STACK-ROLL-${randomBytes(3).toString('hex')}`;
    const otsCreated = async () =>
      ((await (await request(`${f.stack.state.ots.controlUrl}/stats`)).body.json()) as { secretsCreated: number })
        .secretsCreated;
    const otsBefore = await otsCreated();
    let restarting = true;
    const answers: { status: number; deferred: number; attempts: number; shareId?: string; to: string }[] = [];
    const statuses = new Map<number, number>();
    // The load balancer in front of the replicas: round robin over those whose /readyz said 200 last, and a
    // connection refused (a replica between its SIGTERM and its restart) tried on the next one.
    let rr = 0;
    let rerouted = 0;
    const ready = new Set(f.up());
    const watcher = (async () => {
      while (restarting) {
        for (const r of f.replicas) {
          const ok = await request(`${r.url}/readyz`, { headersTimeout: 2_000 })
            .then(async (res) => (await res.body.dump(), res.statusCode === 200))
            .catch(() => false);
          if (ok) ready.add(r.index);
          else ready.delete(r.index);
        }
        await new Promise((res) => setTimeout(res, 250));
      }
    })();
    const pick = () => {
      const up = [...ready];
      return up.length ? up[rr++ % up.length]! : rr++ % f.replicas.length;
    };
    const started = Date.now();
    const load = (async () => {
      const pending: Promise<void>[] = [];
      for (let k = 0; k < total; k++) {
        // One ticket for the run, counted in Temporal's visibility below. The default 24 h link: a 2 min one would
        // leave the create-recovery fingerprint (src/ots/create-recovery.ts) 1 or 2 possible values, and a create
        // whose outcome is unknown would rightly refuse to guess among dozens of candidates.
        const body = { ...smsShare(`ROLL-${k}`), ticketId: rollTicket };
        f.secrets.push(body.secret.value);
        pending.push(
          postShare(() => f.url(pick()), f.stack.state.agentToken, body, {
            idempotencyKey: `roll-${k}-${randomBytes(4).toString('hex')}`,
            maxWaitMs: 180_000,
            // The load balancer's part: a connection refused (no answer at all) is tried again elsewhere.
            retryConnectionErrors: true,
          }).then((r) => {
            f.responses.push(JSON.stringify(r.body));
            for (const st of r.statuses) statuses.set(st, (statuses.get(st) ?? 0) + 1);
            for (let x = 0; x < r.statuses.length; x++)
              if (r.statuses[x] === 503) expect(Number(r.retryAfter[x]), 'a 503 says when to retry').toBeGreaterThan(0);
            rerouted += r.connectionErrors;
            answers.push({
              status: r.status,
              deferred: r.deferred,
              attempts: r.attempts,
              shareId: r.body?.shareId,
              to: body.link.to,
            });
          }),
        );
        // A steady stream: the whole restart takes about a minute here.
        await new Promise((res) => setTimeout(res, 100));
      }
      await Promise.all(pending);
    })();
    const restarts: number[] = [];
    for (const i of [0, 1]) {
      const t = Date.now();
      await f.stack.stopReplica(i, 'SIGTERM');
      await f.stack.startReplica(i);
      restarts.push((Date.now() - t) / 1000);
    }
    await load;
    restarting = false;
    await watcher;
    const streamS = (Date.now() - started) / 1000;
    expect(
      [...statuses.keys()].filter((s) => s !== 202 && s !== 503 && s !== 429),
      JSON.stringify([...statuses]),
    ).toEqual([]);
    expect(
      answers.filter((a) => a.status !== 202),
      'every request accepted in the end',
    ).toEqual([]);
    const ids = answers.map((a) => a.shareId!);
    expect(new Set(ids).size, 'one hand-off per request').toBe(total);
    for (const id of ids) f.shareIds.add(id);
    // Every accepted hand-off completes: its link is sent (awaiting_view, or expired since), once. Counted in
    // Temporal's visibility (the ShareState search attribute) rather than by 500 status queries, which a worker
    // must answer one by one while it is busy with the same hand-offs.
    const client = await f.temporal();
    const count = async (q: string) => (await client.workflow.count(`TicketId = "${rollTicket}"${q}`)).count;
    let sent = 0;
    await waitFor(
      'every accepted hand-off to send its link',
      async () => (sent = await count(` AND ShareState IN ("awaiting_view", "expired", "viewed")`)) >= total,
      { timeoutMs: 400_000 },
    ).catch(async (err: Error) => {
      const states = ['creating', 'delivering', 'needs_technician', 'burned', 'cancelled'];
      const by = await Promise.all(states.map(async (st) => `${st} ${await count(` AND ShareState = "${st}"`)}`));
      throw new Error(`${err.message}: ${sent} of ${total} sent; the others: ${by.join(', ')}`);
    });
    expect(await count(''), 'one workflow per accepted request').toBe(total);
    const secrets = (await otsCreated()) - otsBefore;
    expect(secrets, 'one secret per hand-off').toBe(total);
    await f.collectLinks();
    const sms = answers.filter((a) => f.links.has(a.to)).length;
    figures.rolling_restart = {
      requests: total,
      accepted: answers.filter((a) => a.status === 202).length,
      answers: Object.fromEntries(statuses),
      deferred: answers.reduce((s, a) => s + a.deferred, 0),
      connections_refused_and_rerouted: rerouted,
      lost: 0,
      doubled: total - new Set(ids).size,
      stream_seconds: streamS,
      replica_restart_seconds: restarts,
      secrets_created: secrets,
      link_sms_seen: sms,
    };
    await f.expectNoLeaks();
  }, 900_000);
});

describe('Temporal and PostgreSQL going away', () => {
  for (const what of ['Temporal server', 'PostgreSQL'] as const) {
    it(`${what} down for 10 s: readiness says so, requests get 503 meanwhile, everything in flight completes after`, async (ctx) => {
      const f = theFleet(ctx);
      const made = await Promise.all(
        [0, 1, 0, 1].map(async (i, k) => {
          const body = smsShare(`${what === 'PostgreSQL' ? 'PG' : 'TS'}-${k}`);
          return { shareId: await f.share(i, body), to: body.link.to };
        }),
      );
      const wentAt = Date.now();
      if (what === 'PostgreSQL') await f.stack.stopPostgres();
      else await f.stack.stopTemporal();
      const meanwhile: number[] = [];
      let readyz: { status: number; text: string } | undefined;
      await waitFor(
        'every replica to report not ready',
        async () => {
          const r = await Promise.all(
            f.replicas.map((x) =>
              request(`${x.url}/readyz`).then(async (res) => ({ status: res.statusCode, text: await res.body.text() })),
            ),
          );
          readyz = r[0];
          return r.every((x) => x.status === 503);
        },
        { timeoutMs: 60_000 },
      );
      // A request meanwhile: 503 with Retry-After, nothing started.
      const body = smsShare('MEANWHILE');
      const res = await f.api(0, 'POST', '/v1/shares', body, {
        'idempotency-key': `meanwhile-${randomBytes(4).toString('hex')}`,
      });
      f.secrets.push(body.secret.value);
      meanwhile.push(res.status);
      expect(res.status, res.text).toBe(503);
      expect(Number(res.retryAfter)).toBeGreaterThan(0);
      const remaining = 10_000 - (Date.now() - wentAt);
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
      const backAt = Date.now();
      if (what === 'PostgreSQL') await f.stack.startPostgres();
      else await f.stack.startTemporal();
      await waitFor(
        'every replica ready again',
        async () =>
          (
            await Promise.all(
              f.replicas.map((x) => request(`${x.url}/readyz`).then(async (r) => (await r.body.dump(), r.statusCode))),
            )
          ).every((s) => s === 200),
        { timeoutMs: 180_000 },
      );
      const readyAgainS = (Date.now() - backAt) / 1000;
      for (const h of made) await f.waitFor(h.shareId, (s) => s.state === 'awaiting_view', 180_000);
      for (const h of made) await openAndWaitViewed(f, h.shareId, h.to);
      figures[what === 'PostgreSQL' ? 'postgres_down_10s' : 'temporal_down_10s'] = {
        handoffs: made.length,
        viewed: made.length,
        readyz_while_down: readyz,
        requests_meanwhile: meanwhile,
        seconds_to_ready_after_restart: readyAgainS,
        seconds_from_outage_to_all_viewed: (Date.now() - wentAt) / 1000,
      };
      await f.expectNoLeaks();
    }, 600_000);
  }
});

describe('mutual TLS', () => {
  for (const [what, change] of [
    ['a client certificate from another CA', 'other-ca'],
    ['no client certificate', 'none'],
  ] as const) {
    it(`a replica started with ${what} is refused by Temporal and says so at start-up`, async (ctx) => {
      const f = theFleet(ctx);
      const base = f.stack.replica(0).spec;
      const env: Record<string, string> = {
        ...base.env,
        PORT: String(await freePort()),
        DATA_DIR: join(f.stack.state.runDir, `rogue-${change}`),
      };
      if (change === 'none') {
        delete env.TEMPORAL_TLS_CLIENT_CERT_PATH;
        delete env.TEMPORAL_TLS_CLIENT_KEY_PATH;
      } else {
        const dir = join(f.stack.state.runDir, 'rogue-certs');
        await launchJob('sh', [join(projectDir, 'deploy/temporal/make-certs.sh'), dir, 'some other CA']);
        env.TEMPORAL_TLS_CLIENT_CERT_PATH = join(dir, 'ots-handoff.pem');
        env.TEMPORAL_TLS_CLIENT_KEY_PATH = join(dir, 'ots-handoff-key.pem');
      }
      const log = join(f.stack.state.runDir, 'logs', `rogue-${change}.log`);
      const started = Date.now();
      const pid = await launch({ ...base, name: `rogue-${change}`, env, log });
      await waitFor('the rogue replica to exit', async () => !alive(pid), { timeoutMs: 120_000 }).finally(() =>
        stop(pid, 'SIGKILL', 1_000),
      );
      const out = tail(log, 40);
      expect(out).toMatch(/Cannot reach Temporal at 127\.0\.0\.1:\d+ \((mutual )?TLS, server name temporal\)/);
      expect(out).toMatch(/check the server CA, the client certificate/);
      expect(out).not.toMatch(/ots-handoff is running/);
      await f.expectNoLeaks([log]);
      figures[`refused_${change}`] = {
        seconds_to_exit: (Date.now() - started) / 1000,
        message: out.split('\n').find((l) => /Cannot reach Temporal/.test(l)),
      };
    }, 180_000);
  }
});

async function launchJob(cmd: string, args: string[]) {
  const { execFileSync } = await import('node:child_process');
  execFileSync(cmd, args, { stdio: 'ignore' });
}

export type { Stack };
