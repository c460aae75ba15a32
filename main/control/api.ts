// The Control API catalogue: every method a client (CLI over the unix socket, browser over the web UI
// server's WebSocket, later the desktop app over IPC) may call, with the runtime schema of its
// params, and the events a node streams. Each transport hands raw messages to parseRequest() and
// calls the handler only with what it returns. The renderer imports the types only.
import { MESH_MAX_ROUTES } from '../core/constants';
import {
  arr,
  bool,
  cidr,
  type Infer,
  int,
  obj,
  oneOf,
  optional,
  type Schema,
  SchemaError,
  str,
} from './schema';

/** Largest message any transport accepts. */
export const MAX_MESSAGE_BYTES = 65_536;

/** A member: its key, name, hosts-file name (pi.home) or overlay IPv4. */
const peer = str({ min: 1, max: 100, what: 'a member (key, name or overlay IPv4)' });

/** A network name: what `NAME` in `pi.NAME` and the config file name are made of. */
const networkName = str({
  min: 1,
  max: 63,
  pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
  what: 'a network name (letters, digits, - and _)',
});
/** A node name: a DNS label. */
const nodeName = str({
  min: 1,
  max: 63,
  pattern: /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
  what: 'a name of letters, digits and - (a DNS label)',
});

/** Settings a user may change; each optional in `set-settings`. */
const settingsShape = {
  nodeName: optional(nodeName),
  listenPort: optional(int({ min: 0, max: 65535 })),
  interfaceName: optional(
    str({ min: 1, max: 15, pattern: /^[A-Za-z0-9_.-]+$/, what: 'an interface name (at most 15 characters)' }),
  ),
  relay: optional(bool()),
  advertiseRoutes: optional(arr(cidr(), { max: MESH_MAX_ROUTES })),
  startConnected: optional(bool()),
  launchAtLogin: optional(bool()),
  theme: optional(oneOf('system', 'light', 'dark')),
  notifyPeerUp: optional(bool()),
  notifyPeerDown: optional(bool()),
  notifyErrors: optional(bool()),
};

export const METHODS = {
  // queries
  status: { kind: 'query', params: obj({}) },
  ping: { kind: 'query', params: obj({}) },
  /** The app's state (connection state, network, own addresses): what the toggle and tray show. */
  state: { kind: 'query', params: obj({}) },
  /** One row per member (the peer list), with a 60 s RTT sparkline each. */
  peers: { kind: 'query', params: obj({}) },
  metrics: {
    kind: 'query',
    params: obj({
      peer,
      window: optional(oneOf(60, 900, 3600)),
      points: optional(int({ min: 1, max: 3600 })),
    }),
  },
  'ping-peer': { kind: 'query', params: obj({ peer }) },
  settings: { kind: 'query', params: obj({}) },
  logs: {
    kind: 'query',
    params: obj({
      level: optional(oneOf('debug', 'info', 'warn', 'error')),
      limit: optional(int({ min: 1, max: 1000 })),
    }),
  },
  // commands
  connect: { kind: 'command', params: obj({}) },
  disconnect: { kind: 'command', params: obj({}) },
  'create-network': { kind: 'command', params: obj({ name: networkName, nodeName: optional(nodeName) }) },
  join: {
    kind: 'command',
    params: obj({ code: str({ min: 10, max: 2000, what: 'a join code' }), nodeName: optional(nodeName) }),
  },
  leave: { kind: 'command', params: obj({}) },
  invite: { kind: 'command', params: obj({ expiresSeconds: optional(int({ min: 60, max: 30 * 86400 })) }) },
  remove: { kind: 'command', params: obj({ peer }) },
  /** A local name for a member (only this node shows it); an empty name removes it. */
  rename: {
    kind: 'command',
    params: obj({ peer, name: str({ max: 63, what: 'a name of at most 63 characters' }) }),
  },
  'set-settings': { kind: 'command', params: obj(settingsShape) },
} as const satisfies Record<string, { kind: 'query' | 'command'; params: Schema<unknown> }>;

export type MethodName = keyof typeof METHODS;
export type Settings = Required<Infer<ReturnType<typeof obj<typeof settingsShape>>>>;

export type Params<M extends MethodName> = Infer<(typeof METHODS)[M]['params']>;

export interface Request {
  id: number | string;
  method: string;
  params?: unknown;
}

export type ErrorCode = 'bad_request' | 'unknown_method' | 'bad_params' | 'failed' | 'busy' | 'internal';

export interface ApiError {
  code: ErrorCode | string;
  message: string;
}

export type Response =
  | { id: number | string | null; result: unknown }
  | { id: number | string | null; error: ApiError };

export type Parsed =
  | { ok: true; id: number | string; method: MethodName; params: unknown }
  | { ok: false; id: number | string | null; error: ApiError };

