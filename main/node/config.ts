// Node configuration: defaults < config file (-c FILE, JSON, see docs/config.md) < command-line flags.
// Everything is validated here, so a bad value stops the node before it touches the system, with one
// readable line naming the option.
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_MTU, DEFAULT_PORT, MESH_MAX_ROUTES } from '../core/constants';
import { type Cidr, parseCidr, parseIp } from '../core/ip';
import { routeRefusal } from '../core/mesh/routes';
import type { NodeKeys } from './persistence';

export class ConfigError extends Error {}

export interface PeerSpec {
  publicKey: string;
  /** "host:port", "[v6]:port"; host may be a name, resolved at start. */
  endpoint: string | null;
  allowedIps: string[];
  persistentKeepalive: number;
  presharedKeyFile: string | null;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface NetworkSpec {
  name: string;
  secretFile: string;
  /** "host:port" of members to join through. */
  bootstrap: string[];
  /** Relay traffic between members that cannot reach each other directly. */
  relay: boolean;
  /** Subnets this node offers to the other members (it forwards and masquerades into them). */
  advertiseRoutes?: string[];
  /**
   * Route other members' offers in private address space without asking (`--accept-routes`; default
   * off: each is accepted with `peermesh routes accept`). docs/mesh.md "Subnet routes".
   */
  acceptRoutes?: boolean;
  /** Offer this node as an exit node: members may send all their traffic through it. */
  advertiseExit?: boolean;
  /** Use a member as exit node (name, key or overlay IPv4; 'none': none); else the saved choice. */
  exitNode?: string;
  /** While using an exit node, keep reaching this machine's LANs directly. */
  exitAllowLan?: boolean;
  /** When the exit node goes away, use this machine's uplink instead of blocking (fail open). */
  exitFailOpen?: boolean;
}

export interface NodeConfig {
  /** Mesh network to be a member of (null: static peers only). */
  network: NetworkSpec | null;
  /** This node's name in the network (default: host name). */
  name: string;
  stateDir: string;
  interface: string;
  addresses: string[];
  listenPort: number;
  mtu: number;
  privateKeyFile: string | null;
  pskFile: string | null;
  peers: PeerSpec[];
  logLevel: LogLevel;
  /**
   * Hosts file in which members' names (`<name>.<network>`) are kept (a managed block), or null for
   * none. Default /etc/hosts, used when the node may write it (root); docs/mesh.md "Names".
   */
  hostsFile: string | null;
  /**
   * Route each member's IPv4 (/32) instead of the overlay's /10 through the interface: set when one
   * process is a member of several networks, whose overlay IPv4 ranges are the same 100.64.0.0/10.
   */
  memberRoutes?: boolean;
  /** Serve the web UI (and the Control API over WebSocket, /metrics) on this loopback port. */
  ui?: { host: string; port: number } | null;
  /** Command prefix that starts the TUN helper with privileges (desktop app: pkexec); none by default. */
  helperLauncher?: string[];
  /** The TUN helper binary (default: native/build/peermesh-helper or $PEERMESH_HELPER). */
  helperPath?: string;
  /**
   * `up` as root: the user the core switches to once it is up (privdrop.ts); the helper drops to it
   * too, and the node keeps the hosts file open for writing from the start. Unset otherwise.
   */
  runAs?: { name: string; uid: number; gid: number };
  /**
   * `up --ui` as root: the hosts file, opened for writing by root before the process dropped to its
   * user (hosts.ts openHostsFile); each start of the node writes through it and none closes it.
   */
  hostsHeld?: { path: string; fd: number };
  /**
   * `up --ui` as root: the keys (network secret, key files) read by root before the drop; each start
   * of the node takes these instead of reading files the user may not read.
   */
  keys?: NodeKeys;
}

export function defaultStateDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/peermesh';
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'peermesh');
}

export function defaults(): NodeConfig {
  return {
    network: null,
    name: hostname().split('.')[0].slice(0, 63) || 'node',
    stateDir: defaultStateDir(),
    interface: 'pm0',
    addresses: [],
    listenPort: DEFAULT_PORT,
    mtu: DEFAULT_MTU,
    privateKeyFile: null,
    pskFile: null,
    peers: [],
    logLevel: 'info',
    hostsFile: '/etc/hosts',
  };
}

const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

export function parseEndpoint(s: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (m6) {
    host = m6[1];
    portText = m6[2];
  } else {
    const i = s.lastIndexOf(':');
    if (i <= 0) throw new ConfigError(`endpoint "${s}" must be HOST:PORT (IPv6: [ADDR]:PORT)`);
    host = s.slice(0, i);
    portText = s.slice(i + 1);
    if (host.includes(':')) throw new ConfigError(`endpoint "${s}": write IPv6 addresses as [ADDR]:PORT`);
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError(`endpoint "${s}": port must be 1-65535`);
  }
  if (
    !parseIp(host) &&
    !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(host)
  ) {
    throw new ConfigError(`endpoint "${s}": "${host}" is neither an IP address nor a host name`);
  }
  return { host, port };
}

