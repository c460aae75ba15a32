// Names users and members choose, checked in one place: a network name becomes a file name
// (`<network>.json`, `<network>.secret` in the state directory) and the last label of members' DNS
// names, so only letters, digits, - and _ (no dots, no slashes, no leading - or _).

/** A network name: what `NAME` in `pi.NAME` and the config file name are made of. */
export const NETWORK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export function isNetworkName(s: unknown): s is string {
  return typeof s === 'string' && NETWORK_NAME_RE.test(s);
}
