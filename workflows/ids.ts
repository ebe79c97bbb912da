// Workflow ids, the one place they are spelled: the HTTP layer, the webhooks, the call-session signaller, the
// workflows and the tests all build them here. Stable ids are what make a retried start land on the same hand-off:
// docs/decisions.md ("Idempotency-Key maps to a deterministic workflow id").

/** Workflow id of one hand-off (workflows/share-secret.ts). */
export const SHARE_WORKFLOW_PREFIX = 'share-';
export const shareWorkflowId = (shareId: string): string => `${SHARE_WORKFLOW_PREFIX}${shareId}`;

/** Workflow id of a call's session (workflows/call-session.ts). */
export const callWorkflowId = (callSid: string): string => `call-${callSid}`;

/** Workflow id of the fleet-wide lease on one create fingerprint, a TTL in seconds (src/ots/fingerprint-lease.ts). */
export const fingerprintLeaseWorkflowId = (ttlSeconds: number): string => `ots-fingerprint-${ttlSeconds}`;
