// The UI's state and every call it makes, in one zustand store over an injected Transport (tests hand
// it an in-memory one). Components poll through the refresh* actions while they are shown; events
// from the node patch the state in between.
import { createStore, type StoreApi } from 'zustand/vanilla';
import { NotifyRules } from '../../main/control/notify-rules';
import {
  type AccessStatus,
  type ApiEvent,
  type AppState,
  type ExitStatus,
  type InviteResult,
  type InviteRow,
  type LogLine,
  type MetricsResult,
  type MetricsWindow,
  type NewDevice,
  type Params,
  type PeerRow,
  type PingResult,
  request,
  type Settings,
  WINDOW_POINTS,
} from './api';
import { displayName, formatMs, pathText } from './format';
import { NOTIFY_DEFAULTS, type Notice, showSystemNotice } from './notices';
import type { PeerSort } from './peers';
import { errorText, type LinkStatus, type Transport } from './transport';

export const MAX_LOGS = 1000;
/** Events kept in the feed (oldest dropped first). */
export const MAX_FEED = 200;

/** One line of the event feed: what happened in the network, as a person would say it. */
export interface FeedItem {
  id: number;
  time: number;
  kind: 'joined' | 'online' | 'offline' | 'path' | 'removed' | 'route' | 'state';
  text: string;
}
export const MAX_TOASTS = 5;

export interface Toast {
  id: number;
  kind: 'info' | 'error';
  text: string;
}

export interface UiState {
  /** The link to the node (WebSocket or IPC). */
  link: LinkStatus;
  /** Whether the link was ever open (to tell "connecting…" from "lost connection"). */
  linkWasOpen: boolean;
  app: AppState | null;
  settings: Settings | null;
  peers: PeerRow[];
  /** When `peers` was last read (ms), 0 before the first answer. */
  peersAt: number;
  peerSort: PeerSort;
  peerFilter: string;
  /** Key of the peer whose detail view is open. */
  selected: string | null;
  metricsWindow: MetricsWindow;
  metrics: MetricsResult | null;
  metricsError: string | null;
  logs: LogLine[];
  toasts: Toast[];
  /** A connect/disconnect call is on its way and the state has not moved yet. */
  toggleBusy: boolean;
  /** This machine's exit node as the node reported it last (null: not read yet, or not connected). */
  exit: ExitStatus | null;
  /** What happened lately (members joining, coming and going, paths, routes, removals), newest last. */
  feed: FeedItem[];
  /** Who may reach this machine (the `access` method's answer; null: not read yet). */
  access: AccessStatus | null;
}

export interface UiActions {
  /** Subscribes to the transport; returns the function that unsubscribes. */
  start(): () => void;
  refreshState(): Promise<void>;
  refreshSettings(): Promise<void>;
  refreshLogs(): Promise<void>;
  refreshPeers(): Promise<void>;
  /** Reads the exit node's state (status `network.exitNode`). */
  refreshExit(): Promise<void>;
  /** A device with the WireGuard app through this node (its config, shown once); rejects with an ApiCallError. */
  addDevice(name: string): Promise<NewDevice>;
  /** Chooses an exit node (`none`: stop) and its options; rejects with an ApiCallError. */
  chooseExit(node: string, options?: { allowLan?: boolean; failOpen?: boolean }): Promise<void>;
  /** Reads the access rules and the dropped count (the `access` method). */
  refreshAccess(): Promise<void>;
  /**
   * Change the access rules (docs/access.md): allow/deny a member what (tcp/22, udp/53, icmp, any),
   * the default, or remove a rule; rejects with an ApiCallError.
   */
  setAccess(p: Params<'set-access'>): Promise<void>;
  refreshMetrics(): Promise<void>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** createNetwork … remove: reject with an ApiCallError, for the form or dialog to show. */
  createNetwork(name: string, nodeName?: string): Promise<void>;
  join(code: string, nodeName?: string): Promise<void>;
  leave(): Promise<void>;
  invite(expiresSeconds: number): Promise<InviteResult>;
  /** The invitations this node issued (codes are not in it: only ids, uses and expiry). */
  invites(): Promise<InviteRow[]>;
  revokeInvite(id: string): Promise<void>;
  rename(key: string, name: string): Promise<void>;
  saveSettings(changes: Partial<Settings>): Promise<Settings>;
  remove(key: string): Promise<void>;
  /** Shows the result as a toast (and returns it); null when the call failed. */
  pingPeer(key: string): Promise<PingResult | null>;
  select(key: string | null): void;
  setMetricsWindow(w: MetricsWindow): void;
  setPeerSort(sort: PeerSort): void;
  setPeerFilter(text: string): void;
  toast(kind: Toast['kind'], text: string): void;
  dismissToast(id: number): void;
}

