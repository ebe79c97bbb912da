// The stack tests' view of a running stack (scripts/stack/stack.ts): the agent's calls to any replica, the caller's
// phone (the link SMS in whichever replica's sandbox Twilio sent it) and browser (the OTS API), a technician's
// Temporal client (mutual TLS with the namespace job's certificate; histories as stored, and decoded through a
// replica's codec server), and the leak scan over every replica's log and every hand-off's history.
import { Client, Connection } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { expect } from 'vitest';
import { OtsClient } from '../../src/ots/client.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import type { ShareStatus } from '../../workflows/types.js';
import { alive } from '../../scripts/stack/procs.js';
import type { Stack } from '../../scripts/stack/stack.js';
import { decodeThroughCodecServer, expectOnlyCiphertext } from '../helpers/history.js';
import { expectNoLeaks } from '../helpers/leak-scan.js';
import { historyText } from '../helpers/service.js';

export interface ApiAnswer {
  status: number;
  body: any;
  text: string;
  retryAfter?: string;
}

export class Fleet {
  readonly ots: OtsClient;
  /** Every secret value and passphrase the tests used: none may appear in anything the stack wrote. */
  readonly secrets: string[] = [];
  /** Every agent API answer, for the leak scan. */
  readonly responses: string[] = [];
  /** Every hand-off started, for the history scan; each history is scanned once, at the end of its scenario. */
  readonly shareIds = new Set<string>();
  readonly #scanned = new Set<string>();
  /** Link SMS bodies seen so far, by phone number (a killed replica's sandbox outbox dies with it). */
  readonly links = new Map<string, string>();
  #temporal?: Client;

  constructor(readonly stack: Stack) {
    const s = stack.state;
    this.ots = new OtsClient({ baseUrl: s.ots.baseUrl, username: s.ots.username, apiKey: s.ots.apiKey });
  }

  get replicas() {
    return this.stack.state.replicas;
  }
  url(i: number): string {
    return this.stack.replica(i).url;
  }
  /** The replicas whose process is running. */
  up(): number[] {
    return this.replicas.filter((r) => alive(r.pid)).map((r) => r.index);
  }

  async temporal(): Promise<Client> {
    if (!this.#temporal) {
      const t = this.stack.state.clientTls;
      const connection = await Connection.connect({
        address: t.address,
        tls: {
          serverNameOverride: t.serverName,
          serverRootCACertificate: readFileSync(t.ca),
          clientCertPair: { crt: readFileSync(t.cert), key: readFileSync(t.key) },
        },
      });
      this.#temporal = new Client({ connection, namespace: 'default' });
    }
    return this.#temporal;
  }

