// The pieces of src/tracing.ts that decide what leaves the process: the endpoint, and URLs cut down to key-free
// paths. The whole trace of a hand-off, and the scan of what was exported: test/e2e/tracing.test.ts.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { scrubAttributes, scrubUrl, tracesEndpoint } from '../../src/tracing.js';

describe('tracing configuration', () => {
  it('traces go to the signal endpoint, else the base endpoint + /v1/traces; none without either or when disabled', () => {
    expect(tracesEndpoint(loadConfig({}))).toBeUndefined();
    expect(tracesEndpoint(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }))).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      tracesEndpoint(
        loadConfig({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/ingest',
        }),
      ),
    ).toBe('https://traces.example/ingest');
    expect(
      tracesEndpoint(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })),
    ).toBeUndefined();
  });

  it('refuses OTLP over gRPC and a malformed endpoint, naming the variables', () => {
    try {
      loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as ConfigError).message;
      expect(text).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL: must be http\/protobuf or http\/json/);
      expect(text).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    }
  });
});

describe('scrubUrl: what a span may say of a URL', () => {
  it('keeps the route, drops the query and credentials, and replaces every key', () => {
    expect(scrubUrl('https://us.onetimesecret.com/api/v2/receipt/abc123def456ghi789jkl0/burn?x=1')).toBe(
      'https://us.onetimesecret.com/api/v2/receipt/:key/burn',
    );
    expect(scrubUrl('https://u:p@ots.example/api/v1/private/k3y')).toBe('https://ots.example/api/v1/private/:key');
    expect(scrubUrl('/api/v2/secret/s3cr3tk3y/reveal')).toBe('/api/v2/secret/:key/reveal');
    expect(scrubUrl('http://127.0.0.1:3000/sandbox/ots/secret/abc')).toBe(
      'http://127.0.0.1:3000/sandbox/ots/secret/:key',
    );
    expect(scrubUrl('/twilio/media/v1.CA0123.1767225600.c2lnbmF0dXJl')).toBe('/twilio/media/:key');
    expect(scrubUrl('/twilio/sms-status?share=shr_abc&To=%2B15550100001')).toBe('/twilio/sms-status');
  });
  it('keeps only the origin of a URL whose path is a credential (the notes webhook)', () => {
    const hook = 'https://hooks.zapier.com/hooks/catch/123/abc1234/';
    expect(scrubUrl('https://hooks.zapier.com/hooks/catch/123/abc1234/', [hook])).toBe(
      'https://hooks.zapier.com/:webhook',
    );
    expect(scrubUrl('/hooks/catch/123/abc1234/', [hook])).toBe('/:webhook');
    expect(scrubUrl('https://hooks.zapier.com/other', [hook])).toBe('https://hooks.zapier.com/other');
  });
  it('spans carry primitive attributes only, no error text, URLs scrubbed', () => {
    expect(
      scrubAttributes({
        workflowId: 'share-shr_abc',
        attempt: 1,
        searchAttributes: { TicketId: ['T-1'] } as never,
        memo: { requestDigest: 'x' } as never,
        'exception.type': 'SmsRejectedError',
        'exception.message': "The 'To' number +15550100001 is not a valid phone number.",
        'exception.stacktrace': 'at send (+15550100001)',
        'http.error_message': 'boom +15550100001',
        'url.full': 'https://ots.example/api/v2/receipt/k3yk3yk3y?x=1',
        'url.query': '?x=1',
      }),
    ).toEqual({
      workflowId: 'share-shr_abc',
      attempt: 1,
      'exception.type': 'SmsRejectedError',
      'url.full': 'https://ots.example/api/v2/receipt/:key',
    });
  });
  it("keeps the API's own words and share ids, and replaces any other long token", () => {
    expect(scrubUrl('/api/v2/secret/conceal')).toBe('/api/v2/secret/conceal');
    expect(scrubUrl('/api/v2/receipt/recent')).toBe('/api/v2/receipt/recent');
    expect(scrubUrl('/v1/shares/shr_1s9h75p68x3af32uob43fw7ub')).toBe('/v1/shares/shr_1s9h75p68x3af32uob43fw7ub');
    expect(scrubUrl('/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json')).toBe(
      '/2010-04-01/Accounts/:key/Messages.json',
    );
  });
});
