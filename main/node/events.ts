// What the node makes of its Device's and Mesh's events: log lines, Control API events for the UIs
// (member, removed, path, rtt, handshake, peer online/offline), RTT answers for `ping-peer`, and the
// node-level reactions it is handed (save the network state, move our own address).
import type { ApiEvent } from '../control/api';
import type { DeviceEvent } from '../core/device';
import type { MemberView, Mesh, MeshEvent } from '../core/mesh';
import { formatEndpoint } from './host-net';
import { type Logger, shortKey } from './log';
import type { MetricsFeed } from './metrics-feed';

/**
 * A member is online while the mesh has a path to it: its hellos on a direct path answered within
 * 65 s, or a relay that reaches it. (A WireGuard session exists only while traffic flows: paths to
 * idle members are made on demand.) A member that stops or crashes goes offline when its path
 * times out; a removed one at once.
 */
export function isOnline(m: MemberView): boolean {
  return !m.removed && m.path !== 'none';
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
}

export class NodeEvents {
  /** Peers with a WireGuard session (for the up/down log lines). */
  private readonly up = new Set<string>();
  /** Members shown online (see isOnline); 'peer' events when that changes. */
  private readonly online = new Set<string>();
  private readonly rttWaiters = new Map<string, ((ms: number) => void)[]>();

  constructor(private readonly host: EventsHost) {}

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
        log.info(`member "${e.name}" (${shortKey(e.key)}) joined the network view`);
        this.host.emit({ type: 'member', key: e.key, name: e.name.slice(0, 63) });
        break;
      case 'public-endpoint':
        log.info(`members see this node at ${e.endpoint}`);
        break;
      case 'removed':
        if (e.key === selfKey)
          log.error(`this node was removed from the network by ${shortKey(e.by)}; members ignore it now`);
        else log.info(`member "${e.name}" (${shortKey(e.key)}) was removed by ${shortKey(e.by)}`);
        this.host.emit({ type: 'removed', key: e.key, name: e.name.slice(0, 63), by: e.by });
        this.updateOnline();
        break;
      case 'changed':
        this.host.scheduleSave(); // also names and routes, a second after a burst of changes
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
        break;
    }
  }

  private onRtt(key: string, ms: number): void {
    this.host.metrics.rtt(key, ms);
    const waiters = this.rttWaiters.get(key);
    this.rttWaiters.delete(key);
    for (const w of waiters ?? []) w(ms);
    this.host.emit({ type: 'rtt', key, ms: Math.min(600_000, Math.max(0, Math.round(ms))) });
  }

  private onPath(e: Extract<MeshEvent, { type: 'path' }>): void {
    const via = e.via ? this.host.mesh?.members.get(e.via)?.rec?.n || shortKey(e.via) : '';
    const how =
      e.kind === 'direct'
        ? `direct at ${e.endpoint}`
        : e.kind === 'relayed'
          ? `relayed via "${via}"`
          : 'lost';
    this.host.log.info(`path to "${e.name}" (${shortKey(e.key)}): ${how}`);
    this.host.emit({
      type: 'path',
      key: e.key,
      name: e.name.slice(0, 63),
      kind: e.kind,
      ...(e.kind === 'direct' && e.endpoint ? { endpoint: String(e.endpoint).slice(0, 64) } : {}),
      ...(via ? { via: via.slice(0, 63) } : {}),
    });
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
    for (const m of mesh.members.values()) {
      if (m.key === mesh.selfKey || !m.rec) continue;
      const on = isOnline(m);
      if (on === this.online.has(m.key)) continue;
      if (on) this.online.add(m.key);
      else this.online.delete(m.key);
      this.host.emit({ type: 'peer', key: m.key, name: memberName(mesh, m.key), online: on });
    }
  }
}

function memberName(mesh: Mesh, key: string): string {
  return (mesh.members.get(key)?.rec?.n ?? shortKey(key)).slice(0, 63);
}
