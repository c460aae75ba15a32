// What each Control API method returns, on top of the catalogue in main/control/api.ts (imported for
// its types only: no node code enters the bundle).
import type {
  AppState,
  LogLine,
  MethodName,
  Params,
  PathKind,
  PeerRow,
  Settings,
} from '../../main/control/api';
import type { MetricsWindow, PeerSeries, PeerSummary } from '../../main/metrics/types';
import type { Transport } from './transport';

export type {
  ApiEvent,
  AppState,
  ConnectionState,
  LogLine,
  MethodName,
  PathKind,
  PeerRow,
  Settings,
} from '../../main/control/api';
export type { MetricsWindow, PathChange, PeerSeries, PeerSummary } from '../../main/metrics/types';

export type LogLevel = LogLine['level'];

export interface MetricsResult {
  peer: string;
  name: string;
  path: PathKind;
  summary: PeerSummary | null;
  series: PeerSeries | null;
}

export interface PingResult {
  peer: string;
  name: string;
  rttMs: number | null;
  path: PathKind;
  via: string | null;
}

export interface InviteResult {
  code: string;
  /** ISO 8601 time. */
  expires: string;
  endpoints: string[];
}

export interface Results {
  status: unknown;
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
  remove: { removed: string; name: string };
  rename: { peer: string; name: string; alias: string | null };
  'set-settings': Settings;
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
/** Compile-time check: every method of the catalogue has a result type above, and nothing else does. */
export type ResultsCoverCatalogue = Assert<Same<keyof Results, MethodName>>;

/** A typed call: the params the catalogue accepts, the result the method returns. */
export function request<M extends MethodName>(
  t: Transport,
  method: M,
  params?: Params<M>,
): Promise<Results[M]> {
  return t.call(method, params ?? {}) as Promise<Results[M]>;
}

/** The points asked for each window: one per second for a minute, then 5 s and 10 s buckets. */
export const WINDOW_POINTS: Record<MetricsWindow, number> = { 60: 60, 900: 180, 3600: 360 };
