// The embedded Temporal dev server: the run's shared server, restarts on one db file, start-up failures, and the
// guarantee that a server never outlives the process that started it.
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTemporalCli } from '../../src/temporal/cli.js';
import { startDevServer } from '../../src/temporal/dev-server.js';
import { freePort } from '../../src/temporal/ports.js';
import { registerSearchAttributes } from '../../src/temporal/register-search-attributes.js';
import { allSearchAttributes, CallSid, TicketId } from '../../workflows/search-attributes.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
// temporal.api.enums.v1.IndexedValueType, written out here so the test does not reuse the code under test.
const INDEXED_VALUE_TYPE = { KEYWORD: 2, DATETIME: 6 } as const;

async function customAttributes(connection: Connection): Promise<Record<string, number>> {
  const res = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
  return res.customAttributes as Record<string, number>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

let cliPath: string;
let dir: string;
beforeAll(async () => {
  cliPath = await ensureTemporalCli({ projectDir: repoRoot });
  dir = await mkdtemp(join(tmpdir(), 'dev-server-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the shared dev server', () => {
  it('is reachable at the injected address with every search attribute registered with its type', async () => {
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      expect((await connection.healthService.check({})).status).toBe(1 /* SERVING */);
      const registered = await customAttributes(connection);
      expect(allSearchAttributes).toHaveLength(5);
      for (const key of allSearchAttributes) {
        expect(registered[key.name], key.name).toBe(INDEXED_VALUE_TYPE[key.type]);
      }
    } finally {
      await connection.close();
    }
  });
});

describe('startDevServer', () => {
  it('keeps workflows across a stop and restart on the same db file, and registerSearchAttributes adds what --search-attribute no longer can', async () => {
    const dbFilename = join(dir, 'not', 'yet', 'there', 'temporal.db'); // its directory is created
    const workflowId = `persist-${randomUUID()}`;

    const first = await startDevServer({ cliPath, port: await freePort(), dbFilename, searchAttributes: [TicketId] });
    try {
      const connection = await Connection.connect({ address: first.address });
      // No worker: the execution simply stays RUNNING, which is all this test needs.
      await new Client({ connection }).workflow.start('shareSecret', { taskQueue: `nobody-${workflowId}`, workflowId });
      await connection.close();
    } finally {
      await first.stop();
    }
    expect(await first.exited).toBe(0); // stopped by SIGTERM, cleanly
    await first.stop(); // idempotent

    const second = await startDevServer({
      cliPath,
      port: await freePort(),
      dbFilename,
      searchAttributes: allSearchAttributes,
    });
    const connection = await Connection.connect({ address: second.address });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
      expect(description.status.name).toBe('RUNNING');

      // The namespace already existed, so the new --search-attribute flags were ignored (docs/temporal.md, "Dev
      // server").
      const before = await customAttributes(connection);
      expect(before[TicketId.name]).toBe(INDEXED_VALUE_TYPE.KEYWORD);
      expect(before[CallSid.name]).toBeUndefined();

      await registerSearchAttributes(connection, 'default', allSearchAttributes);
      const after = await customAttributes(connection);
      for (const key of allSearchAttributes) expect(after[key.name], key.name).toBe(INDEXED_VALUE_TYPE[key.type]);

      await registerSearchAttributes(connection, 'default', allSearchAttributes); // idempotent
      const clash = defineSearchAttributeKey(TicketId.name, SearchAttributeType.TEXT);
      await expect(registerSearchAttributes(connection, 'default', [clash])).rejects.toThrow(
        /TicketId exists in namespace "default" as KEYWORD, but this service needs TEXT/,
      );
    } finally {
      await connection.close();
      await second.stop();
    }
  });

  it('rejects with the command and the server output when it cannot start, instead of hanging', async () => {
    const port = await freePort();
    const squatter: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const started = Date.now();
    try {
      const error: Error = await startDevServer({
        cliPath,
        port,
        dbFilename: join(dir, 'taken.db'),
        readyTimeoutMs: 20_000,
      }).then(
        () => expect.fail('started on a taken port'),
        (err: Error) => err,
      );
      expect(error.message).toMatch(/exited with code \d+ before it was ready/);
      expect(error.message).toContain(`--port ${port}`);
      expect(error.message).toMatch(/address already in use/);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('does not outlive the Node process that started it, even when that process is SIGKILLed', async () => {
    const port = await freePort();
    const script = `
      import { startDevServer } from ${JSON.stringify(join(repoRoot, 'src/temporal/dev-server.ts'))};
      const server = await startDevServer({ cliPath: ${JSON.stringify(cliPath)}, port: ${port} });
      console.log('ready ' + server.pid);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const groupId = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /ready (\d+)/.exec(String(chunk));
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    expect(await portOpen(port)).toBe(true);

    child.kill('SIGKILL');
    // The wrapper leads a process group holding the server; once no live process is left in it (zombies do not
    // count: they hold no port or file), nothing was orphaned.
    const groupAlive = async () => {
      for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(pgrp) === groupId && state !== 'Z') return true;
      }
      return false;
    };
    await expect.poll(groupAlive, { timeout: 15_000, interval: 100 }).toBe(false);
    expect(await portOpen(port)).toBe(false);
  });
});
