// The tray's model: which icon, which tooltip and which menu, computed from the app's state and the
// peer list. Pure (no Electron): main.ts turns the model into a Tray image and a Menu, and the unit
// tests check it directly.
import type { AppState, ConnectionState, ExitStatus, PeerRow } from '../control/api';

/** One icon per connection state (resources/icons/tray-NAME.png). */
export type TrayIconName = ConnectionState;

export type TrayAction =
  | { kind: 'connect' }
  | { kind: 'disconnect' }
  /** Copy text to the clipboard (a peer's overlay IP). */
  | { kind: 'copy'; text: string }
  /** Choose an exit node (a member's name, or `none`). */
  | { kind: 'exit-node'; node: string }
  | { kind: 'open' }
  | { kind: 'quit' };

export type TrayItem =
  | { type: 'action'; id: string; label: string; enabled: boolean; action: TrayAction }
  /** A line of information (shown disabled). */
  | { type: 'info'; id: string; label: string }
  /** One of several choices (a radio item). */
  | { type: 'choice'; id: string; label: string; checked: boolean; enabled: boolean; action: TrayAction }
  | { type: 'submenu'; id: string; label: string; items: TrayItem[] }
  | { type: 'separator' };

export interface TrayModel {
  icon: TrayIconName;
  tooltip: string;
  items: TrayItem[];
}

export interface TrayOptions {
  /** Online peers listed in the menu; the rest are summed up in one line. Default 15. */
  maxPeers?: number;
  /** This machine's exit node (status `network.exitNode`), when connected. */
  exit?: ExitStatus | null;
}

const EXIT_STATE: Record<ExitStatus['state'], string> = {
  none: 'none',
  active: 'all traffic goes through it',
  blocked: 'unavailable — traffic blocked',
  open: 'unavailable — using this machine’s connection',
};

/**
 * "Exit node ▸": none, then each member that offers to be one (the chosen one checked, also when it
 * no longer offers), and what is happening now.
 */
export function exitItems(exit: ExitStatus): TrayItem[] {
  const chosen = exit.state === 'none' ? null : exit.node;
  const names = [...new Set([...exit.offeredBy, ...(chosen ? [chosen] : [])])];
  const items: TrayItem[] = [
    {
      type: 'choice',
      id: 'exit:none',
      label: 'None',
      checked: chosen === null,
      enabled: true,
      action: { kind: 'exit-node', node: 'none' },
    },
    ...names.map(
      (n): TrayItem => ({
        type: 'choice',
        id: `exit:${n}`,
        label: menuText(n, 40),
        checked: n === chosen,
        enabled: true,
        action: { kind: 'exit-node', node: n },
      }),
    ),
  ];
  if (chosen)
    items.push({ type: 'separator' }, { type: 'info', id: 'exit:state', label: EXIT_STATE[exit.state] });
  return items;
}

const STATE_TEXT: Record<ConnectionState, string> = {
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  error: 'Error',
};

/**
 * Text fit for a menu label or tooltip: no control or bidirectional-override characters (a peer's
 * name comes from the network), `&` doubled (Electron reads a single one as a mnemonic on Linux
 * and Windows), at most `max` characters.
 */
export function menuText(s: string, max = 80): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  let t = s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').trim();
  if (t.length > max) t = `${t.slice(0, max - 1)}…`;
  return t.replace(/&/g, '&&');
}

/** The same without mnemonic escaping (tooltips show `&` as it is). */
function plainText(s: string, max: number): string {
  return menuText(s, max).replace(/&&/g, '&');
}

/** What the peer list shows as a member's name: its local alias, else its own name. */
export function displayName(p: Pick<PeerRow, 'alias' | 'name'>): string {
  return p.alias?.trim() ? p.alias : p.name;
}

export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return 'no latency yet';
  if (ms < 1) return '<1 ms';
  return `${Math.round(ms)} ms`;
}

/** Peer counts: from the peer list when there is one, else from the state's own counters. */
function counts(state: AppState, peers: PeerRow[] | null): { online: number; total: number } {
  if (peers) return { online: peers.filter((p) => p.online).length, total: peers.length };
  return { online: state.network?.onlineCount ?? 0, total: state.network?.memberCount ?? 0 };
}

function peerWord(n: number): string {
  return n === 1 ? 'peer' : 'peers';
}

