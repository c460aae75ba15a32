// The node's side of the host's network: this machine's addresses and LANs (what members reach us
// at), DNS for configured endpoints, the kernel routes through the TUN device for the subnets members
// offer, and members' names in the hosts file.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { DEFAULT_PORT } from '../core/constants';
import type { Device, Endpoint, PeerEndpoint } from '../core/device';
import { type Cidr, cidrOverlap, formatCidr, formatIp, maskBytes, parseCidr, parseIp } from '../core/ip';
import type { Mesh } from '../core/mesh';
import type { TunHelper } from '../io/helper';
import { type NodeConfig, parseEndpoint } from './config';
import { type HostEntry, memberNames, writeHostsBlock } from './hosts';
import { type Logger, shortKey } from './log';

export function formatEndpoint(e: PeerEndpoint | null): string | null {
  if (!e) return null;
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** Routes the helper must add: allowed IPs not already covered by an interface prefix. */
export function extraRoutes(addresses: Cidr[], allowed: Cidr[]): string[] {
  const covered = (c: Cidr) =>
    addresses.some((a) => {
      if (a.family !== c.family || a.prefix > c.prefix) return false;
      const cm = parseCidr(`${formatIpBytes(c.bytes)}/${a.prefix}`)!;
      return cm.bytes.every((b, i) => b === a.bytes[i]);
    });
  const out = new Set<string>();
  for (const c of allowed) if (!covered(c)) out.add(`${formatIpBytes(c.bytes)}/${c.prefix}`);
  return [...out];
}

function formatIpBytes(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[i] << 8) | b[i + 1]).toString(16));
  return parts.join(':');
}

/**
 * This machine's unicast addresses with our UDP port: the endpoints members on the same LAN (or
 * behind the same NAT) reach us at. Loopback, link-local and our own TUN interface are left out.
 */
export function localEndpoints(port: number, tunName: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === tunName || !addrs) continue;
    for (const a of addrs) {
      if (a.internal || a.address.startsWith('fe80:') || a.address.startsWith('169.254.')) continue;
      out.push({ address: a.address, port });
    }
  }
  return out.slice(0, 4);
}

/**
 * The broadcast address of every IPv4 network we sit on (not the tunnel, not loopback), at our port
 * and at the default port (members on a LAN usually keep it).
 */
export function lanBroadcasts(port: number, tunName: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === tunName || !addrs) continue;
    for (const a of addrs) {
      if (a.internal || a.family !== 'IPv4' || a.address.startsWith('169.254.')) continue;
      const c = parseCidr(a.cidr ?? '');
      if (!c || c.prefix >= 31) continue;
      const b = new Uint8Array(c.bytes);
      for (let i = 0; i < 4; i++) {
        const bits = Math.max(0, Math.min(8, c.prefix - i * 8));
        b[i] |= 0xff >> bits;
      }
      const address = formatIp(b);
      for (const p of new Set([port, DEFAULT_PORT])) out.push({ address, port: p });
    }
  }
  return out;
}

