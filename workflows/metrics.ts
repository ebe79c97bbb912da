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

/** Seconds since the share request: the start of the first run (continue-as-new keeps the chain's start time). */
function sinceRequest(): number {
  return Math.max(0, (Date.now() - workflowInfo().startTime.getTime()) / 1000);
}

export const reportFinished = (state: string): void => handoffMetrics.finished(state, sinceRequest());
export const reportLinkSent = (): void => handoffMetrics.linkSent(sinceRequest());
