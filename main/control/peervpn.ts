// Import a PeerVPN (peervpn.net, v0.044) configuration file as a PeerMesh config (the JSON shape of
// `peermesh up -c FILE`, docs/config.md). Pure: text in, { config, secret, warnings } out; nothing is
// read or written here. See docs/peervpn.md for the mapping.
//
// PeerVPN's syntax, as its parser (config.ic) reads it: one `option value` per line; leading
// whitespace is skipped; `#`, `;` and CR end the line (so a psk cannot contain them); trailing
// spaces/tabs are dropped; the value is the rest of the line; a later line overrides an earlier one
// with the same option; `endconfig` ends the file. Option names are matched in any case here.
//
// The psk never appears in a warning or an error: values are echoed only when they share no text with
// it, and every message is scrubbed of it as a last resort.
import { parseCidr, parseIp } from '../core/ip';

export interface PeerVpnImportOptions {
  /**
   * The path to put in config.network.secretFile (the caller writes `secret` there, mode 0600).
   * Default: `<networkname>.secret`, i.e. next to the config file.
   */
  secretFile?: string;
}

export interface PeerVpnImport {
  /** A PeerMesh config object, ready for JSON.stringify and `peermesh up -c FILE`. */
  config: Record<string, unknown>;
  /**
   * PeerVPN's psk, to be stored as the network secret (PeerMesh uses its UTF-8 bytes). Never null
   * today: a file without a psk is refused.
   */
  secret: string | null;
  /** One line per option that has no PeerMesh equivalent (or is not carried over), in file order. */
  warnings: string[];
}

const NETWORK_NAME_RE = /^[A-Za-z0-9_.-]{1,63}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/;
/** PeerMesh refuses a shorter network secret (main/node/node.ts). */
const MIN_SECRET_LENGTH = 12;

/**
 * Options PeerVPN 0.044 knows (plus `enablesyslog`, which some builds have) that PeerMesh has no
 * equivalent for, and why (one warning each).
 */
const NO_EQUIVALENT: Record<string, string> = {
  engine:
    "PeerMesh's cryptography (ChaCha20-Poly1305 and X25519 through libsodium, BLAKE2s) loads no OpenSSL engines",
  sockmark:
    'PeerMesh cannot mark its packets (SO_MARK); for policy routing match the node by its user instead (ip rule add uidrange ...)',
  upcmd:
    'PeerMesh runs no command when the interface comes up; run it yourself, e.g. from the service manager that starts `peermesh up`',
  user: 'PeerMesh needs no privilege drop: its TUN helper drops every privilege by itself once the device exists, so run `peermesh up` as that user (docs/helper.md)',
  group:
    'PeerMesh needs no privilege drop: its TUN helper drops every privilege by itself once the device exists, so run `peermesh up` with that group (docs/helper.md)',
  chroot:
    'PeerMesh does not chroot; confine it with your service manager instead (e.g. systemd ProtectSystem=strict)',
  enableprivdrop:
    'PeerMesh always keeps privileges in its small TUN helper only, which drops them itself once the device exists; the node runs as whichever user starts it (docs/helper.md)',
  enableconsole: "PeerMesh has no console on stdin; use `peermesh status` (and the node's control socket)",
  enablesyslog:
    'PeerMesh logs readable lines to stderr; send them to syslog with your service manager (journald does)',
  enablendpcache:
    'PeerMesh routes IP packets over a TUN interface (layer 3), so no IPv6 neighbour discovery crosses the tunnel and there is nothing to cache',
  enablevirtserv:
    "PeerMesh has no virtual service host (PeerVPN's link-local ping/UDP-echo responder on the TAP link)",
  enableseccomp:
    'PeerMesh has no seccomp option; only its small TUN helper is privileged and it drops every privilege after setup',
  forceseccomp:
    'PeerMesh has no seccomp option; only its small TUN helper is privileged and it drops every privilege after setup',
  enablenat64clat:
    'PeerMesh has no NAT64 CLAT; give IPv6-only nodes IPv6 (or dual-stack host name) bootstrap addresses',
  echo: 'PeerMesh prints no message from its config at startup',
};

const BOOLEANS: Record<string, boolean> = {
  yes: true,
  true: true,
  '1': true,
  no: false,
  false: false,
  '0': false,
};

interface Line {
  no: number;
  /** The option as written. */
  option: string;
  /** Lower-cased, for matching. */
  key: string;
  value: string;
}

