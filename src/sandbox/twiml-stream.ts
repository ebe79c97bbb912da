// The simulated caller's reading of a TwiML answer: just `<Response><Connect><Stream url="…"><Parameter …/>`, the
// only shape the service answers with: see docs/twilio.md ("TwiML and call hand-over"); Twilio documents the noun at
// https://www.twilio.com/docs/voice/twiml/stream. A tiny tag scanner, not a general XML parser: no new dependency
// for a sandbox fake. Attribute values are unescaped as XML requires (twilio-node's builder escapes them).

export interface TwimlStream {
  /** The `<Stream url>` exactly as written (a wss:// URL: what Twilio signs the upgrade over). */
  url: string;
  /** `<Parameter name value>` children, which Twilio delivers as start.customParameters. */
  parameters: Record<string, string>;
  /** A `<Redirect>` after `</Connect>`: where Twilio continues once the stream is closed by the server. */
  redirect?: string;
}

export class TwimlError extends Error {
  readonly code = 'TWIML_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'TwimlError';
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ent: string) => {
    if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith('#')) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    return ENTITIES[ent] ?? whole;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out[m[1] as string] = unescapeXml(m[2] ?? m[3] ?? '');
  }
  return out;
}

// A tag's attributes, quote-aware: a double-quoted value may hold a raw '>' (twilio-node's builder leaves '>' as is).
const ATTRS = String.raw`((?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*`;

/** The `<Connect><Stream>` of a TwiML document; throws TwimlError when there is none. */
export function parseConnectStream(twiml: string): TwimlStream {
  if (!/<Response[\s>/]/.test(twiml)) throw new TwimlError('TwiML has no <Response> element');
  const connect = new RegExp(`<Connect${ATTRS}>([\\s\\S]*?)</Connect>`).exec(twiml);
  if (!connect) throw new TwimlError('TwiML has no <Connect> element (a bidirectional stream needs <Connect><Stream>)');
  const body = connect[2] as string;
  const stream = new RegExp(`<Stream${ATTRS}(/>|>([\\s\\S]*?)</Stream>)`).exec(body);
  if (!stream) throw new TwimlError('TwiML <Connect> has no <Stream> element');
  const url = attributes(stream[1] ?? '').url;
  if (!url) throw new TwimlError('TwiML <Stream> has no url attribute');
  const parameters: Record<string, string> = {};
  for (const p of (stream[3] ?? '').matchAll(new RegExp(`<Parameter${ATTRS}/?>`, 'g'))) {
    const { name, value } = attributes(p[1] ?? '');
    if (name !== undefined) parameters[name] = value ?? '';
  }
  const after = twiml.slice(connect.index + connect[0].length);
  const redirect = new RegExp(`<Redirect${ATTRS}>([^<]*)</Redirect>`).exec(after);
  return { url, parameters, ...(redirect ? { redirect: unescapeXml((redirect[2] ?? '').trim()) } : {}) };
}
