// The Onetime Secret server's request/response pairs, taken from onetimesecret/onetimesecret's own code: v1 from its
// v1 code and contract spec (test/fixtures/ots-fixtures.json), v2 from the code that builds each v2 answer
// (test/fixtures/ots-v2-fixtures.json, each fixture naming its `source`). Each file's `_meta.source` names the
// commit and files (docs/onetime-secret.md).
import recordedV1 from '../fixtures/ots-fixtures.json' with { type: 'json' };
import recordedV2 from '../fixtures/ots-v2-fixtures.json' with { type: 'json' };

export interface Fixture {
  name: string;
  /** v2 only: the server file(s) the answer comes from. */
  source?: string;
  request: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body_form?: Record<string, string>;
    body_json?: Record<string, unknown>;
  };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

export const fixtures = recordedV1.fixtures as unknown as Fixture[];
export const fixturesV2 = recordedV2.fixtures as unknown as Fixture[];

const find = (list: Fixture[], name: string): Fixture => {
  const f = list.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return f;
};
export const fixture = (name: string): Fixture => find(fixtures, name);
export const fixtureV2 = (name: string): Fixture => find(fixturesV2, name);
