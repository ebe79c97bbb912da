// The one Retry-After parser: Onetime Secret's edge limiter (src/ots/client.ts) and Twilio's 429
// (src/twilio/sms.ts) both send it. The value is delay-seconds or an HTTP-date (RFC 9110 §10.2.3,
// https://www.rfc-editor.org/rfc/rfc9110#field.retry-after).

/**
 * `Retry-After` as milliseconds from `now`: delay-seconds, or the time until an HTTP-date (0 when it has passed).
 * Undefined when the header is absent or neither form (junk is not a reason to wait). Of a repeated header, the
 * first counts.
 */
export function parseRetryAfter(
  header: string | readonly string[] | null | undefined,
  now: number = Date.now(),
): number | undefined {
  const value = (typeof header === 'string' ? header : header?.[0])?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
