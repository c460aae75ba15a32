// Names users and members choose, checked in one place: a network name becomes a file name
// (`<network>.json`, `<network>.secret` in the state directory) and the last label of members' DNS
// names, so only letters, digits, - and _ (no dots, no slashes, no leading - or _).

/** A network name: what `NAME` in `pi.NAME` and the config file name are made of. */
export const NETWORK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export function isNetworkName(s: unknown): s is string {
  return typeof s === 'string' && NETWORK_NAME_RE.test(s);
}

/**
 * Whether a UTF-16 code unit is a control character a member-supplied string must not carry to a
 * terminal, a log line, the status output or a file: C0 (tab and line breaks included), DEL, C1, and
 * the bidirectional overrides and isolates (U+202A–202E, U+2066–2069) that make text read otherwise
 * than it is.
 */
function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/** A member-supplied string with every control character (isControl) removed. */
export function stripControl(s: string): string {
  let clean = true;
  for (let i = 0; i < s.length && clean; i++) clean = !isControl(s.charCodeAt(i));
  if (clean) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) if (!isControl(s.charCodeAt(i))) out += s[i];
  return out;
}
