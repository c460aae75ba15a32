// The events of the Control API contract (re-exported by api.ts): what a node streams to UIs, each
// with its runtime schema (a client checks every event it receives: it must not trust a stream).
import { bool, cidr, type Infer, int, obj, oneOf, optional, str } from './schema';

export const CONNECTION_STATES = ['disconnected', 'connecting', 'connected', 'error'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

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
  /**
   * A member offered a subnet route (whether or not the claim holds: docs/mesh.md "Subnet routes"),
   * or offered to be an exit node (`exit`, prefix 0.0.0.0/0: the offer covers ::/0 too), or withdrew
   * it (`offered` false). Never for this node's own offers, nor for what a member offered before this
   * node started watching the network (docs/control.md).
   */
  route: obj({
    type: oneOf('route'),
    key: str({ max: 44 }),
    name: str({ max: 63 }),
    prefix: cidr(),
    exit: bool(),
    offered: bool(),
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
