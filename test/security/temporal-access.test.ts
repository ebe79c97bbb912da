// The trust boundary against everyone who can reach Temporal (README.md, "Confidentiality and the threat model"),
// run as attacks against the real service and the real dev server:
//  - a technician with Temporal UI, the codec server (so they can decode history and encode payloads) and the right
//    to start workflows and send signals: they copy a hand-off's sealed values into workflows of their own, with
//    their own phone number, a continued-run state, a poll schedule of their own, or the victim's exact input under
//    another workflow id;
//  - anyone who can reach the Temporal frontend but has no codec: a plain-JSON workflow started with the temporal
//    CLI, a plain `burn` signal;
//  - a second agent token: reading and burning another agent's hand-off through the API.
// Each attack fails: no Onetime Secret is made for it, nothing is texted to the attacker, the victim's hand-off goes
// on untouched; and a leak scan of everything the scenario wrote ends the file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NativeConnection, Worker } from '@temporalio/worker';
import { handoffContext, SealError } from '../../src/seal.js';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { shareWorkflowId } from '../../workflows/ids.js';
import type { ShareInput } from '../../workflows/types.js';
import { decodeThroughCodecServer } from '../helpers/history.js';
import { startTestService, TEST_CODEC_TOKEN, type TestService } from '../helpers/service.js';

const ATTACKER_PHONE = '+15559990000';
const AGENT_A = `agent-a-${randomBytes(12).toString('hex')}`;
const AGENT_B = `agent-b-${randomBytes(12).toString('hex')}`;

/** The technician's codec: the service's own codec server, over HTTP with their codec token (as Temporal UI does). */
class CodecServerCodec implements PayloadCodec {
  constructor(private readonly baseUrl: string) {}
  private async call(op: 'encode' | 'decode', payloads: Payload[]): Promise<Payload[]> {
    const res = await request(`${this.baseUrl}/codec/${op}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_CODEC_TOKEN}`,
        'content-type': 'application/json',
        'x-namespace': 'default',
      },
      body: JSON.stringify({ payloads: payloads.map(payloadToJSON) }),
    });
    const body = (await res.body.json()) as { payloads: Parameters<typeof JSONToPayload>[0][] };
    return body.payloads.map(JSONToPayload);
  }
  encode(p: Payload[]) {
    return this.call('encode', p);
  }
  decode(p: Payload[]) {
    return this.call('decode', p);
  }
}

let svc: TestService;
let technician: Client;
let connection: Connection;
const root = fileURLToPath(new URL('../..', import.meta.url));
const forgedIds: string[] = [];

async function temporalCli(...args: string[]): Promise<string> {
  const cli = await ensureTemporalCli({ projectDir: root, env: process.env, log: () => {} });
  const address = inject('temporalAddress');
  return (await promisify(execFile)(cli, [...args, '--address', address], { maxBuffer: 16 * 1024 * 1024 })).stdout;
}

/**
 * A hand-off's input as the technician reads it in Temporal UI (decoded through the codec server), without the state
 * a continued run carries (the watch continues as new every few polls on the test server).
 */
async function decodedInput(shareId: string): Promise<ShareInput> {
  for (const text of await svc.decodedHistory(shareId)) {
    try {
      const v = JSON.parse(text) as ShareInput;
      if (v?.shareId === shareId && typeof v.mac === 'string') return { ...v, resume: undefined };
    } catch {
      /* not JSON */
    }
  }
  throw new Error(`no input for ${shareId}`);
}

/** The created secret (sealed link and receipt) as decoded in Temporal UI: createSecret's result, or a resume's. */
async function decodedCreated(shareId: string): Promise<unknown> {
  for (const text of await svc.decodedHistory(shareId)) {
    try {
      const v = JSON.parse(text) as { receipt?: unknown; link?: unknown; resume?: { created?: unknown } };
      if (v?.receipt && v.link) return v;
      if (v?.resume?.created) return v.resume.created;
    } catch {
      /* not JSON */
    }
  }
  throw new Error(`no created secret for ${shareId}`);
}

/** Starts `input` as a shareSecret on the service's task queue, through the codec, as the technician can. */
async function startForged(input: unknown, workflowId = `share-shr_${randomBytes(12).toString('hex')}`) {
  forgedIds.push(workflowId);
  return technician.workflow.start('shareSecret', {
    taskQueue: svc.config.TEMPORAL_TASK_QUEUE,
    workflowId,
    args: [input],
  });
}

/** How a forged workflow ended: its status and, decoded, its failure. */
async function outcome(workflowId: string) {
  const handle = technician.workflow.getHandle(workflowId);
  const err = await handle.result().then(
    () => undefined,
    (e: { cause?: { type?: string; message?: string } }) => e.cause,
  );
  return { status: (await handle.describe()).status.name, type: err?.type, message: err?.message };
}

