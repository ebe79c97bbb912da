// Provisions the Temporal CLI (see src/temporal/cli.ts) and prints its path on stdout; progress goes to stderr.
//   npx tsx scripts/temporal-cli.ts [--quiet-if-present]
// --quiet-if-present prints nothing when the CLI is already there (for `npm start` / `npm test` pre-steps).
import { fileURLToPath } from 'node:url';
import { ensureTemporalCli } from '../src/temporal/cli.js';

const quiet = process.argv.includes('--quiet-if-present');
const projectDir = fileURLToPath(new URL('..', import.meta.url));
try {
  const path = await ensureTemporalCli({
    projectDir,
    env: process.env,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (!quiet) process.stdout.write(`${path}\n`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