/**
 * `--peer PUBKEY[@HOST:PORT][,ALLOWED-IP...]`, e.g.
 * `--peer xTIB...=@198.18.0.2:51820,100.64.0.2/32,fd00:6d::2/128`.
 */
export function parsePeerFlag(s: string): PeerSpec {
  const [head, ...allowed] = s.split(',');
  const at = head.indexOf('@');
  const publicKey = at < 0 ? head : head.slice(0, at);
  const endpoint = at < 0 ? null : head.slice(at + 1);
  return checkPeer(
    { publicKey, endpoint, allowedIps: allowed, persistentKeepalive: 0, presharedKeyFile: null },
    s,
  );
}

function checkPeer(p: PeerSpec, where: string): PeerSpec {
  if (!KEY_RE.test(p.publicKey))
    throw new ConfigError(`peer "${where}": public key must be 44 characters of base64`);
  if (p.endpoint !== null) parseEndpoint(p.endpoint);
  for (const a of p.allowedIps) {
    if (!parseCidr(a)) throw new ConfigError(`peer "${where}": allowed IP "${a}" is not an IPv4/IPv6 CIDR`);
  }
  if (
    !Number.isInteger(p.persistentKeepalive) ||
    p.persistentKeepalive < 0 ||
    p.persistentKeepalive > 65535
  ) {
    throw new ConfigError(`peer "${where}": persistentKeepalive must be 0-65535 seconds`);
  }
  return p;
}

export function checkAddress(a: string): Cidr {
  const c = parseCidr(a);
  if (!c || !a.includes('/'))
    throw new ConfigError(`address "${a}" must be an IPv4 or IPv6 CIDR such as 100.64.0.1/24`);
  return c;
}

type Json = Record<string, unknown>;

function expect<T>(v: unknown, check: (v: unknown) => boolean, what: string): T {
  if (!check(v)) throw new ConfigError(what);
  return v as T;
}

const isString = (v: unknown) => typeof v === 'string';
const isStringArray = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

/** Read and validate a JSON config file; relative paths in it are relative to the file. */
export function loadConfigFile(path: string, base: NodeConfig): NodeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError(`config file ${path}: ${err.code ? `cannot read (${err.code})` : err.message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`config file ${path}: must contain a JSON object`);
  }
  const dir = resolve(path, '..');
  const rel = (p: string) => resolve(dir, p);
  const cfg = { ...base };
  for (const [k, v] of Object.entries(raw as Json)) {
    const where = `config file ${path}: "${k}"`;
    switch (k) {
      case 'stateDir':
        cfg.stateDir = rel(expect<string>(v, isString, `${where} must be a string`));
        break;
      case 'interface':
        cfg.interface = expect<string>(v, isString, `${where} must be a string`);
        break;
      case 'addresses':
        cfg.addresses = expect<string[]>(v, isStringArray, `${where} must be a list of CIDR strings`);
        break;
      case 'listenPort':
        cfg.listenPort = expect<number>(v, isPort, `${where} must be a port number`);
        break;
      case 'mtu':
        cfg.mtu = expect<number>(v, Number.isInteger, `${where} must be an integer`);
        break;
      case 'privateKeyFile':
        cfg.privateKeyFile = rel(expect<string>(v, isString, `${where} must be a path`));
        break;
      case 'pskFile':
        cfg.pskFile = rel(expect<string>(v, isString, `${where} must be a path`));
        break;
      case 'hostsFile':
        cfg.hostsFile =
          v === null ? null : rel(expect<string>(v, isString, `${where} must be a path or null`));
        break;
      case 'logLevel':
        cfg.logLevel = expect<LogLevel>(
          v,
          (x) => ['debug', 'info', 'warn', 'error'].includes(x as string),
          `${where} must be debug, info, warn or error`,
        );
        break;
      case 'name':
        cfg.name = expect<string>(v, isString, `${where} must be a string`);
        break;
      case 'network': {
        const o = expect<Json>(
          v,
          (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
          `${where} must be an object`,
        );
        for (const k2 of Object.keys(o)) {
          if (
            ![
              'name',
              'secretFile',
              'bootstrap',
              'relay',
              'advertiseRoutes',
              'acceptRoutes',
              'advertiseExit',
              'exitNode',
              'exitAllowLan',
              'exitFailOpen',
            ].includes(k2)
          )
            throw new ConfigError(`${where}: unknown option "${k2}"`);
        }
        cfg.network = {
          name: expect<string>(o.name, isString, `${where}.name must be a string`),
          secretFile: rel(expect<string>(o.secretFile, isString, `${where}.secretFile must be a path`)),
          bootstrap:
            o.bootstrap === undefined
              ? []
              : expect<string[]>(
                  o.bootstrap,
                  isStringArray,
                  `${where}.bootstrap must be a list of HOST:PORT`,
                ),
          relay:
            o.relay === undefined
              ? false
              : expect<boolean>(
                  o.relay,
                  (x) => typeof x === 'boolean',
                  `${where}.relay must be true or false`,
                ),
          advertiseRoutes:
            o.advertiseRoutes === undefined
              ? []
              : expect<string[]>(
                  o.advertiseRoutes,
                  isStringArray,
                  `${where}.advertiseRoutes must be a list of CIDRs such as 192.168.100.0/24`,
                ),
        };
        for (const k of ['acceptRoutes', 'advertiseExit', 'exitAllowLan', 'exitFailOpen'] as const)
          if (o[k] !== undefined)
            cfg.network[k] = expect<boolean>(
              o[k],
              (x) => typeof x === 'boolean',
              `${where}.${k} must be true or false`,
            );
        if (o.exitNode !== undefined)
          cfg.network.exitNode = expect<string>(
            o.exitNode,
            (x) => typeof x === 'string' && x.length > 0 && x.length <= 63,
            `${where}.exitNode must be a member's name, key or address, or "none"`,
          );
        break;
      }
      case 'peers':
        cfg.peers = expect<unknown[]>(v, Array.isArray, `${where} must be a list`).map((p, i) =>
          peerFromJson(p, `${where}[${i}]`, rel),
        );
        break;
      default:
        throw new ConfigError(`config file ${path}: unknown option "${k}" (see docs/config.md)`);
    }
  }
  return cfg;
}