/** The one entry every transport calls with a decoded JSON message. Never throws. */
export function parseRequest(raw: unknown): Parsed {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, id: null, error: { code: 'bad_request', message: 'a request is a JSON object' } };
  const r = raw as Record<string, unknown>;
  const id =
    (typeof r.id === 'number' && Number.isFinite(r.id)) || (typeof r.id === 'string' && r.id.length <= 64)
      ? (r.id as number | string)
      : null;
  if (id === null)
    return {
      ok: false,
      id: null,
      error: { code: 'bad_request', message: 'id must be a number or a short string' },
    };
  for (const k of Object.keys(r))
    if (k !== 'id' && k !== 'method' && k !== 'params')
      return {
        ok: false,
        id,
        error: { code: 'bad_request', message: `unknown field ${JSON.stringify(k.slice(0, 40))}` },
      };
  if (typeof r.method !== 'string' || !Object.hasOwn(METHODS, r.method))
    return {
      ok: false,
      id,
      error: {
        code: 'unknown_method',
        message:
          `unknown method ${typeof r.method === 'string' ? JSON.stringify(r.method.slice(0, 40)) : ''}`.trim(),
      },
    };
  const method = r.method as MethodName;
  try {
    const params = METHODS[method].params.parse(r.params ?? {}, 'params');
    return { ok: true, id, method, params };
  } catch (e) {
    if (e instanceof SchemaError) return { ok: false, id, error: { code: 'bad_params', message: e.message } };
    return { ok: false, id, error: { code: 'bad_params', message: 'params could not be read' } };
  }
}

// ---- results ----------------------------------------------------------------------------------

export const CONNECTION_STATES = ['disconnected', 'connecting', 'connected', 'error'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** `state`: what the connect toggle, the tray and the first-run screen need. */
export interface AppState {
  state: ConnectionState;
  /** Why the state is `error` (or why the last attempt failed). */
  error: string | null;
  /** The configured network, or null before the first run (create or join). */
  network: {
    name: string;
    nodeName: string;
    publicKey: string | null;
    ipv4: string | null;
    ipv6: string | null;
    dnsName: string | null;
    listenPort: number | null;
    interface: string | null;
    memberCount: number;
    onlineCount: number;
  } | null;
  /** True in the desktop app (launch at login applies), false in the headless web UI. */
  desktop: boolean;
}

/** How traffic reaches a member (one type, the mesh's). */
export type { PathKind } from '../core/mesh/path-kind';

import type { PathKind } from '../core/mesh/path-kind';

/** `peers`: one row of the peer list. */
export interface PeerRow {
  key: string;
  /** The member's own name (signed in its record). */
  name: string;
  /** A local name given with `rename`, or null. */
  alias: string | null;
  dnsName: string | null;
  ipv4: string;
  ipv6: string | null;
  /**
   * Whether the member answered this node recently (docs/mesh.md, "Online"): its direct path's
   * hellos are answered, or its tunnel's packets arrive through a relay within 30 s.
   */
  online: boolean;
  path: PathKind;
  /** Name of the relaying member when `path` is `relayed`. */
  via: string | null;
  endpoint: string | null;
  /** Last measured RTT in ms (0.01 ms precision), or null; null while offline. */
  rttMs: number | null;
  /** How long ago that RTT was measured, ms, or null. */
  rttAgeMs: number | null;
  /** ms since epoch when the member last answered this node, or null (never). */
  lastSeen: number | null;
  /** Probe loss over the last minute, 0..1, or null without probes. */
  loss: number | null;
  rxBps: number;
  txBps: number;
  rxBytes: number;
  txBytes: number;
  /** ms since epoch of the last handshake, or null. */
  lastHandshake: number | null;
  relay: boolean;
  routes: string[];
  /** Per-second RTT (ms) of the last 60 s, oldest first; null where no sample. */
  spark: (number | null)[];
}

export interface LogLine {
  time: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

// ---- events ------------------------------------------------------------------------------------

const pathKind = oneOf('direct', 'relayed', 'none');

export const EVENTS = {
  member: obj({ type: oneOf('member'), key: str({ max: 44 }), name: str({ max: 63 }) }),
  removed: obj({
    type: oneOf('removed'),
    key: str({ max: 44 }),
    name: str({ max: 63 }),
    by: str({ max: 44 }),
  }),
  path: obj({
    type: oneOf('path'),
    key: str({ max: 44 }),
    name: str({ max: 63 }),
    kind: pathKind,
    endpoint: optional(str({ max: 64 })),
    via: optional(str({ max: 63 })),
  }),
  rtt: obj({ type: oneOf('rtt'), key: str({ max: 44 }), ms: int({ min: 0, max: 600_000 }) }),
  handshake: obj({ type: oneOf('handshake'), key: str({ max: 44 }) }),
  error: obj({ type: oneOf('error'), message: str({ max: 512 }) }),
  /** The connection state changed (what the toggle and the tray show). */
  state: obj({
    type: oneOf('state'),
    state: oneOf(...CONNECTION_STATES),
    error: optional(str({ max: 512 })),
  }),
  /** A member came online (a handshake) or went offline (no session for 3 minutes, or removed). */
  peer: obj({ type: oneOf('peer'), key: str({ max: 44 }), name: str({ max: 63 }), online: bool() }),
  log: obj({
    type: oneOf('log'),
    time: int({ min: 0 }),
    level: oneOf('debug', 'info', 'warn', 'error'),
    message: str({ max: 2000 }),
  }),
} as const;

export type EventName = keyof typeof EVENTS;
export type ApiEvent = { [K in EventName]: Infer<(typeof EVENTS)[K]> }[EventName];

/** Check an event a client received (a client must not trust a stream blindly either). */
export function parseEvent(raw: unknown): ApiEvent | null {
  const t = (raw as { type?: unknown } | null)?.type;
  if (typeof t !== 'string' || !Object.hasOwn(EVENTS, t)) return null;
  try {
    return EVENTS[t as EventName].parse(raw, 'event') as ApiEvent;
  } catch {
    return null;
  }
}