  async api(
    i: number,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    const res = await request(`${this.url(i)}${path}`, {
      method: method as 'GET',
      headers: {
        authorization: `Bearer ${this.stack.state.agentToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    const text = await res.body.text();
    this.responses.push(text);
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const retryAfter = res.headers['retry-after'];
    return { status: res.statusCode, body: parsed, text, retryAfter: retryAfter ? String(retryAfter) : undefined };
  }

  /** POST /v1/shares through replica `i`; the secret is remembered for the leak scan. Expects 202. */
  async share(i: number, body: { secret: { value: string } } & Record<string, unknown>, key?: string) {
    this.secrets.push(body.secret.value);
    const res = await this.api(i, 'POST', '/v1/shares', body, key ? { 'idempotency-key': key } : {});
    expect(res.status, res.text).toBe(202);
    this.shareIds.add(res.body.shareId);
    return res.body.shareId as string;
  }

  /** The hand-off's status through any running replica. */
  async status(shareId: string): Promise<ShareStatus> {
    let last: Error | undefined;
    for (const i of this.up()) {
      const res = await this.api(i, 'GET', `/v1/shares/${shareId}`).catch((e: Error) => ((last = e), undefined));
      if (res?.status === 200) return res.body as ShareStatus;
      if (res) last = new Error(`GET /v1/shares/${shareId} answered ${res.status}: ${res.text}`);
    }
    throw last ?? new Error('no replica is running');
  }

  async waitFor(shareId: string, ok: (s: ShareStatus) => boolean, timeoutMs = 120_000): Promise<ShareStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ShareStatus | undefined;
    for (;;) {
      last = await this.status(shareId).catch(() => last);
      if (last && ok(last)) return last;
      if (Date.now() > deadline)
        throw new Error(`hand-off ${shareId} timed out; last status: ${JSON.stringify(last)?.slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Reads every running replica's sandbox outbox and remembers the link SMS bodies. */
  async collectLinks(): Promise<void> {
    for (const i of this.up()) {
      // Behind the agent token: with a live OTS the outbox shows real links (src/http/app.ts).
      const res = await request(`${this.url(i)}/sandbox/outbox`, {
        headers: { authorization: `Bearer ${this.stack.state.agentToken}` },
      }).catch(() => undefined);
      if (!res || res.statusCode !== 200) {
        await res?.body.dump();
        continue;
      }
      for (const m of (await res.body.json()) as { to: string; body: string }[]) {
        const link = m.body.match(/https?:\/\/\S+\/secret\/[0-9a-z]+/)?.[0];
        if (link) this.links.set(m.to, link);
      }
    }
  }

  /** The link texted to `to`, from whichever replica sent it. */
  async linkSentTo(to: string): Promise<string> {
    if (!this.links.has(to)) await this.collectLinks();
    const link = this.links.get(to);
    if (!link) throw new Error(`no link SMS to ${to} in any running replica's outbox`);
    return link;
  }

  /** Opens the link as the caller's browser does (the OTS API), with the passphrase the caller heard. */
  async open(link: string, passphrase?: string) {
    return this.ots.retrieveSecret(link.split('/secret/')[1]!, passphrase);
  }

  /**
   * The leak scan: no secret or passphrase used so far appears in any replica's log (all of it, across restarts),
   * the OTS emulator's, any agent API answer, or the history of any hand-off of the scenario (as stored: only
   * ciphertext; decoded through the codec server: the secret stays sealed). The Temporal server's own log is not
   * scanned: it holds no payload, and under the faults it grows to tens of megabytes of stack traces.
   */
  async expectNoLeaks(extraLogs: string[] = []): Promise<void> {
    const logs = [...this.replicas.map((r) => r.spec.log), ...extraLogs].map((file) => readFileSync(file, 'utf8'));
    logs.push(readFileSync(this.stack.state.ots.spec.log, 'utf8'));
    const client = await this.temporal();
    const decoder = this.up()[0];
    const history: string[] = [];
    for (const shareId of this.shareIds) {
      if (this.#scanned.has(shareId)) continue;
      this.#scanned.add(shareId);
      const raw = await client.workflow.getHandle(shareWorkflowId(shareId)).fetchHistory();
      expectOnlyCiphertext(raw);
      history.push(historyText(raw));
      if (decoder !== undefined)
        history.push(...(await decodeThroughCodecServer(this.url(decoder), this.stack.state.codecToken, raw)));
    }
    expectNoLeaks(this.secrets, {
      logs,
      responses: this.responses,
      notes: [],
      smsBodies: [...this.links.values()],
      history,
    });
  }

  /** Starts whatever an earlier scenario left stopped (a failed one stops half-way): each starts from a whole stack. */
  async wholeStack(): Promise<void> {
    const st = this.stack;
    if (!alive(st.state.postgres.pid)) await st.startPostgres();
    if (!alive(st.state.temporal.pid)) await st.startTemporal();
    await Promise.all(this.replicas.filter((r) => !alive(r.pid)).map((r) => st.startReplica(r.index)));
  }

  async close(): Promise<void> {
    await this.#temporal?.connection.close();
  }
}
