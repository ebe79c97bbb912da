// Hand-offs that were running when a new version came in must replay under it: a workflow change that adds or
// moves a command without `patched(…)` fails every running hand-off's next task (and every query of an ended one)
// with a non-determinism error. These histories were recorded with the version before the live window (commit
// 6207028: shareSecret run by test/helpers/time-skipping.ts on a test run's dev server, polling every second, with
// the PAYLOAD_KEYS in test/fixtures/replay/key.json) and replay here under the current workflows. Their payloads are
// decrypted first: what is replayed is the workflow code, not the codec.
import { readFile } from 'node:fs/promises';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { payloadsIn } from '../../src/temporal/history-payloads.js';
import { EncryptionCodec, parsePayloadKeys } from '../../src/temporal/payload-codec.js';

const fixture = (name: string) => readFile(new URL(`../fixtures/replay/${name}`, import.meta.url), 'utf8');

describe('histories of the previous version replay under the current workflows', () => {
  it.each([
    ['a hand-off in its watch loop (a few checks, never opened)', 'watching-6207028.json'],
    ['a hand-off that ended viewed (as a query of an ended hand-off replays it)', 'viewed-6207028.json'],
  ])('%s', async (_what, file) => {
    const { payloadKeys, workflowIds } = JSON.parse(await fixture('key.json')) as {
      payloadKeys: string;
      workflowIds: Record<string, string>;
    };
    const history = historyFromJSON(JSON.parse(await fixture(file)));
    const codec = new EncryptionCodec(parsePayloadKeys(payloadKeys));
    for (const p of payloadsIn(history)) Object.assign(p, (await codec.decode([p as never]))[0]);
    expect(history.events?.length).toBeGreaterThan(10);
    await Worker.runReplayHistory(
      { workflowBundle: { code: await readFile(inject('workflowBundlePath'), 'utf8') } },
      history,
      // The workflow checks that its id is its hand-off's (workflows/input.ts).
      workflowIds[file],
    );
  });
});
