// The Control API contract: every method a client (CLI over the unix socket, browser over the web UI
// server's WebSocket, the desktop app over Electron IPC) may call, with the runtime schema of its
// params, its result type and the error codes it may answer with; the error codes and the one mapping
// of a thrown error to them (toApiError); and the events a node streams. Each transport hands raw
// messages to parseRequest() and calls the handler only with what it returns. The renderer imports
// the types only. This file knows nothing of the node: the node implements NodeHandlers from it.

import { INVITE_MAX_USES, MESH_MAX_ROUTES } from '../core/constants';
import { NETWORK_NAME_RE } from '../core/names';
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
  pattern: NETWORK_NAME_RE,
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

/** Codes beyond the ones every method may answer with (COMMON_ERRORS). */
const FAILS = ['failed'] as const;
const NEVER = [] as const;

/**
 * Every method: its kind, who serves it, the schema of its params and the error codes it may answer
 * with besides COMMON_ERRORS. `served`: 'node' = the node (PeerMeshNode) implements it and the app's
 * NodeManager forwards it to the node's worker; 'app' = the NodeManager's own (the profile, the
 * connection, logs); 'each' = whoever receives it answers (a bare node's unix socket too).
 * The result of each method is `Results[M]` below.
 */
export const METHODS = {
  // queries
  status: { kind: 'query', served: 'node', errors: FAILS, params: obj({}) },
  ping: { kind: 'query', served: 'each', errors: NEVER, params: obj({}) },
  /** The app's state (connection state, network, own addresses): what the toggle and tray show. */
  state: { kind: 'query', served: 'app', errors: NEVER, params: obj({}) },
  /** One row per member (the peer list), with a 60 s RTT sparkline each. */
  peers: { kind: 'query', served: 'node', errors: FAILS, params: obj({}) },
  metrics: {
    kind: 'query',
    served: 'node',
    errors: FAILS,
    params: obj({
      peer,
      window: optional(oneOf(60, 900, 3600)),
      points: optional(int({ min: 1, max: 3600 })),
    }),
  },
  'ping-peer': { kind: 'query', served: 'node', errors: FAILS, params: obj({ peer }) },
  settings: { kind: 'query', served: 'app', errors: NEVER, params: obj({}) },
  logs: {
    kind: 'query',
    served: 'app',
    errors: NEVER,
    params: obj({
      level: optional(oneOf('debug', 'info', 'warn', 'error')),
      limit: optional(int({ min: 1, max: 1000 })),
    }),
  },
  // commands
  connect: { kind: 'command', served: 'app', errors: FAILS, params: obj({}) },
  disconnect: { kind: 'command', served: 'app', errors: NEVER, params: obj({}) },
  'create-network': {
    kind: 'command',
    served: 'app',
    errors: FAILS,
    params: obj({ name: networkName, nodeName: optional(nodeName) }),
  },
  join: {
    kind: 'command',
    served: 'app',
    errors: FAILS,
    params: obj({ code: str({ min: 10, max: 2000, what: 'a join code' }), nodeName: optional(nodeName) }),
  },
  leave: { kind: 'command', served: 'app', errors: FAILS, params: obj({}) },
  invite: {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({
      expiresSeconds: optional(int({ min: 60, max: 30 * 86400 })),
      /** Machines the code may admit (default 1). */
      uses: optional(int({ min: 1, max: INVITE_MAX_USES })),
    }),
  },
  /** The invitations this node issued and still keeps (open, used, expired, revoked). */
  invites: { kind: 'query', served: 'node', errors: FAILS, params: obj({}) },
  /** Revoke an invitation by its id (from `invites`): it admits no one from now on. */
  'revoke-invite': {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({
      id: str({ min: 8, max: 8, pattern: /^[0-9a-f]{8}$/, what: 'an invitation id (8 hex digits)' }),
    }),
  },
  remove: { kind: 'command', served: 'node', errors: FAILS, params: obj({ peer }) },
  /** A local name for a member (only this node shows it); an empty name removes it. */
  rename: {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({ peer, name: str({ max: 63, what: 'a name of at most 63 characters' }) }),
  },
  'set-settings': { kind: 'command', served: 'app', errors: FAILS, params: obj(settingsShape) },
  /** Every route members offer, with its state here (RouteRow): `peermesh routes`. */
  routes: { kind: 'query', served: 'node', errors: FAILS, params: obj({}) },
  /** Route the offer of a route that holds (from the member offering it now), or every one: `all`. */
  'accept-route': {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({ route: str({ min: 3, max: 50, what: 'a route (CIDR such as 192.168.1.0/24) or "all"' }) }),
  },
  /** Stop routing a route (whoever offers it) and keep it declined. */
  'decline-route': { kind: 'command', served: 'node', errors: FAILS, params: obj({ route: cidr() }) },
  /**
   * A device that cannot run PeerMesh (a phone's WireGuard app): a key pair, an address and a
   * wg-quick config with this node as its gateway (docs/devices.md). The private key is in the
   * answer only. `endpoint`: where the device reaches this node (default: as members see it).
   */
  'add-device': {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({
      name: str({
        min: 1,
        max: 32,
        pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
        what: 'a device name (letters, digits, . _ -)',
      }),
      endpoint: optional(str({ min: 3, max: 300, what: 'HOST:PORT where the device reaches this node' })),
    }),
  },
  /** Remove a device of this node: its peer goes at once, and members stop routing it. */
  'remove-device': {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({ name: str({ min: 1, max: 64, what: 'a device name or key' }) }),
  },
  /** The devices this node is the gateway of. */
  devices: { kind: 'query', served: 'node', errors: FAILS, params: obj({}) },
  /**
   * Send all traffic through a member that offers to be an exit node (`none`: stop), with or without
   * access to this machine's LANs, failing closed or open when it goes away (docs/exit-nodes.md).
   */
  'exit-node': {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({
      node: str({ min: 1, max: 63, what: 'a member (name, key or overlay IPv4) or "none"' }),
      allowLan: optional(bool()),
      failOpen: optional(bool()),
    }),
  },
  /** Who may reach this machine through the mesh (docs/access.md). */
  access: { kind: 'query', served: 'node', errors: FAILS, params: obj({}) },
  /**
   * Change the access rules: allow/deny a member (name, key, overlay IPv4 or "all") what (tcp/22,
   * udp/60000-61000, tcp, icmp, any); the default when no rule matches; remove the rule at a 1-based
   * position. Applied at once.
   */
  'set-access': {
    kind: 'command',
    served: 'node',
    errors: FAILS,
    params: obj({
      op: oneOf('allow', 'deny', 'remove', 'default'),
      peer: optional(str({ min: 1, max: 63, what: 'a member (name, key or overlay IPv4) or "all"' })),
      what: optional(
        str({ min: 1, max: 24, what: 'tcp/PORT[-PORT], udp/PORT[-PORT], tcp, udp, icmp or any' }),
      ),
      policy: optional(oneOf('allow', 'deny')),
      index: optional(int({ min: 1, max: 1000 })),
    }),
  },
} as const satisfies Record<
  string,
  {
    kind: 'query' | 'command';
    served: 'node' | 'app' | 'each';
    errors: readonly ErrorCode[];
    params: Schema<unknown>;
  }