const smsToAttacker = () => svc.twilioFake!.outbox().filter((m) => m.to === ATTACKER_PHONE);

describe('the trust boundary against everyone who can reach Temporal', () => {
  let smsVictim: { shareId: string; secret: string };
  let emailVictim: { shareId: string; secret: string };
  /** The target of the plain signals (its history then holds the attacker's plain payloads, scanned separately). */
  let signalVictim: { shareId: string; secret: string };
  let voiceVictim = '';
  let garbageVictim: { shareId: string; secret: string };
  const victims = () => [smsVictim.shareId, emailVictim.shareId];

  beforeAll(async () => {
    svc = await startTestService({ AGENT_API_TOKENS: `${AGENT_A},${AGENT_B}` });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    technician = new Client({ connection, dataConverter: { payloadCodecs: [new CodecServerCodec(svc.url)] } });
    /** A hand-off started through the API with a fresh secret, as the victim's agent does. */
    const victim = async (
      n: number,
      link: { channel: 'sms' | 'email'; to: string },
      extra: object = {},
    ): Promise<{ shareId: string; secret: string }> => {
      const secret = `Victim-${n}-${randomBytes(6).toString('hex')}`;
      const res = await svc.api('POST', '/v1/shares', {
        ticketId: `T-VICTIM-${n}`,
        secret: { value: secret },
        ttl: '24h',
        link,
        ...extra,
      });
      expect(res.status).toBe(202);
      return { shareId: res.body.shareId as string, secret };
    };
    smsVictim = await victim(1, { channel: 'sms', to: '+15550401001' });
    emailVictim = await victim(
      2,
      { channel: 'email', to: 'victim@example.org' },
      { passphrase: 'sms', passphraseTo: '+15550401002' },
    );
    signalVictim = await victim(3, { channel: 'sms', to: '+15550401003' });
    garbageVictim = await victim(4, { channel: 'sms', to: '+15550401005' });
    for (const id of [...victims(), signalVictim.shareId, garbageVictim.shareId])
      await svc.waitForState(id, 'awaiting_view', 30_000);
  });
  afterAll(async () => {
    for (const id of forgedIds)
      await technician?.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    await connection?.close();
    await svc?.stop();
  });

  describe('a technician with codec access who can start workflows', () => {
    const secretsBefore = () => svc.otsEmulator!.secretCount();

    it("copies the victim's sealed secret into a hand-off of their own, to their own phone: refused before OTS", async () => {
      const victim = await decodedInput(smsVictim.shareId);
      const before = secretsBefore();
      const ownId = () => `shr_${randomBytes(12).toString('hex')}`;
      const toAttacker = { channel: 'sms', to: ATTACKER_PHONE };
      const passphraseBox = (await decodedInput(emailVictim.shareId)).secret.passphrase;
      // Under a share id of their own (so the workflow's own checks pass), the first activity finds the input
      // unsigned; under any other workflow id the workflow refuses it before any activity runs.
      const attempts: [unknown, string | undefined, string][] = [
        // a hand-off id of their own, with the victim's box
        [{ ...victim, shareId: ownId(), link: toAttacker }, 'own', 'INPUT_NOT_AUTHENTIC'],
        // the victim's email hand-off's passphrase box as the secret, sent by SMS to the attacker
        [
          { ...victim, shareId: ownId(), secret: { value: passphraseBox }, link: toAttacker },
          'own',
          'INPUT_NOT_AUTHENTIC',
        ],
        // the same hand-off, retargeted, beside the running one
        [{ ...victim, link: toAttacker }, undefined, 'INPUT_INVALID'],
      ];
      for (const [forged, where, type] of attempts) {
        const id = where === 'own' ? shareWorkflowId((forged as ShareInput).shareId) : undefined;
        const handle = await startForged(forged, id);
        expect(await outcome(handle.workflowId)).toMatchObject({ status: 'FAILED', type });
      }
      expect(secretsBefore()).toBe(before);
      expect(smsToAttacker()).toEqual([]);
    });

    it("replays the victim's exact, signed input under another workflow id: refused", async () => {
      const before = secretsBefore();
      const handle = await startForged(await decodedInput(smsVictim.shareId));
      const o = await outcome(handle.workflowId);
      expect(o).toMatchObject({ status: 'FAILED', type: 'INPUT_INVALID' });
      expect(o.message).toMatch(/the workflow id must be share-shr_/);
      expect(secretsBefore()).toBe(before);
    });

    it("carries the victim's created secret (sealed link) into a first run as `resume`: refused before any send", async () => {
      const victim = await decodedInput(smsVictim.shareId);
      const created = await decodedCreated(smsVictim.shareId);
      const handle = await startForged({
        ...victim,
        link: { channel: 'sms', to: ATTACKER_PHONE },
        resume: {
          state: 'delivering',
          created,
          polls: 0,
          notes: [],
          runs: 1,
          sms: {},
          handledFailures: [],
        },
      });
      const o = await outcome(handle.workflowId);
      expect(o).toMatchObject({ status: 'FAILED', type: 'INPUT_INVALID' });
      expect(o.message).toMatch(/resume is accepted only on a run continued from an earlier one/);
      expect(smsToAttacker()).toEqual([]);
    });

    it('sets a poll schedule of its own (every millisecond): refused', async () => {
      const victim = await decodedInput(smsVictim.shareId);
      const handle = await startForged({ ...victim, pollIntervals: [0.001] });
      const o = await outcome(handle.workflowId);
      expect(o).toMatchObject({ status: 'FAILED', type: 'INPUT_INVALID' });
      expect(o.message).toMatch(/pollIntervals must be .* each at least 0\.25/);
    });

    it("runs a worker of their own on a voice queue and points a voice hand-off's reading at it: only a sealed box arrives, and it opens for no one else", async () => {
      // A voice hand-off waiting for its call's stream (no call ever streams here).
      const callSid = `CA${randomBytes(16).toString('hex')}`;
      const res = await svc.api('POST', '/v1/shares', {
        ticketId: 'T-VICTIM-VOICE',
        secret: { value: `Victim-Voice-${randomBytes(6).toString('hex')}` },
        link: { channel: 'sms', to: '+15550401004' },
        passphrase: 'voice',
        callSid,
      });
      expect(res.status).toBe(202);
      const shareId: string = res.body.shareId;
      voiceVictim = shareId;
      await svc.waitFor(shareId, (x) => x.state === 'delivering' && x.link.sentAt !== undefined, 30_000);
      // The technician's worker, with the codec server as its codec, on a queue named like the deployment's own.
      const rogueQueue = `${svc.config.TEMPORAL_TASK_QUEUE}-voice-rogue`;
      const received: unknown[] = [];
      const worker = await Worker.create({
        connection: await NativeConnection.connect({ address: inject('temporalAddress') }),
        taskQueue: rogueQueue,
        dataConverter: { payloadCodecs: [new CodecServerCodec(svc.url)] },
        activities: {
          speakPassphrase: async (args: unknown) => {
            received.push(args);
            return { outcome: 'heard', readings: 1 };
          },
        },
      });
      await worker.runUntil(async () => {
        await technician.workflow
          .getHandle(shareWorkflowId(shareId))
          .signal('callLine', { live: true, taskQueue: rogueQueue, streamSid: 'MZrogue' });
        const deadline = Date.now() + 15_000;
        while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      });
      // What the rogue worker got: the binding (recipients, already visible in the input) and a sealed box.
      expect(received).toHaveLength(1);
      const got = received[0] as { binding: unknown; passphrase: { sealed: string; box: string } };
      expect(got.passphrase.sealed).toBe('v2');
      const passphrase = await svc.passphraseOf(shareId);
      expect(JSON.stringify(received)).not.toContain(passphrase);
      // The box opens only for this hand-off's own call: not for another CallSid.
      const input = await decodedInput(shareId);
      expect(() =>
        svc.sealer.open(
          got.passphrase as never,
          handoffContext('passphrase', {
            ...input,
            passphrase: { ...input.passphrase, callSid: `CA${'0'.repeat(32)}` } as never,
          }),
        ),
      ).toThrow(SealError);
    });

    it('points a hand-off at a voice queue outside the deployment with a callLine signal: ignored', async () => {
      await technician.workflow
        .getHandle(shareWorkflowId(smsVictim.shareId))
        .signal('callLine', { live: true, taskQueue: 'attacker-queue', streamSid: 'MZ0' });
      expect((await svc.status(smsVictim.shareId)).state).toBe('awaiting_view');
    });
  });

  describe('anyone who reaches the Temporal frontend without the codec', () => {
    it('starts a hand-off with a plain JSON input from the temporal CLI: the workers refuse it unread', async () => {
      const before = svc.otsEmulator!.secretCount();
      const workflowId = `share-shr_${randomBytes(12).toString('hex')}`;
      forgedIds.push(workflowId);
      const plain: Partial<ShareInput> = {
        shareId: workflowId.slice('share-'.length),
        ticketId: 'T-PLAIN',
        agent: 'agt_000000000000',
        secret: { generate: true },
        ttlSeconds: 3600,
        link: { channel: 'sms', to: ATTACKER_PHONE },
        passphrase: { mode: 'none' },
        pollIntervals: [15],
        smsStatusCallback: 'http://127.0.0.1:9/x',
        notesWebhook: false,
        mac: 'x',
      };
      await temporalCli(
        'workflow',
        'start',
        '--type',
        'shareSecret',
        '--task-queue',
        svc.config.TEMPORAL_TASK_QUEUE,
        '--workflow-id',
        workflowId,
        '--input',
        JSON.stringify(plain),
      );
      const o = await outcome(workflowId);
      expect(o).toMatchObject({ status: 'FAILED', type: 'INPUT_INVALID' });
      expect(o.message).toMatch(/the input was not encrypted with PAYLOAD_KEYS/);
      expect(svc.otsEmulator!.secretCount()).toBe(before);
      expect(smsToAttacker()).toEqual([]);
    });

    it('sends a plain `burn` signal (with and without input) and one dressed as encrypted: the hand-off goes on, its secret unburned', async () => {
      const id = shareWorkflowId(signalVictim.shareId);
      const ns = ['--workflow-id', id, '--name', 'burn'];
      await temporalCli('workflow', 'signal', ...ns);
      await temporalCli('workflow', 'signal', ...ns, '--input', '{"by":"mallory"}');
      // A payload that claims to be encrypted but does not decrypt (an unknown key id), to a hand-off of its own (the
      // codec server rightly refuses to decode its history afterwards): it must not wedge the workflow (a failed
      // decode would fail every workflow task, and the link could never be burned).
      await temporalCli(
        'workflow',
        'signal',
        '--workflow-id',
        shareWorkflowId(garbageVictim.shareId),
        '--name',
        'burn',
        '--input',
        '"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"',
        '--input-meta',
        'encoding=binary/encrypted',
        '--input-meta',
        'encryption-key-id=mallory',
      );
      // Plenty of polls (0.3 s) for a burn request to have been acted on.
      await new Promise((r) => setTimeout(r, 2_000));
      const s = await svc.status(signalVictim.shareId);
      expect(s.state).toBe('awaiting_view');
      expect(JSON.stringify(s.notes)).not.toMatch(/burn/i);
      expect((await svc.status(garbageVictim.shareId)).state).toBe('awaiting_view');
      // Still alive: its owner burns it through the API.
      const burned = await svc.api('POST', `/v1/shares/${garbageVictim.shareId}/burn`);
      expect(burned.status).toBe(200);
      expect(burned.body.state).toBe('burned');
    });
  });

  describe('a second agent token', () => {
    it("cannot read or burn another agent's hand-off; the owner can, and the note names its token id", async () => {
      const asB = { authorization: `Bearer ${AGENT_B}` };
      const read = await svc.api('GET', `/v1/shares/${smsVictim.shareId}`, undefined, asB);
      expect(read.status).toBe(404);
      const burn = await svc.api('POST', `/v1/shares/${smsVictim.shareId}/burn`, undefined, asB);
      expect(burn.status).toBe(404);
      expect((await svc.status(smsVictim.shareId)).state).toBe('awaiting_view');

      const own = await svc.api('GET', `/v1/shares/${smsVictim.shareId}`);
      expect(own.status).toBe(200);
      const burned = await svc.api('POST', `/v1/shares/${smsVictim.shareId}/burn`);
      expect(burned.status).toBe(200);
      expect(burned.body.state).toBe('burned');
      expect(burned.body.agent).toMatch(/^agt_[0-9a-f]{12}$/);
      expect(JSON.stringify(burned.body)).not.toContain(AGENT_A);
      expect(burned.body.notes.at(-1).text).toBe(
        `Secret burned at the request of agent API (${burned.body.agent}); the link no longer opens.`,
      );
    });
  });

  it('leak scan: no secret, passphrase, link or receipt key in anything the scenario wrote', async () => {
    const forgedHistory: string[] = [];
    for (const id of [...forgedIds, shareWorkflowId(signalVictim.shareId)]) {
      const raw = await svc.temporal.client.workflow.getHandle(id).fetchHistory();
      forgedHistory.push(...(await decodeThroughCodecServer(svc.url, TEST_CODEC_TOKEN, raw)));
    }
    const passphrase = await svc.passphraseOf(emailVictim.shareId);
    const voicePassphrase = await svc.passphraseOf(voiceVictim);
    const receiptKeys = [...svc.otsEmulator!.store.receipts.keys()];
    await svc.expectNoLeaksIn({
      secrets: [
        smsVictim.secret,
        emailVictim.secret,
        signalVictim.secret,
        garbageVictim.secret,
        passphrase,
        voicePassphrase,
        ...receiptKeys,
      ],
      shareIds: [...victims(), voiceVictim],
      allowSms: new Set(
        svc
          .twilioFake!.outbox()
          .filter((m) => m.to === '+15550401002')
          .map((m) => m.sid),
      ),
      links: [svc.linkSentTo('+15550401001')],
      extra: { history: forgedHistory },
    });
  });
});
