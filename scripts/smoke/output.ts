// What `npm run smoke` prints, and the rules that keep credentials out of it. Every line goes through `Output`,
// which knows every sensitive string the run has seen (API keys, tokens, the secret, the passphrase, links, receipt
// and secret keys) and replaces any that a line would carry with "[withheld]". That is the safety net: the steps
// themselves only ever format shortened forms (the helpers below), and the tests check that the net never fires on
// a normal run.
import { shortKey } from '../../src/ots/client.js';

export const WITHHELD = '[withheld]';

export class Output {
  readonly #sensitive = new Set<string>();
  /** Every line printed, as printed: for the end-of-run summary and for tests. */
  readonly lines: string[] = [];

  constructor(
    private readonly out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
    private readonly err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ) {}

  /** Values that must never be printed whole. Short values (under 6 characters) are not worth hiding. */
  sensitive(...values: (string | undefined)[]): void {
    for (const v of values) if (v && v.length >= 6) this.#sensitive.add(v);
  }

  scrub(text: string): string {
    let out = text;
    // Longest first, so a link is withheld whole rather than around the key inside it.
    for (const v of [...this.#sensitive].sort((a, b) => b.length - a.length)) out = out.split(v).join(WITHHELD);
    return out;
  }

  say(line: string): void {
    const l = this.scrub(line);
    this.lines.push(l);
    this.out(l);
  }

  warn(line: string): void {
    const l = this.scrub(line);
    this.lines.push(l);
    this.err(l);
  }
}

/** A capability key (receipt or secret key) as it may be shown: its first 6 characters (src/ots/client.ts). */
export const showKey = shortKey;

/** A one-time link as it may be shown: scheme, host and path up to the first 6 characters of the key. */
export function showLink(link: string): string {
  const at = link.lastIndexOf('/secret/');
  if (at < 0) return `${new URL(link).origin}/…`;
  return `${link.slice(0, at)}/secret/${shortKey(link.slice(at + '/secret/'.length))}`;
}

/** A phone number as it may be shown: +1555…0006 (enough to recognise one's own number, not to dial it). */
export function showPhone(e164: string): string {
  return e164.length > 9 ? `${e164.slice(0, 5)}…${e164.slice(-4)}` : e164;
}

/** A Twilio SID (SM…, MG…) shortened: SMab12cd… */
export function showSid(sid: string): string {
  return sid.length > 8 ? `${sid.slice(0, 8)}…` : sid;
}

/** The host of a base URL, for "OTS at …" lines (never credentials in a URL). */
export function showOrigin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
