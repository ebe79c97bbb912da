// The Onetime Secret server's recorded request/response pairs, taken from onetimesecret/onetimesecret's own v1 code
// and contract spec (the fixture file's `_meta.source` names the commit and files; docs/onetime-secret.md).
import recorded from '../fixtures/ots-fixtures.json' with { type: 'json' };

export interface Fixture {
  name: string;
  request: {
    method: string;
    path: string;
    headers: Record<string, string>;
    body_form?: Record<string, string>;
    body_json?: Record<string, unknown>;
  };
  response: { status: number; headers: Record<string, string>; body: unknown };
}

export const fixtures = recorded.fixtures as unknown as Fixture[];

export const fixture = (name: string): Fixture => {
  const f = fixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return f;
};