/** Split a PeerVPN config into its non-empty lines, the way PeerVPN's parser reads them. */
function lines(text: string): Line[] {
  const out: Line[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    let s = raw[i].replace(/^[ \t]+/, '');
    const end = s.search(/[#;\r\0]/);
    if (end >= 0) s = s.slice(0, end);
    s = s.replace(/[ \t]+$/, '');
    if (s === '') continue;
    // The option ends at the first space or tab (other whitespace, e.g. \v or U+00A0, stays part of it
    // and makes it an unknown option); the value is the rest, whatever it holds (also U+2028).
    const m = /^([^ \t]+)(?:[ \t]+([\s\S]*))?$/.exec(s)!;
    const option = m[1];
    const key = option.toLowerCase();
    if (key === 'endconfig') break;
    out.push({ no: i + 1, option, key, value: m[2] ?? '' });
  }
  return out;
}

/**
 * Turn a PeerVPN config file into a PeerMesh config. Throws an Error naming the line for a file that
 * cannot be carried over (bad port, odd initpeers, bad address, bad yes/no, missing networkname or psk).
 */
export function importPeerVpn(text: string, opts: PeerVpnImportOptions = {}): PeerVpnImport {
  const all = lines(text);
  const secrets = all.filter((l) => l.key === 'psk' && l.value !== '').map((l) => l.value);
  const overlapsSecret = (s: string) => s !== '' && secrets.some((p) => s.includes(p) || p.includes(s));
  /** A user-written value, quoted, unless it shares text with the psk. */
  const show = (s: string) => (overlapsSecret(s) ? '(hidden: it overlaps the psk)' : JSON.stringify(s));
  const scrub = (msg: string) =>
    secrets.reduce((m, p) => (p.length >= 4 ? m.split(p).join('(psk)') : m), msg);
  try {
    const r = convert(all, opts, show);
    return { ...r, warnings: r.warnings.map(scrub) };
  } catch (e) {
    throw new Error(scrub((e as Error).message));
  }
}

function convert(all: Line[], opts: PeerVpnImportOptions, show: (s: string) => string): PeerVpnImport {
  const warnings: string[] = [];
  const warn = (l: Line, msg: string) => warnings.push(`line ${l.no}: ${l.option} ignored: ${msg}`);
  const bool = (l: Line): boolean => {
    const v = l.value.toLowerCase();
    if (!Object.hasOwn(BOOLEANS, v)) fail(l, `must be yes or no, not ${show(l.value)}`);
    return BOOLEANS[v];
  };

  let networkName: Line | null = null;
  let secret: string | null = null;
  let iface: string | null = null;
  let listenPort: number | null = null;
  let v4: string | null = null;
  let v6: string | null = null;
  let bootstrap: string[] = [];
  let relay = false;
  const firstSeen = new Map<string, number>();

  for (const l of all) {
    const first = firstSeen.get(l.key);
    if (first === undefined) firstSeen.set(l.key, l.no);
    else if (l.key !== 'echo' && (Object.hasOwn(NO_EQUIVALENT, l.key) || isMapped(l.key))) {
      warnings.push(
        `line ${l.no}: ${l.option} given again (first on line ${first}); the last one counts, as in PeerVPN`,
      );
    }
    switch (l.key) {
      case 'networkname':
        if (l.value === '') fail(l, 'needs a value');
        if (!NETWORK_NAME_RE.test(l.value)) {
          fail(
            l,
            `${show(l.value)} cannot be a PeerMesh network name: use 1-63 characters of letters, digits, _ . - (on every node)`,
          );
        }
        networkName = l;
        break;
      case 'psk':
        if (l.value === '') fail(l, 'needs a value');
        if (l.value.length < MIN_SECRET_LENGTH) {
          fail(
            l,
            `is shorter than ${MIN_SECRET_LENGTH} characters, the least PeerMesh accepts for a network secret: choose a longer passphrase (the same on every node)`,
          );
        }
        secret = l.value;
        break;
      case 'port':
        listenPort = port(l, show, 0);
        break;
      case 'interface':
        if (!IFNAME_RE.test(l.value))
          fail(l, `${show(l.value)} must be 1-15 characters of letters, digits, _ . -`);
        iface = l.value;
        break;
      case 'ifconfig4':
      case 'ifconfig6': {
        const family = l.key === 'ifconfig4' ? 4 : 6;
        const c = l.value.includes('/') ? parseCidr(l.value) : null;
        if (!c || c.family !== family) {
          const example = family === 4 ? '100.64.0.1/24' : 'fd00::1/64';
          fail(l, `${show(l.value)} must be an IPv${family} address with a prefix length, e.g. ${example}`);
        }
        if (family === 4) v4 = l.value;
        else v6 = l.value;
        break;
      }
      case 'initpeers':
        bootstrap = initPeers(l, show);
        break;
      case 'enablerelay':
        relay = bool(l);
        break;
      case 'enableipv4':
      case 'enableipv6':
        if (!bool(l)) {
          warn(
            l,
            `PeerMesh always uses both IPv4 and IPv6 sockets where the machine has them and cannot turn IPv${l.key.slice(-1)} off`,
          );
        }
        break;
      case 'enabletunneling':
        if (!bool(l)) {
          warn(
            l,
            'PeerMesh has no discovery/relay-only mode without an interface: every node creates its TUN interface',
          );
        }
        break;
      case 'local':
        warn(
          l,
          `PeerMesh cannot bind to one local address yet; it listens on all addresses (IPv4 and IPv6), so ${show(l.value)} is not carried over`,
        );
        break;
      default:
        if (Object.hasOwn(NO_EQUIVALENT, l.key)) {
          if (l.key.startsWith('enable') || l.key === 'forceseccomp') bool(l);
          if (l.key === 'sockmark' && !/^\d+$/.test(l.value))
            fail(l, `must be a number (0 = off), not ${show(l.value)}`);
          warn(l, NO_EQUIVALENT[l.key]);
        } else {
          warnings.push(
            `line ${l.no}: unknown option ${show(l.option)} ignored: not a PeerVPN 0.044 option (PeerVPN itself would refuse this file)`,
          );
        }
    }
  }

  if (networkName === null) {
    throw new Error(
      'no networkname line: PeerVPN would fall back to "PEERVPN", but a PeerMesh network needs its name given explicitly',
    );
  }
  if (secret === null) {
    throw new Error(
      'no psk line: PeerVPN would fall back to the well-known "default", but a PeerMesh network needs a real secret',
    );
  }
  const name = networkName.value;
  const network: Record<string, unknown> = {
    name,
    secretFile: opts.secretFile ?? `${name}.secret`,
    bootstrap,
  };
  if (relay) network.relay = true;
  const config: Record<string, unknown> = { network };
  if (iface !== null) config.interface = iface;
  const addresses = [v4, v6].filter((a): a is string => a !== null);
  if (addresses.length > 0) config.addresses = addresses;
  if (listenPort !== null) config.listenPort = listenPort;
  return { config, secret, warnings };
}

function fail(l: Line, msg: string): never {
  throw new Error(`line ${l.no}: ${l.option} ${msg}`);
}

function isMapped(key: string): boolean {
  return [
    'networkname',
    'psk',
    'port',
    'interface',
    'ifconfig4',
    'ifconfig6',
    'initpeers',
    'enablerelay',
    'enableipv4',
    'enableipv6',
    'enabletunneling',
    'local',
  ].includes(key);
}

function port(l: Line, show: (s: string) => string, min: number, text = l.value, what = ''): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < min || n > 65535) {
    fail(l, `${what}${show(text)} must be a number ${min}-65535`);
  }
  return n;
}

/** `initpeers HOST PORT [HOST PORT]...` -> ["HOST:PORT", "[V6]:PORT", ...], duplicates dropped. */
function initPeers(l: Line, show: (s: string) => string): string[] {
  const tokens = l.value.split(/[ \t]+/).filter((t) => t !== '');
  if (tokens.length % 2 !== 0) {
    fail(
      l,
      `needs pairs of host and port ("HOST PORT HOST PORT ..."), but has ${tokens.length} words: a host or a port is missing`,
    );
  }
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i += 2) {
    let host = tokens[i];
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const ip = parseIp(host);
    if (!ip && (host.includes(':') || !HOSTNAME_RE.test(host))) {
      fail(l, `peer ${(i >> 1) + 1}: ${show(tokens[i])} is neither an IP address nor a host name`);
    }
    const p = port(l, show, 1, tokens[i + 1], `peer ${(i >> 1) + 1} (${show(tokens[i])}): port `);
    const ep = ip?.family === 6 ? `[${host}]:${p}` : `${host}:${p}`;
    if (!out.includes(ep)) out.push(ep);
  }
  return out;
}
