// npm run demo: a scripted hand-off against the running service (npm start in another terminal), printing each
// step: the request, the SMS in the sandbox outbox, the caller opening the link, the notes, the final state.
// Talks only to the service's own URL (DEMO_URL, default http://127.0.0.1:3000).
import { readFileSync } from 'node:fs';
import { request } from 'undici';

const base = (process.env.DEMO_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`).replace(/\/+$/, '');
const token =
  process.env.DEMO_TOKEN ??
  process.env.AGENT_API_TOKENS?.split(',')[0]?.trim() ??
  (() => {
    try {
      return JSON.parse(readFileSync(new URL('../.data/sandbox-secrets.json', import.meta.url), 'utf8')).agentToken as string;
    } catch {
      return undefined;
    }
  })();
if (!token) {
  console.error('No API token: start the service with `npm start` first (it writes the sandbox token), or set DEMO_TOKEN.');
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
  const phone = '+15551230001';
  const req = { ticketId: `DEMO-${Date.now().toString(36)}`, secret: { generate: true }, ttl: '1h', link: { channel: 'sms', to: phone } };
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
  const link = sms.body.match(/https?:\/\/\S+\/secret\/([0-9a-z]+)/);
  if (!link) throw new Error('no link in the SMS');
  const revealed = await request(`${link[0].replace(/\/secret\/.*/, '')}/api/v1/secret/${link[1]}`, { method: 'POST' });
  const value = (await revealed.body.json()) as { value?: string };
  console.log(`   revealed a ${value.value?.length ?? 0}-character secret (not printed); opening it again:`);
  const again = await request(`${link[0].replace(/\/secret\/.*/, '')}/api/v1/secret/${link[1]}`, { method: 'POST' });
  console.log(`   -> ${again.statusCode} ${await again.body.text()}`);

  step(4, 'The workflow sees the link was opened and writes the ticket notes');
  const done = await until(started.shareId, ['viewed', 'expired', 'burned', 'needs_technician']);
  for (const n of done.notes) console.log(`   [${n.at}] ${n.text}${n.followUp ? '  (follow-up)' : ''}`);

  step(5, `Final state: ${done.state}${done.viewedAt ? ` (opened at ${done.viewedAt})` : ''}`);
  console.log(`   Inspect it in Temporal UI: http://localhost:${process.env.TEMPORAL_UI_PORT ?? 8233}/namespaces/default/workflows/${started.workflowId}`);
}

main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