export type UiStore = UiState & UiActions;
export type AppStoreApi = StoreApi<UiStore>;

const STATE_REFRESH_DELAY_MS = 250;
/** How often notices held back by the per-peer limit are looked at (notify-rules.ts tick()). */
const NOTICE_TICK_MS = 5000;

export function createAppStore(transport: Transport): AppStoreApi {
  let toastId = 0;
  let stateTimer: ReturnType<typeof setTimeout> | null = null;

  return createStore<UiStore>()((set, get) => {
    /** Replace the row of `key` with `patch` applied (no-op for an unknown key). */
    const patchPeer = (key: string, patch: (p: PeerRow) => Partial<PeerRow>) =>
      set((s) => {
        const i = s.peers.findIndex((p) => p.key === key);
        if (i < 0) return {};
        const peers = s.peers.slice();
        peers[i] = { ...peers[i], ...patch(peers[i]) };
        return { peers };
      });

    /** Several events in a burst (members arriving, a reconnect) cost one `state` call. */
    const scheduleStateRefresh = () => {
      if (stateTimer) return;
      stateTimer = setTimeout(() => {
        stateTimer = null;
        void get().refreshState();
      }, STATE_REFRESH_DELAY_MS);
    };

    // Which events are news: the desktop app's rules (settings, the burst after connecting, one per
    // peer a minute). Peer notices become toasts; every notice a browser notification where allowed.
    /** A member as the user knows it (its local alias), else the name the event gives, else its key. */
    const nameOf = (key: string, name: string) => {
      const p = get().peers.find((x) => x.key === key);
      return p ? displayName(p) : name || key.slice(0, 8);
    };
    const rules = new NotifyRules({ displayName: nameOf });
    let rulesReady = false;
    const deliver = (n: Notice | null) => {
      if (!n) return;
      if (n.kind !== 'error') get().toast('info', n.title); // errors have their own toast already
      showSystemNotice(n);
    };

    let feedId = 0;
    /** The feed's line for an event, or null (RTTs, handshakes and log lines are not news). */
    const feedLine = (e: ApiEvent): Omit<FeedItem, 'id' | 'time'> | null => {
      switch (e.type) {
        case 'member':
          return { kind: 'joined', text: `${nameOf(e.key, e.name)} joined the network` };
        case 'peer':
          return e.online
            ? { kind: 'online', text: `${nameOf(e.key, e.name)} is online` }
            : { kind: 'offline', text: `${nameOf(e.key, e.name)} went offline` };
        case 'path':
          if (e.kind === 'none') return null; // between paths, or offline (told by its own event)
          return {
            kind: 'path',
            text: `${nameOf(e.key, e.name)}: ${e.kind === 'direct' ? `direct${e.endpoint ? ` (${e.endpoint})` : ''}` : `relayed${e.via ? ` via ${e.via}` : ''}`}`,
          };
        case 'removed': {
          const by = get().peers.find((x) => x.key === e.by);
          return {
            kind: 'removed',
            text: `${nameOf(e.key, e.name)} was removed${by ? ` by ${displayName(by)}` : ''}`,
          };
        }
        case 'route': {
          const who = nameOf(e.key, e.name);
          const what = e.exit ? 'to be an exit node' : `the route ${e.prefix}`;
          return {
            kind: 'route',
            text: e.offered
              ? `${who} offers ${what}`
              : e.exit
                ? `${who} no longer offers ${what}`
                : `${who} withdrew ${what}`,
          };
        }
        case 'state':
          return e.state === 'connecting'
            ? null
            : {
                kind: 'state',
                text: e.state === 'error' ? `Connection failed: ${e.error ?? ''}` : `This device ${e.state}`,
              };
        default:
          return null;
      }
    };

    const onEvent = (e: ApiEvent) => {
      if (rulesReady) deliver(rules.onEvent(e, get().settings ?? NOTIFY_DEFAULTS, Date.now()));
      const line = feedLine(e);
      if (line) {
        const item: FeedItem = { id: ++feedId, time: Date.now(), ...line };
        set((s) => ({ feed: [...(s.feed.length >= MAX_FEED ? s.feed.slice(1) : s.feed), item] }));
      }
      switch (e.type) {
        case 'state':
          set((s) => ({
            toggleBusy: false,
            app: s.app ? { ...s.app, state: e.state, error: e.error ?? null } : s.app,
            peers: e.state === 'disconnected' ? [] : s.peers,
          }));
          scheduleStateRefresh();
          break;
        case 'peer':
          patchPeer(e.key, () => ({ online: e.online }));
          scheduleStateRefresh();
          break;
        case 'path':
          patchPeer(e.key, (p) => ({
            path: e.kind,
            via: e.kind === 'relayed' ? (e.via ?? p.via) : null,
            endpoint: e.endpoint ?? p.endpoint,
          }));
          break;
        case 'rtt':
          patchPeer(e.key, () => ({ rttMs: e.ms }));
          break;
        case 'handshake':
          patchPeer(e.key, () => ({ lastHandshake: Date.now() }));
          break;
        case 'member':
          scheduleStateRefresh();
          void get().refreshPeers();
          break;
        case 'removed':
          set((s) => ({
            peers: s.peers.filter((p) => p.key !== e.key),
            selected: s.selected === e.key ? null : s.selected,
          }));
          scheduleStateRefresh();
          break;
        case 'error':
          get().toast('error', e.message);
          break;
        case 'log':
          set((s) => ({
            logs:
              s.logs.length >= MAX_LOGS
                ? [...s.logs.slice(s.logs.length - MAX_LOGS + 1), lineOf(e)]
                : [...s.logs, lineOf(e)],
          }));
          break;
      }
    };

    const refreshAll = () => {
      void get().refreshState();
      void get().refreshSettings();
      void get().refreshLogs();
    };

    /** A command whose failure is only worth a toast. */
    const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
      try {
        return await f();
      } catch (e) {
        get().toast('error', `${what}: ${errorText(e)}`);
        return null;
      }
    };

    return {
      link: transport.onStatus ? 'connecting' : 'open',
      linkWasOpen: !transport.onStatus,
      app: null,
      settings: null,
      peers: [],
      peersAt: 0,
      peerSort: { key: 'name', dir: 'asc' },
      peerFilter: '',
      selected: null,
      metricsWindow: 60,
      metrics: null,
      metricsError: null,
      logs: [],
      toasts: [],
      toggleBusy: false,
      exit: null,
      access: null,
      feed: [],

      start() {
        const offEvent = transport.onEvent(onEvent);
        const offStatus = transport.onStatus?.((link) => {
          set((s) => ({ link, linkWasOpen: s.linkWasOpen || link === 'open' }));
          if (link === 'open') refreshAll();
        });
        if (!transport.onStatus) refreshAll();
        const noticeTimer = setInterval(() => {
          for (const n of rules.tick(get().settings ?? NOTIFY_DEFAULTS, Date.now())) deliver(n);
        }, NOTICE_TICK_MS);
        return () => {
          clearInterval(noticeTimer);
          offEvent();
          offStatus?.();
          if (stateTimer) clearTimeout(stateTimer);
          stateTimer = null;
        };
      },

      async refreshState() {
        try {
          const app = await request(transport, 'state');
          set({ app });
          if (!rulesReady) {
            rules.reset(app.state, Date.now());
            rulesReady = true;
          }
        } catch {
          /* the link status shows why; the next event or reconnect retries */
        }
      },

      async refreshSettings() {
        try {
          set({ settings: await request(transport, 'settings') });
        } catch {
          /* as above */
        }
      },

      async refreshLogs() {
        try {
          const logs = await request(transport, 'logs', { limit: MAX_LOGS });
          set({ logs: logs.slice(-MAX_LOGS) });
        } catch {
          /* as above */
        }
      },

      async refreshExit() {
        try {
          const st = await request(transport, 'status');
          set({ exit: st.network?.exitNode ?? null });
        } catch {
          /* polled again */
        }
      },

      addDevice: (name) => request(transport, 'add-device', { name }),

      async refreshAccess() {
        try {
          set({ access: await request(transport, 'access') });
        } catch {
          /* polled again (a node without a network answers an error: nothing to show) */
        }
      },

      async setAccess(p) {
        set({ access: await request(transport, 'set-access', p) });
        await get().refreshPeers();
      },

      async chooseExit(node, options = {}) {
        set({ exit: await request(transport, 'exit-node', { node, ...options }) });
      },

      async refreshPeers() {
        try {
          set({ peers: await request(transport, 'peers'), peersAt: Date.now() });
        } catch {
          /* polled again in a second */
        }
      },

      async refreshMetrics() {
        const { selected, metricsWindow } = get();
        if (!selected) return;
        try {
          const m = await request(transport, 'metrics', {
            peer: selected,
            window: metricsWindow,
            points: WINDOW_POINTS[metricsWindow],
          });
          // the view may have moved on while the call was out
          if (get().selected === selected && get().metricsWindow === metricsWindow)
            set({ metrics: m, metricsError: null });
        } catch (e) {
          if (get().selected === selected) set({ metricsError: errorText(e) });
        }
      },

      async connect() {
        set({ toggleBusy: true });
        try {
          set({ app: await request(transport, 'connect') });
        } catch (e) {
          await get().refreshState();
          // The header shows the reason of an error state; anything else is worth a toast.
          if (get().app?.state !== 'error') get().toast('error', `Connect: ${errorText(e)}`);
        } finally {
          set({ toggleBusy: false });
        }
      },

      async disconnect() {
        set({ toggleBusy: true });
        try {
          set({ app: await request(transport, 'disconnect'), peers: [] });
        } catch (e) {
          get().toast('error', `Disconnect: ${errorText(e)}`);
        } finally {
          set({ toggleBusy: false });
        }
      },

      async createNetwork(name, nodeName) {
        const app = await request(transport, 'create-network', nodeName ? { name, nodeName } : { name });
        set({ app });
        void get().refreshSettings();
      },

      async join(code, nodeName) {
        const app = await request(transport, 'join', nodeName ? { code, nodeName } : { code });
        set({ app });
        void get().refreshSettings();
      },

      async leave() {
        const app = await request(transport, 'leave');
        set({ app, peers: [], peersAt: 0, selected: null, metrics: null });
        void get().refreshSettings();
      },

      invite: (expiresSeconds) => request(transport, 'invite', { expiresSeconds }),
      invites: () => request(transport, 'invites'),
      async revokeInvite(id) {
        await request(transport, 'revoke-invite', { id });
      },

      async rename(key, name) {
        const r = await request(transport, 'rename', { peer: key, name });
        patchPeer(key, () => ({ alias: r.alias }));
      },

      async saveSettings(changes) {
        try {
          const settings = await request(transport, 'set-settings', changes);
          set({ settings });
          return settings;
        } catch (e) {
          // Not saved: the form compares with what the node really has (read again).
          void get().refreshSettings();
          throw e;
        } finally {
          // Saved or not, the node may have restarted: the header follows what is true.
          void get().refreshState();
        }
      },

      async remove(key) {
        const peer = get().peers.find((p) => p.key === key);
        const r = await request(transport, 'remove', { peer: key });
        set((s) => ({
          peers: s.peers.filter((p) => p.key !== key),
          selected: s.selected === key ? null : s.selected,
        }));
        get().toast('info', `Removed ${peer ? displayName(peer) : r.name} from the network`);
        scheduleStateRefresh();
      },

      async pingPeer(key) {
        const peer = get().peers.find((p) => p.key === key);
        const who = peer ? displayName(peer) : 'member';
        const r = await attempt(`Ping ${who}`, () => request(transport, 'ping-peer', { peer: key }));
        if (!r) return null;
        const path = pathText({ path: r.path, via: r.via });
        get().toast(
          'info',
          r.rttMs === null
            ? `Ping ${who}: no answer (${path})`
            : `Ping ${who}: ${formatMs(r.rttMs)} (${path})`,
        );
        return r;
      },

      select(key) {
        if (key === get().selected) return;
        set({ selected: key, metrics: null, metricsError: null });
      },

      setMetricsWindow(w) {
        if (w === get().metricsWindow) return;
        set({ metricsWindow: w, metrics: null, metricsError: null });
      },

      setPeerSort: (peerSort) => set({ peerSort }),
      setPeerFilter: (peerFilter) => set({ peerFilter }),

      toast(kind, text) {
        const t: Toast = { id: ++toastId, kind, text };
        set((s) => ({ toasts: [...s.toasts.slice(-(MAX_TOASTS - 1)), t] }));
      },

      dismissToast: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
    };
  });
}

function lineOf(e: Extract<ApiEvent, { type: 'log' }>): LogLine {
  return { time: e.time, level: e.level, message: e.message };
}
