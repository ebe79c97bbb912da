// Messages of the shareSecret workflow, declared once for the workflow and the HTTP layer (STYLE.md).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Resolution, ShareStatus, SmsStatusEvent } from './types.js';

/** Current status (GET /v1/shares/:id). */
export const statusQuery = defineQuery<ShareStatus>('status');
/** Twilio SMS status callback, relayed by POST /twilio/sms-status. Out of order and duplicated: ranked. */
export const smsStatusSignal = defineSignal<[SmsStatusEvent]>('smsStatus');
/** Burn from Temporal UI or the CLI: `temporal workflow signal --name burn`. */
export const burnSignal = defineSignal<[{ by?: string }?]>('burn');
/** A technician's decision on a paused hand-off: `temporal workflow signal --name resolve --input '{"action":"retry"}'`. */
export const resolveSignal = defineSignal<[Resolution]>('resolve');
/** Burn and wait for the outcome (POST /v1/shares/:id/burn). */
export const burnUpdate = defineUpdate<ShareStatus, [{ by?: string }]>('burnSecret');
