// Whether an address, a Host header or a URL points at this machine: the sandbox's fakes call back only there,
// plain http is allowed only there, and the codec server's tokenless local-UI path (src/http/codec-server.ts) wants
// a loopback peer and Host. One definition, strict: IP literals in 127.0.0.0/8 or ::1, or the name `localhost`
// exactly. Nothing that merely starts like one (127.attacker.example, 127.0.0.1.nip.io, localhost.evil.com).
import { isIPv4, isIPv6 } from 'node:net';

/** The canonical (WHATWG URL) spelling of an IPv6 literal, brackets included, or undefined if it is not one. */
function canonicalIPv6(addr: string): string | undefined {
  if (!isIPv6(addr)) return undefined;
  try {
    return new URL(`http://[${addr}]`).hostname;
  } catch {
    return undefined; // e.g. a zone id (fe80::1%eth0): never loopback
  }
}

/**
 * An IP address literal of this machine: 127.0.0.0/8 in dotted decimal, ::1 in any spelling, or an IPv4-mapped
 * IPv6 address of 127.0.0.0/8 (how a dual-stack socket reports an IPv4 peer: ::ffff:127.0.0.1). Names are not
 * addresses: `localhost` is false here.
 */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  // Node's isIPv4 takes four decimal parts, no leading zeros: 127.1, 0x7f.0.0.1 and 0177.0.0.1 are not addresses.
  if (isIPv4(addr)) return addr.startsWith('127.');
  const v6 = canonicalIPv6(addr);
  return v6 === '[::1]' || (v6 !== undefined && /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(v6));
}

/**
 * Splits a Host header (RFC 9110 section 7.2: uri-host [":" port]) into its host and port: `127.0.0.1:3000`,
 * `localhost`, `[::1]:8233`. Undefined when it is not one (an unbracketed IPv6 address, a bad port, userinfo, a
 * path, spaces).
 */
export function parseHostHeader(value: string | undefined): { host: string; port?: number } | undefined {
  if (!value) return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._~-]+))(?::(\d{1,5}))?$/.exec(value);
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && port > 65_535) return undefined;
  if (m[1] !== undefined) return isIPv6(m[1]) ? { host: `[${m[1]}]`, port } : undefined;
  return { host: m[2]!.toLowerCase(), port };
}

/** A host as a URL or Host header writes it (`[::1]` bracketed) that is this machine: see isLoopbackAddress. */
function isLoopbackHostname(host: string): boolean {
  if (host === 'localhost') return true;
  if (host.startsWith('[') && host.endsWith(']')) return isLoopbackAddress(host.slice(1, -1));
  return isIPv4(host) && isLoopbackAddress(host);
}

/** A Host header naming this machine: `localhost`, `127.x.y.z` or `[::1]`, with or without a port. */
export function isLoopbackHostHeader(value: string | undefined): boolean {
  const parsed = parseHostHeader(value);
  return parsed !== undefined && isLoopbackHostname(parsed.host);
}

/** A URL whose host is this machine: 127.0.0.0/8, [::1] or localhost. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return isLoopbackHostname(host);
}

/** Headers a proxy or a tunnel (ngrok http, a local reverse proxy) adds: such a request only looks local. */
const FORWARDING_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'via',
];

/**
 * A request made on this machine straight to this server: a loopback peer, a loopback Host (an IP literal of this
 * machine or `localhost`: a DNS-rebinding page's requests carry its own name) and no forwarding header. A
 * byte-forwarding tunnel (ssh -L, kubectl port-forward, ngrok tcp) can present all three: this is for a machine
 * nothing is forwarded to. The codec server's tokenless local UI path and GET /metrics without METRICS_TOKENS.
 */
export function isDirectLocalRequest(facts: { peer?: string; host?: string; headerNames: readonly string[] }): boolean {
  return (
    isLoopbackAddress(facts.peer) &&
    isLoopbackHostHeader(facts.host) &&
    !facts.headerNames.some((h) => FORWARDING_HEADERS.includes(h.toLowerCase()))
  );
}
