// npm run demo: scripted hand-offs against the running service (npm start in another terminal), printing each
// step. Scene 1: the link by SMS (the SMS in the sandbox outbox, the caller opening the link, the notes, the final
// state). Scene 2, voice: a simulated caller is on a call, the link goes by SMS and the passphrase is read over the
// call; the caller writes it down and opens the secret with it. `npm run demo -- sms` or `-- voice` runs one scene.
// Talks only to the service's own URL (DEMO_URL, default http://127.0.0.1:3000).
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { callWorkflowId } from '../workflows/ids.js';

const base = (process.env.DEMO_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`).replace(/\/+$/, '');
const token =
  process.env.DEMO_TOKEN ??
  process.env.AGENT_API_TOKENS?.split(',')[0]?.trim() ??
  (() => {
    try {
      return JSON.parse(readFileSync(new URL('../.data/sandbox-secrets.json', import.meta.url), 'utf8'))
        .agentToken as string;
    } catch {
      return undefined;
    }
  })();
if (!token) {
  console.error(
    'No API token: start the service with `npm start` first (it writes the sandbox token), or set DEMO_TOKEN.',
  );
  process.exit(1);
}

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await request(`${base}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${method} ${path} -> ${res.statusCode} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const step = (n: number, title: string) => console.log(`\n${n}. ${title}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(shareId: string, states: string[], timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await call('GET', `/v1/shares/${shareId}`);
    if (states.includes(s.state)) return s;
    if (Date.now() > deadline) throw new Error(`still ${s.state} after ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

async function main() {
  try {
    await call('GET', '/healthz');
  } catch {
    console.error(`The service is not answering at ${base}. Start it with \`npm start\` in another terminal.`);
    process.exit(1);
  }
  const scene = process.argv[2];
  if (scene !== 'voice') await smsScene();
  if (scene !== 'sms') await voiceScene();
}

async function reveal(link: string, passphrase?: string) {
  const m = link.match(/^(https?:\/\/\S+)\/secret\/([0-9a-z]+)/);
  if (!m) throw new Error('no link in the SMS');
  return request(`${m[1]}/api/v1/secret/${m[2]}`, {
    method: 'POST',
    ...(passphrase
      ? {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ passphrase }).toString(),
        }
      : {}),
  });
}

async function smsScene() {
  console.log('\n=== Scene 1: a one-time link by SMS ===');
  const phone = '+15551230001';
  const req = {
    ticketId: `DEMO-${Date.now().toString(36)}`,
    secret: { generate: true },
    ttl: '1h',
    link: { channel: 'sms', to: phone },
  };
  step(1, `The voice agent asks for a hand-off: POST /v1/shares`);
  console.log(`   ${JSON.stringify(req)}`);
  const started = await call('POST', '/v1/shares', req);
  console.log(`   -> 202 ${JSON.stringify(started)}`);

  step(2, 'The workflow creates the Onetime Secret and texts the link');
  const waiting = await until(started.shareId, ['awaiting_view', 'needs_technician']);
  console.log(`   state: ${waiting.state}, link to ${waiting.link.to}, expires ${waiting.expiresAt}`);
  const outbox: { to: string; body: string; status: string }[] = await call('GET', '/sandbox/outbox');
  const sms = [...outbox].reverse().find((m) => m.to === phone);
  if (!sms) throw new Error('no SMS in the sandbox outbox: is Twilio live? The demo needs the sandbox.');
  console.log(`   SMS to ${sms.to} (${sms.status}): "${sms.body}"`);

  step(3, 'The caller taps the link and reveals the secret (once)');
  const link = sms.body.match(/https?:\/\/\S+\/secret\/[0-9a-z]+/)?.[0] ?? '';
  const revealed = await reveal(link);
  const value = (await revealed.body.json()) as { value?: string };
  console.log(`   revealed a ${value.value?.length ?? 0}-character secret (not printed); opening it again:`);
  const again = await reveal(link);
  console.log(`   -> ${again.statusCode} ${await again.body.text()}`);

  step(4, 'The workflow sees the link was opened and writes the ticket notes');
  const done = await until(started.shareId, ['viewed', 'expired', 'burned', 'needs_technician']);
  for (const n of done.notes) console.log(`   [${n.at}] ${n.text}${n.followUp ? '  (follow-up)' : ''}`);

  step(5, `Final state: ${done.state}${done.viewedAt ? ` (opened at ${done.viewedAt})` : ''}`);
  console.log(
    `   Inspect it in Temporal UI: http://localhost:${process.env.TEMPORAL_UI_PORT ?? 8233}/namespaces/default/workflows/${started.workflowId}`,
  );
}

