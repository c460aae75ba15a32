// Events from the node are checked before use: a client does not trust a stream blindly. This mirrors
// EVENTS in main/control/api.ts (whose runtime schemas stay out of the bundle); the Record over
// EventName makes the compiler point here when an event is added there.
import type { ApiEvent, ConnectionState, EventName } from '../../main/control/api';

type Fields = Record<string, unknown>;

const isStr = (v: unknown, max = 2000): v is string => typeof v === 'string' && v.length <= max;
const isOptStr = (v: unknown, max: number) => v === undefined || isStr(v, max);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isOneOf = <T extends string>(v: unknown, values: readonly T[]): v is T => values.includes(v as T);

const STATES: readonly ConnectionState[] = ['disconnected', 'connecting', 'connected', 'error'];
const PATHS = ['direct', 'relayed', 'none'] as const;
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const CHECKS: Record<EventName, (e: Fields) => boolean> = {
  member: (e) => isStr(e.key, 44) && isStr(e.name, 63),
  removed: (e) => isStr(e.key, 44) && isStr(e.name, 63) && isStr(e.by, 44),
  path: (e) =>
    isStr(e.key, 44) &&
    isStr(e.name, 63) &&
    isOneOf(e.kind, PATHS) &&
    isOptStr(e.endpoint, 64) &&
    isOptStr(e.via, 63),
  route: (e) =>
    isStr(e.key, 44) &&
    isStr(e.name, 63) &&
    isStr(e.prefix, 49) &&
    typeof e.exit === 'boolean' &&
    typeof e.offered === 'boolean',
  rtt: (e) => isStr(e.key, 44) && isNum(e.ms),
  handshake: (e) => isStr(e.key, 44),
  error: (e) => isStr(e.message, 512),
  state: (e) => isOneOf(e.state, STATES) && isOptStr(e.error, 512),
  peer: (e) => isStr(e.key, 44) && isStr(e.name, 63) && typeof e.online === 'boolean',
  log: (e) => isNum(e.time) && isOneOf(e.level, LEVELS) && isStr(e.message),
};

/** The event, when `raw` is a well-formed one of a known type; null otherwise. */
export function parseApiEvent(raw: unknown): ApiEvent | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const e = raw as Fields;
  if (typeof e.type !== 'string' || !Object.hasOwn(CHECKS, e.type)) return null;
  return CHECKS[e.type as EventName](e) ? (e as ApiEvent) : null;
}
