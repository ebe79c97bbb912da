// Search attributes every hand-off carries. Declared once: the workflow upserts them, the HTTP layer and
// technicians query them, and the Temporal start-up code registers them with the server.
// Never put a secret, passphrase, link or secret key in one: search attributes are stored unencrypted.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const TicketId = defineSearchAttributeKey('TicketId', SearchAttributeType.KEYWORD);
export const ShareState = defineSearchAttributeKey('ShareState', SearchAttributeType.KEYWORD);
export const DeliveryChannel = defineSearchAttributeKey('DeliveryChannel', SearchAttributeType.KEYWORD);
export const CallSid = defineSearchAttributeKey('CallSid', SearchAttributeType.KEYWORD);
export const ExpiresAt = defineSearchAttributeKey('ExpiresAt', SearchAttributeType.DATETIME);

export const allSearchAttributes = [TicketId, ShareState, DeliveryChannel, CallSid, ExpiresAt] as const;
