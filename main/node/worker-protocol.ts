// Messages between NodeManager (manager.ts) and the node in its worker thread (node-worker.ts).
import type { ApiEvent, ErrorCode, MethodName } from '../control/api';
import type { NodeConfig } from './config';

/** Not a Control API method: the node's Prometheus text for the manager's GET /metrics. */
export const PROMETHEUS = '#prometheus';

/** Parent -> worker. */
export type ToWorker =
  | { t: 'start'; cfg: NodeConfig }
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
  | { t: 'down'; reason: string };
