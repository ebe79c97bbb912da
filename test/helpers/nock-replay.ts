// nock as the OTS client tests use it (test/unit/ots-client.test.ts for v1, ots-client-v2.test.ts for v2): no
// network but loopback, every expected request made, and one test per fixture with a last test proving none was
// skipped.
import nock from 'nock';
import { afterAll, afterEach, beforeAll, it } from 'vitest';
import type { Fixture } from './ots-fixtures.js';

/** Installs the file's hooks. */
export function strictNock(): void {
  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    if (pending.length) throw new Error(`expected requests were not made: ${pending.join(', ')}`);
  });
  afterAll(() => {
    nock.enableNetConnect();
  });
}

/** `replays(name, title, fn)` registers one test per fixture; `handled` is what was registered. */
export function fixtureTests(find: (name: string) => Fixture) {
  const handled = new Set<string>();
  function replays(name: string, title: string, fn: (f: Fixture) => Promise<void>) {
    handled.add(name);
    it(`${name}: ${title}`, async () => {
      await fn(find(name));
    });
  }
  return { handled, replays };
}
