// The shared Retry-After parser (src/retry-after.ts) and the service-error base (src/errors.ts) that the Onetime
// Secret and Twilio SMS errors derive from.
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
