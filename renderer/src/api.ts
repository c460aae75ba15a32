// The Control API as the UI sees it: the contract's types (main/control/api.ts, the one place where
// each method's params, result and error codes are declared; imported for its types only: no node
// code enters the bundle) and a typed call over the transport.
import type { LogLine, MethodName, Params, Results } from '../../main/control/api';
import type { MetricsWindow } from '../../main/metrics/types';
import type { Transport } from './transport';

export type {
  AccessStatus,
  ApiEvent,
  AppState,
  ConnectionState,
  ErrorCode,
  ExitStatus,
  InviteResult,
  InviteRow,
  LogLine,
  MethodName,
  MetricsResult,
  NewDevice,
  Params,
  PathKind,
  PeerRow,
  PingResult,
  Results,
  Settings,
} from '../../main/control/api';
export type { MetricsWindow, PathChange, PeerSeries, PeerSummary } from '../../main/metrics/types';

export type LogLevel = LogLine['level'];

/** A typed call: the params the catalogue accepts, the result the method returns. */
export function request<M extends MethodName>(
  t: Transport,
  method: M,
  params?: Params<M>,
): Promise<Results[M]> {
  return t.call(method, params);
}

/** The points asked for each window: one per second for a minute, then 5 s and 10 s buckets. */
export const WINDOW_POINTS: Record<MetricsWindow, number> = { 60: 60, 900: 180, 3600: 360 };
