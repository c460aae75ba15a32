// Subnet routes members offer, and which of them hold (docs/mesh.md, "Subnet routes"). The same rule
// runs at every member over the same records, so every member comes to the same answer:
//
// - A route is refused outright when it is wider than the helper lets a route be, overlaps the overlay ranges (100.64.0.0/10, the network's IPv6
//   /48: every member's own addresses lie there), or is not a unicast subnet (loopback, link-local,
//   multicast, reserved).
// - Of two members' routes that overlap, the older claim holds: the member that joined first (the
//   signed join time `j` of its record), then the smaller key; the other is refused. Arrival order
//   plays no part.
//
// The default routes 0.0.0.0/0 and ::/0 in a record are not claims: they say the member offers itself
// as an exit node (exit-nodes.md), which a machine uses only when its user chooses that member.
//
// A route that holds reaches WireGuard (the member's allowed IPs) and the routing index only once
// this machine's user accepted it (MeshOptions.acceptRoute, asked again through Mesh.routesChanged);
// the node installs kernel routes for the same set.

import { type Cidr, cidrOverlap, formatCidr, parseCidr } from '../ip';
import { memberAddresses, OVERLAY_V4_PREFIX, OVERLAY_V6_PREFIX } from './addresses';
import type { Core } from './core';

/** The widest routes the helper routes (its policy_check_prefix(), docs/helper.md). */
export const ROUTE_MIN_PREFIX_V4 = 8;
export const ROUTE_MIN_PREFIX_V6 = 16;

/** What a record's routes carry when the member offers itself as an exit node. */
export const EXIT_ROUTES = ['0.0.0.0/0', '::/0'] as const;

/** Whether a record's route is the exit offer (a default route), not a subnet claim. */
export function isExitOffer(route: string): boolean {
  return route === '0.0.0.0/0' || route === '::/0';
}

/** One member's offer of one route, and whether it holds. */
export interface RouteClaim {
  /** The route as offered, normalized (host bits cleared). */
  route: string;
  /** The offering member's key (ours included). */
  key: string;
  /** Whether the claim holds (it is the route's owner in the network). */
  holds: boolean;
  /** Why it does not hold (null when it does). */
  reason: string | null;
  /** The member whose older claim it overlaps, when that is why. */
  ownedBy: string | null;
}

