// The shared Retry-After parser (src/retry-after.ts), the service-error base (src/errors.ts) that the Onetime
// Secret and Twilio SMS errors derive from, and how the agent API answers a failed call to Temporal
// (src/http/temporal-errors.ts, with the client's reachTracker from src/temporal/client.ts).
import { NamespaceNotFoundError, ServiceError as TemporalServiceError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { ServiceError } from '../../src/errors.js';
import {
  OtsAuthError,
  OtsBadRequestError,
  OtsNotFoundError,
  OtsProtocolError,
  OtsRateLimitedError,
  OtsUnavailableError,
} from '../../src/ots/errors.js';
import { parseRetryAfter } from '../../src/retry-after.js';
import { temporalTrouble } from '../../src/http/temporal-errors.js';
import { reachTracker } from '../../src/temporal/client.js';
import { SmsRateLimitedError, SmsRejectedError, SmsUnavailableError } from '../../src/twilio/sms.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:27:00 GMT');

  it('reads delay-seconds, surrounding whitespace allowed', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('3600', now)).toBe(3_600_000);
  });

  it('reads an HTTP-date as the time until then, and a date already past as 0', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:26:00 GMT', now)).toBe(0);
  });

  it('takes the first of a repeated header', () => {
    expect(parseRetryAfter(['5', '60'], now)).toBe(5_000);
    expect(parseRetryAfter([], now)).toBeUndefined();
  });

  it('is undefined for no header and for junk, never NaN or negative', () => {
    for (const junk of [undefined, null, '', '   ', 'soon', '30s', '12 apples', 'NaN', 'Infinity']) {
      expect(parseRetryAfter(junk, now), String(junk)).toBeUndefined();
    }
  });
});

describe('ServiceError', () => {
  const cases = [
    [new OtsAuthError('m'), 'OTS_AUTH', false, true],
    [new OtsNotFoundError('m'), 'OTS_NOT_FOUND', false, true],
    [new OtsRateLimitedError('m'), 'OTS_RATE_LIMITED', true, true],
    [new OtsBadRequestError('m'), 'OTS_BAD_REQUEST', false, true],
    [new OtsUnavailableError('m'), 'OTS_UNAVAILABLE', true, false],
    [new OtsProtocolError('m'), 'OTS_BAD_RESPONSE', false, false],
    [new SmsRateLimitedError('m'), 'SMS_RATE_LIMITED', true, true],
    [new SmsRejectedError('m'), 'SMS_REJECTED', false, true],
    [new SmsUnavailableError('m'), 'SMS_UNAVAILABLE', true, false],
  ] as const;

  it('every OTS and SMS error is one, with its stable code, retryability, refusal and class name', () => {
    for (const [err, code, retryable, refused] of cases) {
      expect(err).toBeInstanceOf(ServiceError);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code, retryable, refused, name: err.constructor.name });
    }
  });

  it('carries status and Retry-After when given, and the cause only when there is one', () => {
    const cause = new Error('ECONNRESET');
    const ots = new OtsRateLimitedError('limited', { status: 429, retryAfterMs: 30_000, request: 'GET /x', cause });
    expect(ots).toMatchObject({ status: 429, retryAfterMs: 30_000, request: 'GET /x', cause });
    const sms = new SmsRateLimitedError('limited', { status: 429, retryAfterMs: 1_000, twilioCode: 20429 });
    expect(sms).toMatchObject({ status: 429, retryAfterMs: 1_000, twilioCode: 20429 });
    expect('cause' in sms).toBe(false);
    expect(new OtsUnavailableError('down')).toMatchObject({ status: undefined, retryAfterMs: undefined });
    expect('cause' in new OtsUnavailableError('down')).toBe(false);
  });
});

/** A gRPC error as @grpc/grpc-js makes it (what isGrpcServiceError recognises). */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}
/** As @temporalio/client 1.24.0 throws it: WorkflowClient.rethrowGrpcError wraps the gRPC error. */
const wrapped = (call: string, code: number, details: string) =>
  new TemporalServiceError(`Failed to ${call} Workflow`, { cause: grpcError(code, details) });

