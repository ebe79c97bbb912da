// Which email addresses Onetime Secret accepts as a recipient, checked the way its server checks them, so a hand-off
// whose link cannot be mailed is refused with 400 before anything is created instead of failing after it started.
//
// The server validates with Truemail (onetimesecret/onetimesecret apps/api/v2/logic/base.rb, valid_email?:
// `Truemail.validate(guess).result.valid?`). Truemail's first layer, always applied, is its regex
// (truemail-rb/truemail lib/truemail/core.rb, RegexConstant):
//   REGEX_DOMAIN        = /[a-z0-9]+([\-\.]{1}[a-z0-9]+)*\.[a-z]{2,63}/i
//   REGEX_EMAIL_PATTERN = /(?=\A.{6,255}\z)(\A([a-zA-Z0-9]+[\w|\-|\.|\+]*)@(#{REGEX_DOMAIN})\z)/
// In Ruby `\w` is ASCII ([a-zA-Z0-9_]) and the class [\w|\-|\.|\+] holds "|" itself. So: 6 to 255 characters, a
// local part that starts with a letter or a digit (not "_ops@" or "+tag@") and goes on with letters, digits, "_",
// "|", "-", "." and "+"; a host of letter-or-digit labels joined by "-" or "." ending in a 2–63 letter top-level
// domain. A server may add an MX or SMTP check on top, which cannot be known in advance: if it still refuses a
// recipient, the hand-off pauses with a note (docs/onetime-secret.md).

/** Truemail's REGEX_EMAIL_PATTERN in JavaScript (`u`: lengths count characters, as Ruby does). */
export const OTS_EMAIL_PATTERN =
  /^(?=.{6,255}$)[a-zA-Z0-9]+[\w|.+-]*@[a-zA-Z0-9]+(?:[-.][a-zA-Z0-9]+)*\.[a-zA-Z]{2,63}$/u;

/** What the API says when an address fails the rule (the field is named by the caller). */
export const OTS_EMAIL_RULE =
  'must be an email address Onetime Secret accepts: 6 to 255 characters, starting with a letter or digit, then letters, digits and _ | - . + before the @, and a domain such as example.com';

export function isOtsRecipient(address: string): boolean {
  return OTS_EMAIL_PATTERN.test(address);
}