>;

export type MethodName = keyof typeof METHODS;
export type Settings = Required<Infer<ReturnType<typeof obj<typeof settingsShape>>>>;

export type Params<M extends MethodName> = Infer<(typeof METHODS)[M]['params']>;

type ServedBy<S> = { [M in MethodName]: (typeof METHODS)[M]['served'] extends S ? M : never }[MethodName];
/** Methods the node implements and the app forwards to it. */
export type NodeMethod = ServedBy<'node'>;
/** Methods a PeerMeshNode answers itself (its unix socket, its worker). */
export type NodeServed = ServedBy<'node' | 'each'>;

/** The methods the app forwards to the node in its worker (from `served`, not kept by hand). */
export const NODE_METHODS: ReadonlySet<MethodName> = new Set(
  (Object.keys(METHODS) as MethodName[]).filter((m) => METHODS[m].served === 'node'),
);

export interface Request {
  id: number | string;
  method: string;
  params?: unknown;
}

// ---- errors -----------------------------------------------------------------------------------

/**
 * Every error code, on every transport (unix socket, WebSocket, Electron IPC, the node's worker).
 * The same failure gives the same code whichever way the request came.
 */
export const ERROR_CODES = {
  bad_request:
    'not a request: not JSON, not an object, no valid id, a method that is not a string, an unknown field',
  too_large: 'the message is larger than MAX_MESSAGE_BYTES',
  unknown_method: 'no such method, or the endpoint does not serve it (a node serves only its own methods)',
  bad_params: "params do not match the method's schema, or a value is refused (a bad join code, settings)",
  failed: 'the method ran and failed; the message says why (no such member, not connected, ...)',
  busy: 'too many requests in flight on the connection, or the node did not answer in time',
  forbidden: 'Electron IPC only: the message did not come from the PeerMesh window',
  internal: 'the answer could not be sent (a result that is not JSON)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes any method may answer with, whatever it does (the transport's and the dispatcher's). */
export const COMMON_ERRORS = [
  'bad_request',
  'too_large',
  'unknown_method',
  'bad_params',
  'busy',
  'forbidden',
  'internal',
] as const satisfies readonly ErrorCode[];

export interface ApiError {
  code: ErrorCode;
  message: string;
}

/** A failure a handler means to report with a code of the contract. */
export class ApiFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one mapping of a thrown value to the wire's {code, message}, used by every transport: an error
 * whose `code` is one of ERROR_CODES keeps it (ApiFailure, the app's ManagerError, SchemaError's
 * bad_params); anything else (a plain Error, an fs error's EACCES) is `failed` with its message.
 */
export function toApiError(e: unknown): ApiError {
  const o = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
  const code =
    typeof o.code === 'string' && Object.hasOwn(ERROR_CODES, o.code) ? (o.code as ErrorCode) : 'failed';
  const message =
    typeof o.message === 'string' && o.message ? o.message.slice(0, 2000) : String(e).slice(0, 2000);
  return { code, message };
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
  if (typeof r.method !== 'string')
    return { ok: false, id, error: { code: 'bad_request', message: 'method must be a string' } };
  if (!Object.hasOwn(METHODS, r.method))
    return {
      ok: false,
      id,
      error: { code: 'unknown_method', message: `unknown method ${JSON.stringify(r.method.slice(0, 40))}` },
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

export {
  type ApiEvent,
  CONNECTION_STATES,
  type ConnectionState,
  EVENTS,
  type EventName,
  parseEvent,
} from './events';

import type {
  AccessStatus,
  AppState,
  DeviceRow,
  ExitStatus,
  InviteResult,
  InviteRow,
  LogLine,
  MetricsResult,
  NewDevice,
  NodeStatus,
  PeerRow,
  PingResult,
  RouteRow,
} from './api-results';

export type * from './api-results';

/** What each method returns. */
export interface Results {
  status: NodeStatus;
  ping: { pong: boolean };
  state: AppState;
  peers: PeerRow[];
  metrics: MetricsResult;
  'ping-peer': PingResult;
  settings: Settings;
  logs: LogLine[];
  connect: AppState;
  disconnect: AppState;
  'create-network': AppState;
  join: AppState;
  leave: AppState;
  invite: InviteResult;
  invites: InviteRow[];
  'revoke-invite': { revoked: string };
  remove: { removed: string; name: string };
  rename: { peer: string; name: string; alias: string | null };
  'set-settings': Settings;
  routes: RouteRow[];
  'accept-route': { accepted: string[] };
  'decline-route': { declined: string };
  'exit-node': ExitStatus;
  'add-device': NewDevice;
  'remove-device': { removed: string };
  devices: DeviceRow[];
  access: AccessStatus;
  'set-access': AccessStatus;
}

export type Result<M extends MethodName> = Results[M];

/** A method's implementation, typed from the contract. */
export type Handler<M extends MethodName> = (params: Params<M>) => Result<M> | Promise<Result<M>>;

/** A table of implementations, one per method (the app's manager may serve its methods from one). */
export type Handlers = { [M in MethodName]: Handler<M> };

/** The table a PeerMeshNode serves (its unix socket; the app's worker calls it too). */
export type NodeHandlers = Pick<Handlers, NodeServed>;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
/** Compile-time check: every method has a result type, and nothing else has. */
export type ResultsCoverMethods = Assert<Same<keyof Results, MethodName>>;