describe('temporalTrouble (the agent API on a failed Temporal call)', () => {
  const ctx = { deadlineMs: 10_000, seemsUnreachable: false };

  it('the "500 Failed to start Workflow" of a burst (CANCELLED "Call cancelled": the server reset the stream at the deadline) is busy, retry later', () => {
    const trouble = temporalTrouble(wrapped('start', 1, 'Call cancelled'), ctx);
    expect(trouble).toMatchObject({ kind: 'busy', grpcCode: 1, retryAfterSeconds: 5 });
    expect(trouble!.message).toMatch(/^Temporal is busy: it did not answer within 10 s/);
    expect(trouble!.message).toMatch(/same Idempotency-Key/);
    expect(trouble!.message).not.toMatch(/unreachable/);
    expect(temporalTrouble(wrapped('describe', 1, 'Call cancelled'), ctx)).toMatchObject({ kind: 'busy' });
  });

  it('a deadline run out is busy while the server answers, unreachable while the latest news is that it cannot be reached', () => {
    const err = wrapped('start', 4, 'Deadline exceeded after 10.411s,LB pick: 0.804s,remote_addr=127.0.0.1:33063');
    expect(temporalTrouble(err, ctx)).toMatchObject({ kind: 'busy', grpcCode: 4, retryAfterSeconds: 5 });
    expect(temporalTrouble(err, { deadlineMs: 3_000, seemsUnreachable: false })!.message).toMatch(/within 3 s/);
    expect(temporalTrouble(err, { ...ctx, seemsUnreachable: true })).toEqual({
      kind: 'unreachable',
      grpcCode: 4,
      retryAfterSeconds: 5,
      message: 'Temporal is unreachable; nothing was changed, retry shortly',
    });
  });

  it('RESOURCE_EXHAUSTED is an overloaded server that refused; UNAVAILABLE is unreachable', () => {
    const exhausted = temporalTrouble(wrapped('start', 8, 'namespace rate limit exceeded'), ctx);
    expect(exhausted).toMatchObject({ kind: 'busy', grpcCode: 8, retryAfterSeconds: 5 });
    expect(exhausted!.message).toMatch(/^Temporal is overloaded .*nothing was changed/);
    expect(temporalTrouble(wrapped('start', 14, 'No connection established'), ctx)).toMatchObject({
      kind: 'unreachable',
      grpcCode: 14,
    });
    // The bare gRPC error (a call the SDK does not wrap) reads the same.
    expect(temporalTrouble(grpcError(14, 'Connection dropped'), ctx)).toMatchObject({ kind: 'unreachable' });
  });

  it("NOT_FOUND for the namespace (Temporal's database gone) is unreachable; a missing workflow is not Temporal's trouble", () => {
    const gone = temporalTrouble(wrapped('start', 5, "Namespace not found: 'default'"), ctx);
    expect(gone).toMatchObject({ kind: 'unreachable', grpcCode: 5, retryAfterSeconds: 5 });
    expect(gone!.message).toMatch(/cannot read its namespace right now .*nothing was changed/);
    expect(temporalTrouble(wrapped('query', 5, 'workflow execution not found'), ctx)).toBeUndefined();
    // What the client throws for it on a start (measured on the stack with PostgreSQL stopped).
    expect(temporalTrouble(new NamespaceNotFoundError('default'), ctx)).toMatchObject({ kind: 'unreachable' });
  });

  it('anything else is none of these: a genuine bug still gets its 500', () => {
    for (const err of [
      wrapped('start', 3, 'invalid search attribute'),
      wrapped('start', 13, 'Received RST_STREAM with code 2'),
      new TemporalServiceError('Unexpected error while making gRPC request', {
        cause: new TypeError('x is undefined'),
      }),
      new TypeError('Cannot read properties of undefined'),
      undefined,
    ])
      expect(temporalTrouble(err, { ...ctx, seemsUnreachable: true }), String(err)).toBeUndefined();
  });
});

describe('reachTracker', () => {
  it('seems unreachable after UNAVAILABLE until the server answers again; deadlines and cancels tell nothing', () => {
    let t = 0;
    const reach = reachTracker(() => t++);
    expect(reach.seemsUnreachable()).toBe(false);
    reach.heard(14);
    expect(reach.seemsUnreachable()).toBe(true);
    reach.heard(4);
    reach.heard(1);
    expect(reach.seemsUnreachable()).toBe(true);
    reach.heard(0);
    expect(reach.seemsUnreachable()).toBe(false);
    reach.heard(4);
    reach.heard(1);
    expect(reach.seemsUnreachable()).toBe(false);
    // Refusals are answers: the server is there.
    reach.heard(14);
    reach.heard(8);
    expect(reach.seemsUnreachable()).toBe(false);
  });
});
