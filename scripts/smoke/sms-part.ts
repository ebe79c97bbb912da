// The Twilio part when there is no Onetime Secret account to make a link with: one plain SMS through the service's
// own sender (src/twilio/sms.ts, twilio-node's messages.create), holding no link and no secret. With OTS set too, the
// hand-off sends the link SMS instead and this part does not run.
import { hostname } from 'node:os';
import { SmsError, createSmsSender } from '../../src/twilio/sms.js';
import { StepFailed } from './ots-part.js';
import type { Interrupt } from './ledger.js';
import { errorText, showPhone, showSid, type Output } from './output.js';

export const SMOKE_SMS_BODY = (host: string) =>
  `ots-handoff smoke test from ${host}: checks that this service can text you. No action needed.`;

export async function runSmsPart(ctx: {
  out: Output;
  interrupt: Interrupt;
  twilio: { accountSid: string; authToken: string; from: string; to: string };
}): Promise<void> {
  const { out, twilio } = ctx;
  const sms = createSmsSender(twilio);
  let sent: { sid: string; status: string };
  try {
    sent = await ctx.interrupt.guard(sms.send({ to: twilio.to, body: SMOKE_SMS_BODY(hostname()) }));
  } catch (err) {
    if (err instanceof SmsError) throw new StepFailed('SMS', errorText(err));
    throw err;
  }
  out.say(
    `SMS: sent ${showSid(sent.sid)} to ${showPhone(twilio.to)} (${sent.status}; a notice without link or secret)`,
  );
}
