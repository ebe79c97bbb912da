// The workflow's search attributes under the names the time-skipping test server predefines: it cannot register
// custom ones (no OperatorService), so scripts/temporal-test-server.ts bundles the real workflow with this module in place of
// workflows/search-attributes.ts. Same exports, same types; only the names differ.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TicketId = defineSearchAttributeKey('CustomStringField', SearchAttributeType.KEYWORD);
export const ShareState = defineSearchAttributeKey('CustomKeywordField', SearchAttributeType.KEYWORD);
export const DeliveryChannel = defineSearchAttributeKey('CustomStringField', SearchAttributeType.KEYWORD);
export const CallSid = defineSearchAttributeKey('CustomStringField', SearchAttributeType.KEYWORD);
export const ExpiresAt = defineSearchAttributeKey('CustomDatetimeField', SearchAttributeType.DATETIME);

export const allSearchAttributes = [TicketId, ShareState, DeliveryChannel, CallSid, ExpiresAt] as const;
