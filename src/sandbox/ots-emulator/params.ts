// Request parameters as the real server sees them, and the few Ruby conversions its logic applies to them.
//
// Form bodies and query strings are parsed like Rack::Utils.parse_nested_query (rack/rack lib/rack/query_parser.rb,
// Rack 3.2 as pinned in onetimesecret/onetimesecret Gemfile.lock; the server's form parser is
// `Rack::Utils.parse_nested_query`, lib/onetime/application/middleware_stack.rb): `recipient[]=a` is an array,
// `secret[ttl]=60` a nested hash, a repeated plain key keeps its last value, and a name without `=` has the value nil.

/** A parsed parameter: strings (form, query), or any JSON value (a JSON body). */
export type Param = string | null | number | boolean | Param[] | { [k: string]: Param };
export type Params = { [k: string]: Param };

/** Two parameter names that need different structures (e.g. `a=1&a[b]=2`): Rack raises ParameterTypeError. */
export class ParameterTypeError extends Error {}

export const isHash = (v: unknown): v is Params => typeof v === 'object' && v !== null && !Array.isArray(v);

function unescape(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus; // Rack keeps what does not decode
  }
}

/** Rack's normalize_params: `depth` 0 is the top-level name, where a leading "[" is part of the key. */
function normalize(params: Params, name: string, v: string | null, depth: number): Params | Param[] | undefined {
  if (depth >= 32) throw new ParameterTypeError('parameters nested too deep'); // Rack's param_depth_limit
  let k: string;
  let after: string;
  if (depth === 0) {
    const start = name.indexOf('[', 1);
    [k, after] = start > 0 ? [name.slice(0, start), name.slice(start)] : [name, ''];
  } else if (name.startsWith('[]')) {
    [k, after] = ['[]', name.slice(2)];
  } else if (name.startsWith('[') && name.indexOf(']', 1) > 0) {
    const end = name.indexOf(']', 1);
    [k, after] = [name.slice(1, end), name.slice(end + 1)];
  } else {
    [k, after] = [name, ''];
  }
  if (k === '') return undefined;

  if (after === '') {
    if (k === '[]' && depth !== 0) return [v];
    params[k] = v;
  } else if (after === '[') {
    params[name] = v;
  } else if (after === '[]') {
    const list = (params[k] ??= []);
    if (!Array.isArray(list)) throw new ParameterTypeError(`expected Array for param \`${k}'`);
    list.push(v);
  } else if (after.startsWith('[]')) {
    // x[][y]: a hash inside an array; a new hash starts when the last one already has y.
    const inner = after.slice(3, -1);
    const childKey =
      after[2] === '[' && after.endsWith(']') && inner !== '' && !inner.includes('[') && !inner.includes(']')
        ? inner
        : after.slice(2);
    const list = (params[k] ??= []);
    if (!Array.isArray(list)) throw new ParameterTypeError(`expected Array for param \`${k}'`);
    const last = list.at(-1);
    if (isHash(last) && !hasKey(last, childKey)) normalize(last, childKey, v, depth + 1);
    else list.push(normalize({}, childKey, v, depth + 1) as Param);
  } else {
    const hash = (params[k] ??= {});
    if (!isHash(hash)) throw new ParameterTypeError(`expected Hash for param \`${k}'`);
    params[k] = normalize(hash, after, v, depth + 1) as Param;
  }
  return params;
}

function hasKey(hash: Params, key: string): boolean {
  if (key.includes('[]')) return false;
  let h: Param = hash;
  for (const part of key.split(/[[\]]+/)) {
    if (part === '') continue;
    if (!isHash(h) || !(part in h)) return false;
    h = h[part]!;
  }
  return true;
}

/** Rack::Utils.parse_nested_query: pairs split at "&" (and the spaces after it). */
export function parseNestedQuery(qs: string): Params {
  const params: Params = {};
  for (const pair of qs.split(/& */)) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = unescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? null : unescape(pair.slice(eq + 1));
    normalize(params, name, value, 0);
  }
  return params;
}

// ---- Ruby conversions the server's logic applies (onetimesecret/onetimesecret apps/api/v{1,2}/logic/**) ----

/** A value Ruby has no `to_i` for (true, an Array, a Hash): the server answers with its generic error. */
export class NoConversionError extends Error {}

/** Ruby's `to_s` of a parameter. */
export function rbToS(v: Param | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Ruby's `to_i`: nil → 0; a String's leading integer ("  42abc" → 42, "abc" and "" → 0); a Float truncated. */
export function rbToI(v: Param | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'string') {
    const m = /^\s*([+-]?\d+(?:_\d+)*)/.exec(v);
    return m ? Number.parseInt(m[1]!.replace(/_/g, ''), 10) : 0;
  }
  throw new NoConversionError(`undefined method 'to_i' for ${typeof v}`);
}

/** `[x].flatten.compact.uniq`. */
export function flattenList(v: Param | undefined): Param[] {
  const out: Param[] = [];
  const walk = (x: Param | undefined) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && x !== undefined && !out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
  };
  walk(v);
  return out;
}

/** sanitize_email (lib/onetime/security/input_sanitizers.rb): tags and newlines out, trimmed, lowercased. */
export function sanitizeEmail(v: Param): string {
  return rbToS(v)
    .replace(/<[^>]*>/g, '')
    .replace(/[\r\n]/g, '')
    .trim()
    .toLowerCase();
}

/** sanitize_plain_text (same file): tags out, whitespace collapsed and trimmed. */
export function sanitizePlainText(v: Param | undefined): string {
  return rbToS(v)
    .replace(/<[^>]*>/g, '')
    .trim()
    .replace(/\s+/g, ' ');
}

/** sanitize_identifier (same file): only [a-zA-Z0-9_-] is kept. */
export const sanitizeIdentifier = (v: Param | undefined): string => rbToS(v).replace(/[^a-zA-Z0-9_-]/g, '');

/**
 * Onetime::CustomDomain.valid? (lib/onetime/models/custom_domain.rb) is `PublicSuffix.valid?(input, default_rule: nil)`
 * (weppos/publicsuffix-ruby lib/public_suffix.rb): the name, stripped, lowercased and without a trailing dot, must end
 * in a suffix listed on the Public Suffix List with at least one label before it; a scheme ("://") or a leading dot
 * makes it invalid. The emulator has no copy of the list, so "listed suffix" is approximated: a last label of 2–63
 * letters (or an xn-- label) that is not one of the special-use names the list does not carry.
 */
export function isPublicDomain(input: string): boolean {
  if ([...input].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false; // contains_control_chars?
  const name = input.trim().replace(/\.$/, '').toLowerCase();
  if (name === '' || name.startsWith('.') || name.includes('://')) return false;
  const labels = name.split('.');
  if (labels.length < 2 || labels.slice(0, -1).every((l) => l === '')) return false;
  const tld = labels.at(-1)!;
  const special = [
    'localhost',
    'local',
    'localdomain',
    'test',
    'invalid',
    'example',
    'internal',
    'lan',
    'home',
    'corp',
  ];
  return (/^[a-z]{2,63}$/.test(tld) || /^xn--[a-z0-9-]{1,59}$/.test(tld)) && !special.includes(tld);
}