const NOT_SUBNETS: [string, string][] = [
  ['0.0.0.0/8', 'not a routable subnet ("this network")'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/127', 'not a routable subnet (unspecified or loopback)'],
  ['::ffff:0:0/96', 'IPv4-mapped addresses'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
];
const notSubnets = NOT_SUBNETS.map(([c, why]) => [parseCidr(c)!, why] as const);

/**
 * Why a route may never be offered in this network (null: it may, if no older claim overlaps it).
 * `overlayV6` is the network's IPv6 /48 (null: not known yet, as when a config is checked).
 */
export function routeRefusal(c: Cidr, overlayV6: Cidr | null): string | null {
  if (c.prefix === 0) return 'a default route: offer this node as an exit node instead (--advertise-exit)';
  const min = c.family === 4 ? ROUTE_MIN_PREFIX_V4 : ROUTE_MIN_PREFIX_V6;
  if (c.prefix < min) return `wider than /${min} (for all traffic, offer this node as an exit node)`;
  const overlayV4 = parseCidr(`100.64.0.0/${OVERLAY_V4_PREFIX}`)!;
  for (const o of overlayV6 ? [overlayV4, overlayV6] : [overlayV4])
    if (cidrOverlap(c, o)) return `overlaps the network's own addresses (${formatCidr(o)})`;
  for (const [s, why] of notSubnets) if (cidrOverlap(c, s)) return `${why} (${formatCidr(s)})`;
  return null;
}

/** Private address space (RFC 1918, the benchmarking 198.18.0.0/15, IPv6 ULAs): LANs, not the internet. */
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '198.18.0.0/15', 'fc00::/7'].map(
  (c) => parseCidr(c)!,
);

/**
 * Whether a route lies wholly in private address space: `--accept-routes` accepts only such routes
 * by itself; a route to public addresses (say 8.0.0.0/8, which would take this machine's traffic to
 * 8.8.8.8) is accepted only by name.
 */
export function isPrivateRoute(c: Cidr): boolean {
  return PRIVATE.some((p) => p.family === c.family && p.prefix <= c.prefix && cidrOverlap(p, c));
}

/** Compare claimants: the member that joined first, then the smaller key. */
export function olderFirst(a: { key: string; joined: number }, b: { key: string; joined: number }): number {
  return a.joined - b.joined || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * Settle every member's offered routes (ourselves included): refused ones, and of overlapping ones
 * the older claim. Pure: the same offers give the same answer at every member, in any order.
 */
export function settleClaims(
  offers: { key: string; joined: number; routes: readonly string[] }[],
  overlayV6: Cidr,
): RouteClaim[] {
  const out: RouteClaim[] = [];
  const held: { c: Cidr; key: string }[] = [];
  for (const o of [...offers].sort(olderFirst)) {
    const seen = new Set<string>();
    for (const text of o.routes) {
      const c = parseCidr(text);
      if (!c) continue; // records with malformed routes are refused when taken in
      if (isExitOffer(text)) continue; // an exit offer, not a claim
      const route = formatCidr(c);
      if (seen.has(route)) continue;
      seen.add(route);
      let reason = routeRefusal(c, overlayV6);
      let ownedBy: string | null = null;
      if (!reason) {
        const owner = held.find((h) => h.key !== o.key && cidrOverlap(h.c, c));
        if (owner) {
          ownedBy = owner.key;
          reason = `overlaps ${formatCidr(owner.c)}, claimed earlier by another member`;
        }
      }
      if (!reason) held.push({ c, key: o.key });
      out.push({ route, key: o.key, holds: !reason, reason, ownedBy });
    }
  }
  return out;
}

/** The claims of the members we know, kept settled, and which of them we route (accepted ones). */
export class Routes {
  private claims: RouteClaim[] = [];
  /** Member key -> the routes of its that hold and we accepted (what WireGuard and the index get). */
  private routed = new Map<string, Cidr[]>();
  readonly overlayV6: Cidr;
  /** The member this machine's user chose as its exit node (all traffic through it), or null. */
  exitKey: string | null = null;

  constructor(private readonly core: Core) {
    const v6 = memberAddresses(core.opts.network, new Uint8Array(32)).v6;
    this.overlayV6 = parseCidr(`${v6}/${OVERLAY_V6_PREFIX}`)!;
  }

  /** Every member's claims (ourselves included), as settled last. */
  all(): readonly RouteClaim[] {
    return this.claims;
  }

  /** The routes of a member that hold and that we accepted. */
  routedOf(key: string): readonly Cidr[] {
    return this.routed.get(key) ?? [];
  }

  /**
   * Settle the claims again (a record with routes, or a join time, came, changed or went; the user
   * accepted or declined one) and give members whose routed set changed their new allowed IPs.
   */
  settle(): void {
    const c = this.core;
    const offers: { key: string; joined: number; routes: readonly string[] }[] = [];
    const self = c.records.self;
    if (self.rt.length) offers.push({ key: c.selfKey, joined: c.addresses.joined, routes: self.rt });
    for (const m of c.members.values())
      if (m.rec && !m.removed && m.rec.rt.length)
        offers.push({ key: m.key, joined: m.rec.j, routes: m.rec.rt });
    this.claims = settleClaims(offers, this.overlayV6);
    const accept = c.opts.acceptRoute ?? (() => false);
    const routed = new Map<string, Cidr[]>();
    for (const cl of this.claims) {
      if (!cl.holds || cl.key === c.selfKey || !accept(cl.route, cl.key)) continue;
      const list = routed.get(cl.key) ?? [];
      list.push(parseCidr(cl.route)!);
      routed.set(cl.key, list);
    }
    const before = this.routed;
    this.routed = routed;
    for (const key of new Set([...before.keys(), ...routed.keys()])) {
      const was = (before.get(key) ?? []).map(formatCidr).join(',');
      const now = (routed.get(key) ?? []).map(formatCidr).join(',');
      const m = c.members.get(key);
      if (was !== now && m?.rec && !m.removed) c.ensurePeer(m, 'changed');
    }
  }
}