async function voiceScene() {
  console.log('\n=== Scene 2: the link by SMS, the passphrase read over the live call ===');
  step(1, 'A caller is on the phone: the sandbox places a simulated Twilio call (POST /sandbox/calls)');
  // The caller presses 2 ("got it") after the first reading, as a caller who wrote it down would.
  const placed = await call('POST', '/sandbox/calls', {
    from: '+15551230002',
    script: [{ after: 'prompt-repeat', press: '2' }],
  });
  const callSid: string = placed.callSid;
  console.log(
    `   call ${callSid}: signed voice webhook -> TwiML <Connect><Stream> -> signed WebSocket, 20 ms μ-law frames`,
  );
  for (let i = 0; (await call('GET', `/sandbox/calls/${callSid}`)).status === 'ringing'; i++) {
    if (i > 100) throw new Error('the simulated call never connected');
    await sleep(100);
  }

  const phone = '+15551230002';
  const req = {
    ticketId: `DEMO-V-${Date.now().toString(36)}`,
    secret: { generate: true },
    ttl: '1h',
    link: { channel: 'sms', to: phone },
    passphrase: 'voice',
    callSid,
  };
  step(2, 'The voice agent asks for a hand-off with the passphrase read over this call: POST /v1/shares');
  console.log(`   ${JSON.stringify(req)}`);
  const started = await call('POST', '/v1/shares', req);
  console.log(`   -> 202 ${JSON.stringify(started)}`);

  step(3, 'The link goes by SMS; the passphrase is spoken from recorded clips (it never leaves as text)');
  process.stdout.write('   the caller listens ');
  let s: any;
  for (const deadline = Date.now() + 120_000; ;) {
    s = await call('GET', `/v1/shares/${started.shareId}`);
    if (s.passphrase.deliveredAt || s.state === 'needs_technician' || Date.now() > deadline) break;
    process.stdout.write('.');
    await sleep(1000);
  }
  console.log('');
  if (!s.passphrase.deliveredAt)
    throw new Error(`the passphrase was not read (state ${s.state}); see the notes: ${JSON.stringify(s.notes)}`);
  const c = await call('GET', `/sandbox/calls/${callSid}`);
  console.log(`   the caller heard (clips recognised by fingerprint): ${spoken(c.heard)}`);
  console.log(`   pressed ${c.pressed.join(', ') || 'nothing'}, and wrote down: ${c.wroteDown}`);

  step(4, 'The caller opens the link from the SMS with the passphrase they heard');
  const outbox: { to: string; body: string }[] = await call('GET', '/sandbox/outbox');
  const link = [...outbox]
    .reverse()
    .find((m) => m.to === phone)
    ?.body.match(/https?:\/\/\S+\/secret\/[0-9a-z]+/)?.[0];
  if (!link) throw new Error('no link SMS in the sandbox outbox');
  const wrong = await reveal(link, '000000000000' === c.wroteDown ? '111111111111' : '000000000000');
  console.log(`   with a wrong passphrase -> ${wrong.statusCode} ${await wrong.body.text()}`);
  const right = await reveal(link, c.wroteDown);
  const value = (await right.body.json()) as { value?: string };
  console.log(
    `   with the heard passphrase -> ${right.statusCode}, a ${value.value?.length ?? 0}-character secret (not printed)`,
  );

  step(5, 'The notes the technician sees');
  const done = await until(started.shareId, ['viewed', 'expired', 'burned', 'needs_technician']);
  for (const n of done.notes) console.log(`   [${n.at}] ${n.text}${n.followUp ? '  (follow-up)' : ''}`);
  console.log(`   Final state: ${done.state}. Call session: workflow ${callWorkflowId(callSid)} in Temporal UI.`);
}

/** Clip names as the caller hears them: prompts in brackets, characters in their groups of three. */
function spoken(clips: string[]): string {
  const out: string[] = [];
  let group = '';
  for (const clip of clips) {
    if (clip.length === 1) {
      group += clip;
      if (group.length < 3) continue;
      out.push(group);
    } else out.push(`[${clip.replace(/^prompt-/, '')}]`);
    group = '';
  }
  return out.join(' ');
}

main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
