// Which events become desktop notifications, given the user's settings (notifyPeerUp, notifyPeerDown,
// notifyErrors):
//   - a member coming online / going offline, but not the burst right after connecting (every member
//     comes online then) and not while we are not connected (a disconnect takes every member
//     offline: that is no news);
//   - at most one notification per peer per PEER_INTERVAL_MS: a flapping peer is summed up by one
//     trailing notification when the window ends, and only if its state differs from the one
//     last shown;
//   - errors, the same text at most once per ERROR_INTERVAL_MS, and the twin events the manager sends
//     for one failure (`state` error + `error`) once.
// Pure (no Electron, no timers, types only imported): the desktop app's main.ts and the renderer
// (web UI: in-app toasts and browser notifications) feed events with onEvent(), call tick() every few
// seconds and show what they return, so both follow the same rules.
import type { ApiEvent, ConnectionState, Settings } from './api';

export type NotifySettings = Pick<Settings, 'notifyPeerUp' | 'notifyPeerDown' | 'notifyErrors'>;

export interface Notice {
  kind: 'peer-up' | 'peer-down' | 'error';
  title: string;
  body: string;
  /** The member, for peer notices. */
  key?: string;
}

/** Peer events within this long after the connection came up are the initial burst. */
export const SETTLE_MS = 20_000;
/** At most one notification per peer per this long. */
export const PEER_INTERVAL_MS = 60_000;
/** The same error text at most once per this long. */
export const ERROR_INTERVAL_MS = 60_000;
/** Peers remembered (oldest forgotten first). */
const MAX_PEERS = 4096;

interface PeerRecord {
  /** When the last notification for this peer was shown. */
  at: number;
  /** The state that notification showed. */
  online: boolean;
  /** The latest change seen inside the window, waiting for tick(). */
  pending: { online: boolean; name: string } | null;
}

export interface NotifyOptions {
  /** A peer's name as the user knows it (its local alias); default: the name in the event. */
  displayName?: (key: string, name: string) => string;
}

export class NotifyRules {
  private state: ConnectionState = 'disconnected';
  private connectedAt = Number.NEGATIVE_INFINITY;
  private readonly peers = new Map<string, PeerRecord>();
  private readonly errors = new Map<string, number>();

  constructor(private readonly opts: NotifyOptions = {}) {}

  /** Where the node is when the rules start (an app opened while already connecting, say). */
  reset(state: ConnectionState, now: number): void {
    this.state = state;
    this.connectedAt = state === 'connected' ? now : Number.NEGATIVE_INFINITY;
    this.peers.clear();
  }

  onEvent(e: ApiEvent, settings: NotifySettings, now: number): Notice | null {
    switch (e.type) {
      case 'state': {
        const was = this.state;
        this.state = e.state;
        if (e.state === 'connected' && was !== 'connected') {
          this.connectedAt = now;
          // what happened during a previous connection is not news any more
          for (const r of this.peers.values()) r.pending = null;
        }
        if (e.state === 'error') return this.error(e.error ?? 'the connection failed', settings, now);
        return null;
      }
      case 'error':
        return this.error(e.message, settings, now);
      case 'peer':
        return this.peer(e.key, e.name, e.online, settings, now);
      default:
        return null;
    }
  }

  /** Trailing notices of peers whose window has ended with a state not shown yet. */
  tick(settings: NotifySettings, now: number): Notice[] {
    const out: Notice[] = [];
    for (const [key, r] of this.peers) {
      if (!r.pending || now - r.at < PEER_INTERVAL_MS) continue;
      const p = r.pending;
      r.pending = null;
      if (this.state !== 'connected' || p.online === r.online || !wanted(p.online, settings)) continue;
      r.at = now;
      r.online = p.online;
      out.push(this.peerNotice(key, p.name, p.online));
    }
    return out;
  }

  private peer(
    key: string,
    name: string,
    online: boolean,
    settings: NotifySettings,
    now: number,
  ): Notice | null {
    if (this.state !== 'connected' || now - this.connectedAt < SETTLE_MS) return null;
    const r = this.peers.get(key);
    if (r && now - r.at < PEER_INTERVAL_MS) {
      r.pending = { online, name };
      return null;
    }
    if (!wanted(online, settings)) return null;
    this.peers.delete(key); // re-insert: the map's order is the order of last use
    this.peers.set(key, { at: now, online, pending: null });
    if (this.peers.size > MAX_PEERS) this.peers.delete(this.peers.keys().next().value as string);
    return this.peerNotice(key, name, online);
  }

  private peerNotice(key: string, name: string, online: boolean): Notice {
    const shown = (this.opts.displayName?.(key, name) ?? name).slice(0, 63) || key.slice(0, 8);
    return online
      ? { kind: 'peer-up', key, title: `${shown} is online`, body: 'A member of your network came online.' }
      : {
          kind: 'peer-down',
          key,
          title: `${shown} went offline`,
          body: 'A member of your network is unreachable.',
        };
  }

  private error(message: string, settings: NotifySettings, now: number): Notice | null {
    if (!settings.notifyErrors) return null;
    const text = message.slice(0, 300);
    const last = this.errors.get(text);
    if (last !== undefined && now - last < ERROR_INTERVAL_MS) return null;
    this.errors.set(text, now);
    if (this.errors.size > 64) this.errors.delete(this.errors.keys().next().value as string);
    return { kind: 'error', title: 'PeerMesh: connection problem', body: text };
  }
}

function wanted(online: boolean, s: NotifySettings): boolean {
  return online ? s.notifyPeerUp : s.notifyPeerDown;
}
