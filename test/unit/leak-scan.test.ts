import { describe, expect, it } from 'vitest';
import { expectNoLeaks, expectSafeMetricLabels } from '../helpers/leak-scan.js';
import { historyText } from '../helpers/service.js';

const empty = { logs: [], responses: [], notes: [], smsBodies: [], history: [] };

describe('the leak scan', () => {
  it('passes when nothing holds the secret', () => {
    expect(() => expectNoLeaks(['Hunter2-secret'], { ...empty, logs: ['{"msg":"share started"}'] })).not.toThrow();
  });
  it('fails on the secret in plain, base64, URL-encoded and JSON-escaped form, naming where', () => {
    const s = 'p@ss "word"/1';
    expect(() => expectNoLeaks([s], { ...empty, logs: [`x ${s} y`] })).toThrow(/leaked into logs/);
    expect(() => expectNoLeaks([s], { ...empty, responses: [Buffer.from(s).toString('base64')] })).toThrow(/responses/);
    expect(() => expectNoLeaks([s], { ...empty, smsBodies: [encodeURIComponent(s)] })).toThrow(/smsBodies/);
    expect(() => expectNoLeaks([s], { ...empty, notes: [JSON.stringify({ t: s })] })).toThrow(/notes/);
  });
  it('finds a secret inside a history payload given as bytes', () => {
    const history = {
      events: [{ input: { payloads: [{ data: new TextEncoder().encode('{"secret":"Hunter2-secret"}') }] } }],
    };
    expect(() => expectNoLeaks(['Hunter2-secret'], { ...empty, history: [historyText(history)] })).toThrow(/history/);
  });

  it('metric labels: passes bounded values, fails on a share id, a phone number, an email address or a link', () => {
    const ok = 'handoff_finished_total{state="viewed"} 1\nx_bucket{le="604800",op="create"} 2\n';
    expect(() => expectSafeMetricLabels(ok, ['shr_abc123'])).not.toThrow();
    expect(() => expectSafeMetricLabels('x{share="shr_abc123"} 1', ['shr_abc123'])).toThrow(/shr_abc123/);
    expect(() => expectSafeMetricLabels('x{to="+15550100001"} 1', [])).toThrow(/phone/);
    expect(() => expectSafeMetricLabels('x{to="caller@example.com"} 1', [])).toThrow(/email/);
    expect(() => expectSafeMetricLabels('x{u="https://ots.example/secret/abc"} 1', [])).toThrow(/link/);
    expect(() => expectSafeMetricLabels('x 1', [])).toThrow(/no labels/);
  });
});
