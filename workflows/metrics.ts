// The hand-off's metrics, reported from the workflow through a Temporal sink (a call the worker runs outside the
// sandbox, not again on replay: https://docs.temporal.io/develop/typescript/observability#logging). The worker side
// is src/metrics.ts handoffMetricsSink; src/temporal/worker.ts registers it. Only a state and durations go out.
import { proxySinks, workflowInfo, type Sinks } from '@temporalio/workflow';

export interface HandoffMetricsSinks extends Sinks {
  handoffMetrics: {
    /** A final state reached, `seconds` after the share request. */
    finished(state: string, seconds: number): void;
    /** The link SMS accepted by Twilio, or the email queued by Onetime Secret. */
    linkSent(seconds: number): void;
  };
}

const { handoffMetrics } = proxySinks<HandoffMetricsSinks>();

/** When this run started: the share request, for a first run (a continued run keeps the first's: HandoffState). */
export const runStartedAt = (): string => workflowInfo().startTime.toISOString();

const since = (requestedAt: string): number => Math.max(0, (Date.now() - Date.parse(requestedAt)) / 1000);

export const reportFinished = (state: string, requestedAt: string): void =>
  handoffMetrics.finished(state, since(requestedAt));
export const reportLinkSent = (requestedAt: string): void => handoffMetrics.linkSent(since(requestedAt));
