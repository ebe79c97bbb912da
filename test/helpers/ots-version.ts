// Which Onetime Secret API the OTS-facing tests speak: OTS_API_VERSION from the environment, else `auto` (v2 against
// the emulator). `npm test` runs them on v2; `npm run test:ots-v1` (which .ci/run also runs) runs them again on v1.
import { OTS_API_CHOICES, type OtsApiChoice } from '../../src/ots/schemas.js';

const asked = process.env.OTS_API_VERSION;
if (asked !== undefined && !(OTS_API_CHOICES as readonly string[]).includes(asked)) {
  throw new Error(`OTS_API_VERSION must be one of ${OTS_API_CHOICES.join(', ')} for the tests`);
}
export const OTS_API_VERSION_UNDER_TEST: OtsApiChoice = (asked as OtsApiChoice | undefined) ?? 'auto';