export function trayIcon(state: AppState): TrayIconName {
  return state.state;
}

export function trayTooltip(state: AppState, peers: PeerRow[] | null): string {
  const net = state.network;
  if (!net) return 'PeerMesh — no network yet';
  const name = plainText(net.name, 63);
  switch (state.state) {
    case 'connected': {
      const c = counts(state, peers);
      return `PeerMesh — ${name}: ${c.online} of ${c.total} ${peerWord(c.total)} online`;
    }
    case 'connecting':
      return `PeerMesh — connecting to ${name}…`;
    case 'error':
      return `PeerMesh — ${name}: ${plainText(state.error ?? 'error', 100)}`;
    default:
      return `PeerMesh — ${name}: disconnected`;
  }
}

/** Online peers, by display name (case-insensitive, then by key, so the order is stable). */
export function onlinePeers(peers: PeerRow[]): PeerRow[] {
  return peers
    .filter((p) => p.online)
    .sort((a, b) => {
      const an = displayName(a).toLowerCase();
      const bn = displayName(b).toLowerCase();
      if (an !== bn) return an < bn ? -1 : 1;
      return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    });
}

export function trayModel(state: AppState, peers: PeerRow[] | null, opts: TrayOptions = {}): TrayModel {
  const maxPeers = opts.maxPeers ?? 15;
  const s = state.state;
  const net = state.network;
  const items: TrayItem[] = [];

  const status = s === 'error' && state.error ? `Error: ${state.error}` : STATE_TEXT[s];
  items.push({ type: 'info', id: 'status', label: menuText(status) });
  items.push({
    type: 'action',
    id: 'connect',
    label: s === 'error' ? 'Reconnect' : 'Connect',
    enabled: net !== null && (s === 'disconnected' || s === 'error'),
    action: { kind: 'connect' },
  });
  items.push({
    type: 'action',
    id: 'disconnect',
    label: 'Disconnect',
    enabled: s === 'connecting' || s === 'connected',
    action: { kind: 'disconnect' },
  });
  items.push({ type: 'separator' });

  if (!net) {
    items.push({ type: 'info', id: 'network', label: 'No network yet: open PeerMesh to create or join one' });
  } else if (s === 'connected') {
    const c = counts(state, peers);
    items.push({
      type: 'info',
      id: 'network',
      label: `network ${menuText(net.name, 63)} — ${c.online} of ${c.total} ${peerWord(c.total)} online`,
    });
    const online = onlinePeers(peers ?? []);
    for (const p of online.slice(0, maxPeers)) {
      items.push({
        type: 'action',
        id: `peer:${p.key}`,
        label: `${menuText(displayName(p), 40)}  ${p.ipv4}  (${formatLatency(p.rttMs)})`,
        enabled: true,
        action: { kind: 'copy', text: p.ipv4 },
      });
    }
    if (online.length > maxPeers)
      items.push({ type: 'info', id: 'more', label: `…and ${online.length - maxPeers} more online` });
    if (online.length > 0) items.push({ type: 'info', id: 'hint', label: 'Click a peer to copy its IP' });
    const exit = opts.exit;
    if (exit) {
      items.push({ type: 'separator' });
      const label =
        exit.state === 'none'
          ? 'Exit node: none'
          : `Exit node: ${menuText(exit.node ?? '?', 40)}${exit.state === 'active' ? '' : ` (${EXIT_STATE[exit.state]})`}`;
      items.push({ type: 'submenu', id: 'exit', label, items: exitItems(exit) });
    }
  } else {
    items.push({ type: 'info', id: 'network', label: `network ${menuText(net.name, 63)} — not connected` });
  }

  items.push({ type: 'separator' });
  items.push({ type: 'action', id: 'open', label: 'Open PeerMesh', enabled: true, action: { kind: 'open' } });
  items.push({ type: 'action', id: 'quit', label: 'Quit PeerMesh', enabled: true, action: { kind: 'quit' } });
  return { icon: trayIcon(state), tooltip: trayTooltip(state, peers), items };
}

/** Whether two models would render the same (main.ts skips rebuilding an unchanged menu). */
export function sameModel(a: TrayModel | null, b: TrayModel): boolean {
  return a !== null && JSON.stringify(a) === JSON.stringify(b);
}
