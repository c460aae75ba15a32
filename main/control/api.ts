// The Control API catalogue: every method a client (CLI over the unix socket, browser over the web UI
// server's WebSocket, later the desktop app over IPC) may call, with the runtime schema of its
// params, and the events a node streams. Each transport hands raw messages to parseRequest() and
// calls the handler only with what it returns. The renderer imports the types only.
import { type Infer, int, obj, oneOf, optional, type Schema, SchemaError, str } from './schema';

/** Largest message any transport accepts. */
export const MAX_MESSAGE_BYTES = 65_536;

/** A member: its key, name, hosts-file name (pi.home) or overlay IPv4. */
const peer = str({ min: 1, max: 100, what: 'a member (key, name or overlay IPv4)' });

export const METHODS = {
  status: { kind: 'query', params: obj({}) },
  ping: { kind: 'query', params: obj({}) },
  metrics: {
    kind: 'query',
    params: obj({
      peer,
      window: optional(oneOf(60, 900, 3600)),
      points: optional(int({ min: 1, max: 3600 })),
    }),
  },
  'ping-peer': { kind: 'query', params: obj({ peer }) },
  invite: { kind: 'command', params: obj({ expiresSeconds: optional(int({ min: 60, max: 30 * 86400 })) }) },
  remove: { kind: 'command', params: obj({ peer }) },
} as const satisfies Record<string, { kind: 'query' | 'command'; params: Schema<unknown> }>;

export type MethodName = keyof typeof METHODS;
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
