// vitest's file order: the known-long files first, so that on 2 workers the run does not end with one long file
// running alone. Without a duration cache (a clean clone, as in CI), vitest would start the largest files first,
// and the 10,000-request fuzz test is a small file. Times from a whole run on the 2-core machine.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LONGEST_FIRST = [
  'test/e2e/voice.test.ts', // ~130 s of real-time audio
  'test/faults/fuzz.test.ts', // ~115 s, CPU
  'test/faults/temporal-restart.test.ts', // ~35 s
  'test/faults/crash.test.ts', // ~30 s
  'test/faults/ots-outage.test.ts', // ~28 s
  'test/unit/compose.test.ts', // ~27 s on a clean clone (installs Docker Compose from PyPI)
  'test/unit/lint-rules.test.ts', // ~20 s (ESLint with type information)
  'test/faults/twilio.test.ts', // ~19 s
  'test/workflows/share-secret.test.ts', // ~15 s
  'test/e2e/handoff.test.ts', // ~13 s
  'test/e2e/npm-start.test.ts', // ~11 s
  'test/e2e/confidentiality.test.ts', // ~11 s
];

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(name));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    // Stable: within a rank, and among the rest, vitest's own order. groupOrder still comes first.
    return sorted
      .map((f, i) => ({ f, i }))
      .sort(
        (a, b) =>
          a.f.project.config.sequence.groupOrder - b.f.project.config.sequence.groupOrder ||
          rank(a.f) - rank(b.f) ||
          a.i - b.i,
      )
      .map(({ f }) => f);
  }
}
