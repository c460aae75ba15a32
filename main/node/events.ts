// What the node makes of its Device's and Mesh's events: log lines, Control API events for the UIs
// (member, removed, path, route, rtt, handshake, peer online/offline), RTT answers for `ping-peer`,
// and the node-level reactions it is handed (save the network state, move our own address).
import type { ApiEvent } from '../control/api';
import type { DeviceEvent } from '../core/device';
import type { MemberView, Mesh, MeshEvent, RouteClaim } from '../core/mesh';
import { formatEndpoint } from './host-net';
import { type Logger, shortKey } from './log';
import type { MetricsFeed } from './metrics-feed';

/**
 * A member is online while it answered this node recently (Mesh.isOnline, docs/mesh.md "What the
 * status means"): hellos on its direct path answered (a path whose hellos go unanswered dies within
 * seconds), or its tunnel's packets through a relay within 30 s. A member that stops or crashes is
 * offline within 30 s, one that says goodbye or is removed at once, and one that never answered
 * this node is never online.
 */
export function isOnline(mesh: Mesh, m: MemberView): boolean {
  return !m.removed && mesh.isOnline(m.key);
}

/** RTT as shown: 0.01 ms precision. */
export function roundRtt(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Wall-clock ms of a mesh (monotonic) time, or null for 0 (never). */
function wallOf(monotonic: number): number | null {
  return monotonic ? Math.round(Date.now() - (performance.now() - monotonic)) : null;
}

/** What status and the peer list show of a member's liveness: live figures only while online. */
export function liveness(
  mesh: Mesh,
  m: MemberView,
): {
  online: boolean;
  lastSeen: number | null;
  rttMs: number | null;
  rttAgeMs: number | null;
  unansweredMs: number | null;
} {
  const online = isOnline(mesh, m);
  const measured = online && m.rtt !== null && m.rttAt > 0;
  // Hellos out and unanswered (two or more: one may just be on its way) to a member not relayed (a
  // relayed member's hellos are probes for a direct path, unanswered by nature).
  const silent = online && m.path !== 'relayed' && m.pingsOut >= 2 && m.unansweredSince > 0;
  return {
    online,
    lastSeen: wallOf(m.lastHeard),
    rttMs: measured ? roundRtt(m.rtt!) : null,
    rttAgeMs: measured ? Math.max(0, Math.round(performance.now() - m.rttAt)) : null,
    unansweredMs: silent ? Math.max(0, Math.round(performance.now() - m.unansweredSince)) : null,
  };
}

/** What the events need of the node. */
export interface EventsHost {
  readonly log: Logger;
  readonly metrics: MetricsFeed;
  readonly mesh: Mesh | null;
  readonly selfKey: string;
  emit(e: ApiEvent): void;
  /** Records, names or routes changed: save (a second after a burst of changes). */
  scheduleSave(): void;
  /** Another member's address moved (a collision) or ours did: routes, and our address, follow. */
  addressMoved(key: string, old: string, v4: string): void;
  /** The network moved to a new secret (after a removal): invitations follow. */
  secretRotated(): void;
  /** Which devices hold (and through whom) changed: our own devices' peers follow. */
  devicesChanged(): void;
}

/** One member's offer as the 'route' events compare them: a subnet route, or to be an exit node. */
export interface RouteOffer {
  key: string;
  /** The route as claimed (normalized); for an exit offer 0.0.0.0/0 (the offer covers ::/0 too). */
  prefix: string;
  exit: boolean;
}

/** What an exit offer's 'route' event carries as its prefix. */
export const EXIT_PREFIX = '0.0.0.0/0';

/**
 * The other members' offers (never `selfKey`'s), keyed `${key} ${prefix}` (`${key} exit` for an exit
 * offer): every subnet route a member claims, whether the claim holds or not (it is offered either
 * way), and one entry per member that offers to be an exit node (its 0.0.0.0/0 and ::/0, which are
 * not claims). O(claims + exit offers).
 */
export function routeOffers(
  claims: readonly RouteClaim[],
  exitKeys: Iterable<string>,
  selfKey: string,
): Map<string, RouteOffer> {
  const out = new Map<string, RouteOffer>();
  for (const c of claims)
    if (c.key !== selfKey) out.set(`${c.key} ${c.route}`, { key: c.key, prefix: c.route, exit: false });
  for (const key of exitKeys)
    if (key !== selfKey) out.set(`${key} exit`, { key, prefix: EXIT_PREFIX, exit: true });
  return out;
}

/** The offers made (`offered`) and withdrawn between two sets of routeOffers(), in that order. */
export function routeOfferChanges(
  before: ReadonlyMap<string, RouteOffer>,
  now: ReadonlyMap<string, RouteOffer>,
): { offer: RouteOffer; offered: boolean }[] {
  const out: { offer: RouteOffer; offered: boolean }[] = [];
  for (const [id, o] of now) if (!before.has(id)) out.push({ offer: o, offered: true });
  for (const [id, o] of before) if (!now.has(id)) out.push({ offer: o, offered: false });
  return out;
}

/**
 * How far a member's join time (its record's `j`, its own clock) may lie before the moment this node
 * started watching the network and still count as joining later: clocks differ by a few seconds.
 */
export const ROUTE_JOIN_SLACK_MS = 60_000;

/**
 * What 'route' events compare against, for one Mesh (a new one, after a reconnect or a join, starts
 * over). The first look is no baseline of its own: records arrive one by one (from the state file,
 * then the record sync), each with its own 'changed'. Instead, a member's offers are news when
 *  - the member was already known (a 'member' event for it came before): it changed its record, or
 *  - its record says it joined no earlier than ROUTE_JOIN_SLACK_MS before we started watching: it
 *    joined the network later (the first record of a member that was there already is not news).
 * A withdrawal is news only while the member is still in the network: a member removed (its own
 * 'removed' event) or forgotten took its routes along, it did not withdraw them.
 */
interface RouteWatch {
  mesh: Mesh;
  /** Wall ms when this node started watching this mesh. */
  since: number;
  /** Members the mesh told us about ('member' events); bounded by the mesh's member limit. */
  known: Set<string>;
  /** The claims last compared (Mesh.routeClaims() is a new array whenever any offer may have changed). */
  claims: readonly RouteClaim[] | null;
  offers: Map<string, RouteOffer>;
}

export class NodeEvents {
  /** Peers with a WireGuard session (for the up/down log lines). */
  private readonly up = new Set<string>();
  /** Members shown online (see isOnline); 'peer' events when that changes. */
  private readonly online = new Set<string>();
  private readonly rttWaiters = new Map<string, ((ms: number) => void)[]>();
  private routeWatch: RouteWatch | null = null;

  /** `wallNow`: the wall clock members' join times are compared with (tests pass a simulated one). */
  constructor(
    private readonly host: EventsHost,
    private readonly wallNow: () => number = Date.now,
  ) {}

  onDevice(e: DeviceEvent): void {
    const log = this.host.log;
    switch (e.type) {
      case 'handshake':
        this.host.emit({ type: 'handshake', key: e.peer });
        if (!this.up.has(e.peer)) {
          this.up.add(e.peer);
          log.info(`peer ${shortKey(e.peer)} up: handshake as ${e.role} with ${formatEndpoint(e.endpoint)}`);
        } else {
          log.debug(`peer ${shortKey(e.peer)}: new session as ${e.role}`);
        }
        break;
      case 'session-expired':
        if (this.up.delete(e.peer)) log.info(`peer ${shortKey(e.peer)} down: session expired`);
        break;
      case 'handshake-failed':
        log.warn(`peer ${shortKey(e.peer)}: no handshake response after ${e.attempts} attempts`);
        break;
      case 'endpoint':
        log.debug(`peer ${shortKey(e.peer)} endpoint now ${formatEndpoint(e.endpoint)}`);
        break;
      case 'log':
        log.log(e.level, e.message);
        break;
    }
  }

  onMesh(e: MeshEvent): void {
    const { log, selfKey } = this.host;
    switch (e.type) {
      case 'member':
        log.info(`member ${memberLabel(e.name, e.key)} joined the network view`);
        this.host.emit({ type: 'member', key: e.key, name: e.name.slice(0, 63) });
        this.watchRoutes()?.known.add(e.key);
        this.updateOnlineOf(e.key);
        break;
      case 'public-endpoint':
        log.info(`members see this node at ${e.endpoint}`);
        break;
      case 'removed':
        if (e.key === selfKey)
          log.error(`this node was removed from the network by ${shortKey(e.by)}; members ignore it now`);
        else log.info(`member ${memberLabel(e.name, e.key)} was removed by ${shortKey(e.by)}`);
        this.host.emit({ type: 'removed', key: e.key, name: e.name.slice(0, 63), by: e.by });
        this.updateOnline();
        break;
      case 'rotated': {
        const who = (k: string) => {
          if (k === selfKey) return 'this node';
          const name = this.host.mesh?.members.get(k)?.name;
          return name ? `"${name}" (${shortKey(k)})` : shortKey(k);
        };
        log.info(
          `the network moved to a new secret (epoch ${e.epoch}) after ${who(e.by)} removed ${who(e.removed)}`,
        );
        this.host.secretRotated();
        break;
      }
      case 'devices':
        this.host.devicesChanged();
        break;
      case 'changed':
        this.host.scheduleSave(); // also names and routes, a second after a burst of changes
        this.updateRoutes();
        break;
      case 'rtt':
        this.onRtt(e.key, e.ms);
        break;
      case 'address': {
        const name = e.key === selfKey ? 'this node' : `member ${shortKey(e.key)}`;
        log.warn(
          `${name} now uses ${e.v4}: its first choice ${e.old} collides with a member that joined earlier`,
        );
        this.host.addressMoved(e.key, e.old, e.v4);
        this.host.scheduleSave();
        break;
      }
      case 'path':
        this.onPath(e);
        // at once, not at the next once-a-second check: a goodbye or an answer moments after
        // another must not go unseen by the UIs (the check only catches what ages out)
        this.updateOnlineOf(e.key);
        break;
    }
  }

  private onRtt(key: string, ms: number): void {
    this.host.metrics.rtt(key, ms);
    const waiters = this.rttWaiters.get(key);
    this.rttWaiters.delete(key);
    for (const w of waiters ?? []) w(ms);
    // The measured value, at the precision rows show (whole ms made 1.16 ms flicker to 1.00 / 2.00).
    this.host.emit({ type: 'rtt', key, ms: Math.min(600_000, Math.max(0, roundRtt(ms))) });
  }

  private onPath(e: Extract<MeshEvent, { type: 'path' }>): void {
    const via = e.via ? this.host.mesh?.members.get(e.via)?.name || shortKey(e.via) : '';
    const how =
      e.kind === 'direct'
        ? `direct at ${e.endpoint}`
        : e.kind === 'relayed'
          ? `relayed via "${via}"`
          : 'lost';
    this.host.log.info(`path to ${memberLabel(e.name, e.key)}: ${how}`);
    this.host.emit({
      type: 'path',
      key: e.key,
      name: e.name.slice(0, 63),
      kind: e.kind,
      ...(e.kind === 'direct' && e.endpoint ? { endpoint: String(e.endpoint).slice(0, 64) } : {}),
      ...(via ? { via: via.slice(0, 63) } : {}),
    });
  }

  /** The route watch of the current mesh (a new one for a new mesh), or null without a mesh. */
  private watchRoutes(): RouteWatch | null {
    const mesh = this.host.mesh;
    if (!mesh) return null;
    if (this.routeWatch?.mesh !== mesh)
      this.routeWatch = { mesh, since: this.wallNow(), known: new Set(), claims: null, offers: new Map() };
    return this.routeWatch;
  }

  /** 'route' events for the offers made or withdrawn since the last look (see RouteWatch). */
  private updateRoutes(): void {
    const w = this.watchRoutes();
    if (!w) return;
    const { mesh } = w;
    // Any change of a record's routes (exit offers included), a removal of a member with routes and a
    // forgotten one settle the claims again; a 'changed' without that (most of them) costs nothing.
    const claims = mesh.routeClaims();
    if (claims === w.claims) return;
    w.claims = claims;
    const exits: string[] = [];
    for (const m of mesh.members.values())
      if (m.rec && !m.removed && mesh.offersExit(m.key)) exits.push(m.key);
    const now = routeOffers(claims, exits, this.host.selfKey);
    const changes = routeOfferChanges(w.offers, now);
    w.offers = now;
    for (const { offer, offered } of changes) {
      const m = mesh.members.get(offer.key);
      if (!m?.rec || m.removed) continue; // gone with its routes (removed, forgotten): not a withdrawal
      if (offered && !w.known.has(m.key) && m.rec.j < w.since - ROUTE_JOIN_SLACK_MS) continue;
      const name = memberName(mesh, m.key);
      const what = offer.exit ? 'to be an exit node' : `the route ${offer.prefix}`;
      this.host.log.info(
        `member ${memberLabel(m.name, m.key)} ${offered ? `offers ${what}` : `no longer offers ${what}`}`,
      );
      this.host.emit({ type: 'route', key: m.key, name, prefix: offer.prefix, exit: offer.exit, offered });
    }
  }

  /** The next RTT sample of a member, or null after timeoutMs. */
  nextRtt(key: string, timeoutMs: number): Promise<number | null> {
    return new Promise<number | null>((resolve) => {
      const t = setTimeout(() => resolve(null), timeoutMs);
      const list = this.rttWaiters.get(key) ?? [];
      list.push((ms) => {
        clearTimeout(t);
        resolve(ms);
      });
      this.rttWaiters.set(key, list);
    });
  }

  /** 'peer' events for members whose online state changed since the last call. */
  updateOnline(): void {
    const mesh = this.host.mesh;
    if (!mesh) return;
    for (const m of mesh.members.values()) this.check(mesh, m);
  }

  /** A 'peer' event if this member's online state changed. */
  private updateOnlineOf(key: string): void {
    const mesh = this.host.mesh;
    const m = mesh?.members.get(key);
    if (mesh && m) this.check(mesh, m);
  }

  private check(mesh: Mesh, m: MemberView): void {
    if (m.key === mesh.selfKey || !m.rec) return;
    const on = isOnline(mesh, m);
    if (on === this.online.has(m.key)) return;
    if (on) this.online.add(m.key);
    else this.online.delete(m.key);
    this.host.emit({ type: 'peer', key: m.key, name: memberName(mesh, m.key), online: on });
  }
}

/** A member in a log line: its name once known, and its key (never an empty `""`). */
function memberLabel(name: string, key: string): string {
  return name ? `"${name}" (${shortKey(key)})` : shortKey(key);
}

function memberName(mesh: Mesh, key: string): string {
  return (mesh.members.get(key)?.name || shortKey(key)).slice(0, 63);
}
