// Messages between NodeManager (manager.ts) and the node in its worker thread (node-worker.ts).
import type { ApiEvent, ErrorCode, MethodName } from '../control/api';
import type { NodeConfig } from './config';
import type { MetricsDump } from './metrics-feed';

/** Not a Control API method: the node's Prometheus text for the manager's GET /metrics. */
export const PROMETHEUS = '#prometheus';

/** Parent -> worker. */
export type ToWorker =
  /**
   * `metrics`: what the previous node of this profile measured (kept across reconnects); `stderr`:
   * the worker writes its log lines to stderr too (they always go to the manager).
   */
  | { t: 'start'; cfg: NodeConfig; metrics?: MetricsDump | null; stderr?: boolean }
  | { t: 'call'; id: number; method: MethodName | typeof PROMETHEUS; params: unknown }
  | { t: 'stop'; reason: string };

/** Worker -> parent. */
export type FromWorker =
  | {
      t: 'up';
      info: { publicKey: string; listenPort: number; interface: string; addresses: string[] };
    }
  | { t: 'fail'; message: string }
  | { t: 'result'; id: number; result: unknown }
  | { t: 'error'; id: number; code: ErrorCode; message: string }
  | { t: 'event'; event: ApiEvent }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; time: number }
  /** `metrics`: the node's measurements, for the next start (MetricsFeed.dump). */
  | { t: 'down'; reason: string; metrics?: MetricsDump };
