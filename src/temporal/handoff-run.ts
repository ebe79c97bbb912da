// Whether a workflow run is one of this service's hand-offs: a `shareSecret` on the service's own task queue. Anyone
// who reaches Temporal can start a workflow of that name on a queue they poll and run their own code for it, so
// createSecret (activities/index.ts) and the agent API's burn and status (src/http/shares.ts) ask this of the run
// before they trust it: README.md ("Confidentiality and the threat model").

/** Why the run is not this service's hand-off, or undefined when it is. */
export function notOurHandoff(run: { type: string; taskQueue: string }, taskQueue: string): string | undefined {
  if (run.type === 'shareSecret' && run.taskQueue === taskQueue) return undefined;
  return `a ${run.type} on task queue ${run.taskQueue}, not this service's hand-off`;
}