function peerFromJson(v: unknown, where: string, rel: (p: string) => string): PeerSpec {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError(`${where} must be an object`);
  const o = v as Json;
  for (const k of Object.keys(o)) {
    if (!['publicKey', 'endpoint', 'allowedIps', 'persistentKeepalive', 'presharedKeyFile'].includes(k)) {
      throw new ConfigError(`${where}: unknown option "${k}"`);
    }
  }
  return checkPeer(
    {
      publicKey: expect<string>(o.publicKey, isString, `${where}.publicKey must be a base64 key`),
      endpoint:
        o.endpoint === undefined
          ? null
          : expect<string>(o.endpoint, isString, `${where}.endpoint must be HOST:PORT`),
      allowedIps:
        o.allowedIps === undefined
          ? []
          : expect<string[]>(o.allowedIps, isStringArray, `${where}.allowedIps must be a list of CIDRs`),
      persistentKeepalive:
        o.persistentKeepalive === undefined
          ? 0
          : expect<number>(
              o.persistentKeepalive,
              Number.isInteger,
              `${where}.persistentKeepalive must be an integer`,
            ),
      presharedKeyFile:
        o.presharedKeyFile === undefined
          ? null
          : rel(expect<string>(o.presharedKeyFile, isString, `${where}.presharedKeyFile must be a path`)),
    },
    where,
  );
}

/** Final checks on a merged configuration. */
export function validate(cfg: NodeConfig): NodeConfig {
  if (!IFNAME_RE.test(cfg.interface)) {
    throw new ConfigError(
      `interface name "${cfg.interface}" must be 1-15 characters of letters, digits, _ . -`,
    );
  }
  const cidrs = cfg.addresses.map(checkAddress);
  const minMtu = cidrs.some((c) => c.family === 6) ? 1280 : 576;
  if (!Number.isInteger(cfg.mtu) || cfg.mtu < minMtu || cfg.mtu > 65_535 - 32) {
    throw new ConfigError(`mtu ${cfg.mtu} out of range (${minMtu}-65503)`);
  }
  if (!isPort(cfg.listenPort)) throw new ConfigError(`listen port ${cfg.listenPort} must be 0-65535`);
  if (!/^[^\s/\\]{1,63}$/.test(cfg.name))
    throw new ConfigError(`node name "${cfg.name}" must be 1-63 characters without spaces or slashes`);
  if (cfg.network) {
    if (!/^[A-Za-z0-9_.-]{1,63}$/.test(cfg.network.name)) {
      throw new ConfigError(
        `network name "${cfg.network.name}" must be 1-63 characters of letters, digits, _ . -`,
      );
    }
    for (const b of cfg.network.bootstrap) parseEndpoint(b);
    const routes = cfg.network.advertiseRoutes ?? [];
    if (routes.length > MESH_MAX_ROUTES)
      throw new ConfigError(`at most ${MESH_MAX_ROUTES} advertised routes`);
    for (const r of routes) {
      const c = r.includes('/') ? parseCidr(r) : null;
      if (!c) throw new ConfigError(`advertised route "${r}" must be a subnet such as 192.168.100.0/24`);
      // What every member would refuse (docs/mesh.md "Subnet routes"), said before anything starts.
      const why = routeRefusal(c, null);
      if (why) throw new ConfigError(`advertised route "${r}" is refused: ${why}`);
    }
  }
  const seen = new Set<string>();
  for (const p of cfg.peers) {
    if (seen.has(p.publicKey)) throw new ConfigError(`peer ${p.publicKey} is listed twice`);
    seen.add(p.publicKey);
  }
  return cfg;
}
