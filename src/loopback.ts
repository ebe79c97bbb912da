// Whether a URL points at this machine: the sandbox's fakes call back only there, and plain http is allowed only
// there.
/** A URL whose host is this machine: 127.0.0.0/8, [::1] or localhost. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}