/** Whether this machine has IPv6 on (then a member gets an overlay IPv6 address too). */
export function ipv6Enabled(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

/** The network's bootstrap endpoints, names resolved once (one that does not resolve is skipped). */
export async function resolveBootstrap(list: string[], log: Logger): Promise<Endpoint[]> {
  const bootstrap: Endpoint[] = [];
  for (const b of list) {
    const { host, port } = parseEndpoint(b);
    try {
      bootstrap.push({ address: parseIp(host) ? host : (await lookup(host)).address, port });
    } catch (e) {
      log.warn(`cannot resolve bootstrap ${host} (${(e as NodeJS.ErrnoException).code}); skipping it`);
    }
  }
  return bootstrap;
}

/** Configured peers' endpoints given by name: resolved now and retried until they resolve. */
export class PendingEndpoints {
  /** peer key -> "host:port" */
  readonly unresolved = new Map<string, string>();

  constructor(
    private readonly device: Device,
    private readonly log: Logger,
  ) {}

  async resolve(): Promise<void> {
    for (const [key, ep] of [...this.unresolved]) {
      const { host, port } = parseEndpoint(ep);
      try {
        const r = await lookup(host);
        const peer = this.device.getPeer(key);
        if (peer && !peer.endpoint) peer.endpoint = { address: r.address, port };
        this.unresolved.delete(key);
        this.log.info(`resolved ${host} to ${r.address} for peer ${shortKey(key)}`);
      } catch (e) {
        this.log.warn(
          `cannot resolve ${host} for peer ${shortKey(key)} (${(e as NodeJS.ErrnoException).code}); retrying`,
        );
      }
    }
  }
}

/** Kernel routes through the TUN device for members' subnets, and members' names in the hosts file. */
export class HostNet {
  /** Member key -> its name in the hosts file. */
  names = new Map<string, string>();
  private hostsBroken = false;
  /** Kernel routes through our device for the subnets members offer, kept equal to their records. */
  private readonly installedRoutes = new Set<string>();
  private readonly skippedRoutes = new Set<string>();

  constructor(
    private readonly cfg: NodeConfig,
    private readonly log: Logger,
  ) {}

  /**
   * Make the kernel's routes through the device match the subnets members offer. A subnet that
   * overlaps a network this machine sits on is not routed into the tunnel (it would cut the machine
   * off its own LAN, e.g. a laptop at home while the home node offers that LAN); it is logged once.
   */
  syncRoutes(mesh: Mesh | null, tun: TunHelper | null): void {
    if (!mesh || !tun) return;
    const want = this.wantedRoutes(mesh);
    for (const [text, c] of want) {
      if (this.installedRoutes.has(text)) continue;
      this.installedRoutes.add(text);
      tun.setRoute('add', c);
    }
    for (const text of [...this.installedRoutes]) {
      if (want.has(text)) continue;
      this.installedRoutes.delete(text);
      const c = parseCidr(text);
      if (c) tun.setRoute('delete', c);
    }
  }

  private wantedRoutes(mesh: Mesh): Map<string, Cidr> {
    const local: Cidr[] = [];
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) {
        const c = a.cidr && !a.internal && a.address ? parseCidr(a.cidr) : null;
        if (c) local.push(c);
      }
    const want = new Map<string, Cidr>();
    for (const m of mesh.members.values()) {
      if (!m.rec || m.removed) continue;
      if (this.cfg.memberRoutes) {
        const c = parseCidr(`${mesh.addressesOf(m.key).v4}/32`)!;
        want.set(formatCidr(c), c);
      }
      for (const r of m.rec.rt) {
        const c = parseCidr(r);
        if (!c) continue;
        const text = formatCidr({ ...c, bytes: maskBytes(c.bytes, c.prefix) });
        if (local.some((l) => cidrOverlap(l, c))) {
          if (!this.skippedRoutes.has(text)) {
            this.skippedRoutes.add(text);
            this.log.warn(
              `not routing ${text} (offered by "${m.rec.n}") into the tunnel: this machine is on it`,
            );
          }
          continue;
        }
        want.set(text, c);
      }
    }
    return want;
  }

  /** Members' names in the hosts file (when we may write it); the block goes when the node stops. */
  updateNames(mesh: Mesh | null, remove = false): void {
    const file = this.cfg.hostsFile;
    if (!mesh || !file || !this.cfg.network || this.hostsBroken) return;
    let entries: HostEntry[] | null = null;
    if (!remove) {
      const list = [{ key: mesh.selfKey, name: this.cfg.name }];
      for (const m of mesh.members.values())
        if (m.rec && !m.removed) list.push({ key: m.key, name: m.rec.n });
      const names = memberNames(this.cfg.network.name, list);
      entries = list.map((m) => {
        const a = mesh.addressesOf(m.key);
        return { name: names.get(m.key)!, addresses: [a.v4, a.v6] };
      });
      this.names = names;
    }
    try {
      writeHostsBlock(file, this.cfg.network.name, entries);
    } catch (e) {
      this.hostsBroken = true;
      this.log.warn(
        `members' names are not in ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
          'run as root or set --hosts-file',
      );
    }
  }
}
