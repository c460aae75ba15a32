// The node's side of the host's network: this machine's addresses and LANs (what members reach us
// at), DNS for configured endpoints, the kernel routes through the TUN device for the subnets members
// offer, and members' names in the hosts file.
import { lookup } from 'node:dns/promises';
import { closeSync, fstatSync, readFileSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { ApiFailure, type RouteRow } from '../control/api';
import { DEFAULT_PORT } from '../core/constants';
import type { Device, Endpoint, PeerEndpoint } from '../core/device';
import { type Cidr, cidrOverlap, formatCidr, formatIp, parseCidr, parseIp } from '../core/ip';
import type { Mesh } from '../core/mesh';
import type { TunHelper } from '../io/helper';
import { type NodeConfig, parseEndpoint } from './config';
import type { NameEntry } from './dns';
import { type HostEntry, memberNames, openHostsFile, writeHostsBlock, writeHostsBlockFd } from './hosts';
import { type Logger, shortKey } from './log';
import type { RouteChoices } from './route-choices';

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
 * The PeerMesh interfaces of this process (several networks): none of their addresses is ever an
 * endpoint of another network (the mesh also drops every address inside an overlay range).
 */
export const peerMeshInterfaces = new Set<string>();

/**
 * This machine's unicast addresses with our UDP port: the endpoints members on the same LAN (or
 * behind the same NAT) reach us at. Loopback, link-local and our own TUN interface are left out.
 */
export function localEndpoints(port: number, tunName: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === tunName || peerMeshInterfaces.has(name) || !addrs) continue;
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
    if (name === tunName || peerMeshInterfaces.has(name) || !addrs) continue;
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
  /** `up` as root: the hosts file, opened before the drop (the node cannot open it afterwards). */
  private hostsHeld: { path: string; fd: number } | null = null;
  /**
   * The block last written or found as it should be, and the file as it was then (inode, size,
   * mtime): the clocks' 10 s check reads the file only when either changed (a hosts file may be
   * megabytes of blocked domains).
   */
  private hostsLast = { want: '', file: '' };
  /** The user's choices about members' routes (set when the node joins a network). */
  routeChoices: RouteChoices | null = null;
  /** Kernel routes through our device for the subnets members offer, kept equal to their records. */
  private readonly installedRoutes = new Set<string>();
  private readonly skippedRoutes = new Set<string>();

  constructor(
    private readonly cfg: NodeConfig,
    private readonly log: Logger,
  ) {}

  /**
   * Make the kernel's routes through the device match the subnets members offer that hold in the
   * network and that this machine's user accepted (docs/mesh.md "Subnet routes"). A subnet that
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

  /** This machine's interface prefixes (a subnet on one of them is not routed into the tunnel). */
  private localPrefixes(): Cidr[] {
    const local: Cidr[] = [];
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) {
        const c = a.cidr && !a.internal && a.address ? parseCidr(a.cidr) : null;
        if (c) local.push(c);
      }
    return local;
  }

  private wantedRoutes(mesh: Mesh): Map<string, Cidr> {
    const local = this.localPrefixes();
    const want = new Map<string, Cidr>();
    for (const m of mesh.members.values()) {
      if (!m.rec || m.removed) continue;
      if (this.cfg.memberRoutes) {
        const c = parseCidr(`${mesh.addressesOf(m.key).v4}/32`)!;
        want.set(formatCidr(c), c);
      }
      // Only routes that hold in the network and that this machine's user accepted (route-choices.ts).
      for (const text of mesh.routedOf(m.key)) {
        const c = parseCidr(text)!;
        if (local.some((l) => cidrOverlap(l, c))) {
          if (!this.skippedRoutes.has(text)) {
            this.skippedRoutes.add(text);
            this.log.warn(
              `not routing ${text} (offered by "${m.name}") into the tunnel: this machine is on it`,
            );
          }
          continue;
        }
        want.set(text, c);
      }
    }
    this.reportOwnRoutes(mesh);
    return want;
  }

  /** Our own offers refused in the network, as logged last ("route: reason" list). */
  private ownRefused = '';

  /** Log once when one of our own offers is refused in the network (or holds again). */
  private reportOwnRoutes(mesh: Mesh): void {
    const refused = mesh.routeClaims().filter((c) => c.key === mesh.selfKey && !c.holds);
    const text = refused.map((c) => `${c.route}: ${c.reason}`).join('; ');
    if (text === this.ownRefused) return;
    this.ownRefused = text;
    if (text) this.log.warn(`members do not take this node's route offer (${text})`);
    else this.log.info("members take this node's route offers");
  }

  private choices(mesh: Mesh | null): { mesh: Mesh; choices: RouteChoices } {
    if (!mesh || !this.routeChoices) throw new ApiFailure('failed', 'this node is not a member of a network');
    return { mesh, choices: this.routeChoices };
  }

  /** `routes`: every offer in the network and its state here. */
  routeRows(meshOrNull: Mesh | null): RouteRow[] {
    const { mesh, choices } = this.choices(meshOrNull);
    const local = this.localPrefixes();
    return choices.rows(mesh, (r) => local.some((l) => cidrOverlap(l, parseCidr(r)!)));
  }

  /** `accept-route`: a CIDR or `all`; the kernel follows at once. */
  acceptRoute(meshOrNull: Mesh | null, tun: TunHelper | null, route: string): { accepted: string[] } {
    const { mesh, choices } = this.choices(meshOrNull);
    const accepted = choices.accept(mesh, route);
    this.syncRoutes(mesh, tun);
    this.log.info(`accepted route(s) ${accepted.join(', ') || '(none offered)'}`);
    return { accepted };
  }

  /** `decline-route`: removed from WireGuard and the kernel at once, and kept declined. */
  declineRoute(meshOrNull: Mesh | null, tun: TunHelper | null, route: string): { declined: string } {
    const { mesh, choices } = this.choices(meshOrNull);
    const declined = choices.decline(mesh, route);
    this.syncRoutes(mesh, tun);
    this.log.info(`declined route ${declined}`);
    return { declined };
  }

  /**
   * Members' names (for the DNS responder, dns.ts) and, when we may write it, the hosts file; the
   * block goes when the node stops.
   */
  updateNames(mesh: Mesh | null, remove = false): void {
    const file = this.cfg.hostsFile;
    if (!mesh || !this.cfg.network) return;
    let entries: HostEntry[] | null = null;
    if (!remove) {
      const list = [{ key: mesh.selfKey, name: mesh.record.n, joined: mesh.record.j }];
      for (const m of mesh.members.values())
        if (m.rec && !m.removed) list.push({ key: m.key, name: m.name, joined: m.rec.j });
      const names = memberNames(this.cfg.network.name, list);
      entries = list.map((m) => {
        const a = mesh.addressesOf(m.key);
        return { name: names.get(m.key)!, addresses: [a.v4, a.v6] };
      });
      this.names = names;
    }
    if (!file || this.hostsBroken) return;
    try {
      if (!this.hostsHeld)
        this.hostsHeld = this.cfg.hostsHeld ?? (this.cfg.runAs ? openHostsFile(file) : null);
      const held = this.hostsHeld;
      const seen = () => {
        const st = held ? fstatSync(held.fd) : statSync(file);
        return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      };
      const want = JSON.stringify(entries);
      if (want === this.hostsLast.want && seen() === this.hostsLast.file) return;
      if (held) writeHostsBlockFd(held, this.cfg.network.name, entries);
      else writeHostsBlock(file, this.cfg.network.name, entries);
      this.hostsLast = { want, file: seen() };
    } catch (e) {
      this.hostsBroken = true;
      this.log.warn(
        `members' names are not in ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
          'run as root or set --hosts-file',
      );
    }
  }

  /** The node stops (after the last updateNames): the held hosts file is closed (unless lent). */
  close(): void {
    if (this.hostsHeld && this.hostsHeld.fd !== this.cfg.hostsHeld?.fd) closeSync(this.hostsHeld.fd);
    this.hostsHeld = null;
  }

  /** What the DNS responder answers now: members' names and addresses (removed ones never). */
  nameEntries(mesh: Mesh | null): NameEntry[] {
    if (!mesh) return [];
    const out: NameEntry[] = [];
    for (const [key, name] of this.names) {
      if (key !== mesh.selfKey && (mesh.members.get(key)?.removed || !mesh.members.get(key)?.rec)) continue;
      const a = mesh.addressesOf(key);
      out.push({ name, v4: a.v4, v6: a.v6 });
    }
    return out;
  }
}
