// Which Onetime Secret API the OTS-facing tests speak: OTS_API_VERSION from the environment, else `auto` (v2 against
// the emulator). `npm test` runs them on v2; `npm run test:ots-v1` (which .ci/run also runs) runs them again on v1.
import { OTS_API_CHOICES, type OtsApiChoice } from '../../src/ots/schemas.js';

const asked = process.env.OTS_API_VERSION;
if (asked !== undefined && !(OTS_API_CHOICES as readonly string[]).includes(asked)) {
  throw new Error(`OTS_API_VERSION must be one of ${OTS_API_CHOICES.join(', ')} for the tests`);
}
export const OTS_API_VERSION_UNDER_TEST: OtsApiChoice = (asked as OtsApiChoice | undefined) ?? 'auto';

/**
 * An injected answer (src/sandbox/ots-emulator.ts injectFault) refusing the account, as the version in use says it:
 * v1 404 + X-OTS-Intended-Status 401 "Not authorized" (apps/api/v1/controllers/base.rb), v2 401 from delano/otto's
 * auth wrapper (lib/otto/security/authentication/route_auth_wrapper/response_builder.rb).
 */
export function authRefusal(version: 'v1' | 'v2' | undefined) {
  return version === 'v1'
    ? { status: 404, headers: { 'X-OTS-Intended-Status': '401' }, body: { message: 'Not authorized' } }
    : { status: 401, body: { error: 'Authentication Required', message: '[CREDENTIALS_INVALID] Invalid credentials' } };
}

/** What opening a link with a wrong passphrase throws: v1 says "Unknown secret" to everything, v2 422. */
export const wrongPassphrase = (version: 'v1' | 'v2' | undefined) => ({
  code: version === 'v1' ? 'OTS_NOT_FOUND' : 'OTS_BAD_REQUEST',
});

/** The burn route of one receipt on either version (an injected fault for that receipt alone). */
export const burnPath = (key: string, version: 'v1' | 'v2' | undefined) =>
  version === 'v1' ? `/api/v1/private/${key}/burn` : `/api/v2/receipt/${key}/burn`;
