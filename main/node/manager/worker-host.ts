// Starting, talking to and stopping the node in its worker thread (../node-worker.ts), and the
// connection state that follows from it: connecting, connected, disconnected, error. Calls to the
// node are matched to their answers by id and time out after 10 s; the worker's events and log
// lines go to the manager through the delegate.
import { Worker } from 'node:worker_threads';
import type { ApiEvent, ConnectionState, MethodName } from '../../control/api';
import type { LogLevel, NodeConfig } from '../config';
import type { MetricsDump } from '../metrics-feed';
import type { FromWorker, PROMETHEUS, ToWorker } from '../worker-protocol';
import { ManagerError } from './errors';

/** How long a call to the node may take. */
const CALL_TIMEOUT_MS = 10_000;
/** How long a stopping node gets before its worker is terminated (the helper still cleans up). */
const STOP_TIMEOUT_MS = 5000;

export type NodeInfo = Extract<FromWorker, { t: 'up' }>['info'];

/** What the host tells the manager. */
export interface WorkerHostDelegate {
  emit(e: ApiEvent): void;
  log(level: LogLevel, message: string, time?: number): void;
  /** The worker's script (dist/main/node/node-worker.js), as manager.ts finds it. */
  workerFile: string;
  /**
   * Whether the worker writes its log lines to stderr itself too: not when the manager writes every
   * line there (its logWrite), or each would be printed twice.
   */
  workerStderr: boolean;
}

export class WorkerHost {
  state: ConnectionState = 'disconnected';
  lastError: string | null = null;
  /** The running node's addresses and port, null unless connected. */
  info: NodeInfo | null = null;
  /** Members and those online, from the last `peers` answer; zero when not connected. */
  counts = { members: 0, online: 0 };
  /** Set by shutdown(): no more connects. */
  closed = false;
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private starting: Promise<void> | null = null;
  private stoppingWorker: Promise<void> | null = null;
  /**
   * What the last node measured (per-peer history and path changes), handed to the next start so
   * a reconnect or a settings save does not wipe the charts; dropped when the network changes.
   */
  private kept: MetricsDump | null = null;

  constructor(private readonly delegate: WorkerHostDelegate) {}

  /** True while a worker runs (connecting or connected). */
  get running(): boolean {
    return this.worker !== null;
  }

  /**
   * Starts the node with the configuration `config()` returns (it throws a clear error without a
   * network or with bad settings); resolves once it is up. A second call while starting waits for
   * the same start.
   */
  async connect(config: () => NodeConfig): Promise<void> {
    if (this.closed) throw new ManagerError('failed', 'shutting down');
    if (this.state === 'connected') return;
    if (this.starting) return this.starting;
    const cfg = config();
    this.starting = this.startWorker(cfg).finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private startWorker(cfg: NodeConfig): Promise<void> {
    this.setState('connecting', null);
    // A small young generation keeps the receive buffers' memory flat (see cli cmdUp).
    const w = new Worker(this.delegate.workerFile, {
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
      stderr: false,
      stdout: false,
    });
    this.worker = w;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      w.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'up':
            this.info = m.info;
            this.setState('connected', null);
            settle(null);
            break;
          case 'fail':
            this.setState('error', m.message);
            settle(new ManagerError('failed', m.message));
            void w.terminate();
            break;
          case 'down':
            if (m.metrics) this.kept = m.metrics;
            this.onDown(w, m.reason);
            break;
          case 'result':
          case 'error': {
            const p = this.pending.get(m.id);
            if (!p) break;
            this.pending.delete(m.id);
            if (m.t === 'result') p.resolve(m.result);
            else p.reject(new ManagerError(m.code, m.message));
            break;
          }
          case 'event':
            this.delegate.emit(m.event);
            break;
          case 'log':
            this.delegate.log(m.level, m.message, m.time);
            break;
        }
      });
      w.on('error', (e) => {
        this.delegate.log('error', `node worker failed: ${e.message}`);
        this.onDown(w, `node failed: ${e.message}`);
        settle(new ManagerError('failed', e.message));
      });
      w.on('exit', () => {
        this.onDown(w, 'node worker exited');
        settle(new ManagerError('failed', this.lastError ?? 'the node stopped while starting'));
      });
      w.postMessage({
        t: 'start',
        cfg,
        metrics: this.kept,
        stderr: this.delegate.workerStderr,
      } satisfies ToWorker);
    });
  }

  /** The worker's node went down: by disconnect (expected) or on its own (an error to show). */
  private onDown(w: Worker, reason: string): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.info = null;
    this.counts = { members: 0, online: 0 };
    for (const p of this.pending.values()) p.reject(new ManagerError('failed', 'not connected'));
    this.pending.clear();
    void w.terminate();
    if (this.stoppingWorker || this.state === 'error') {
      if (this.state !== 'error') this.setState('disconnected', null);
    } else this.setState('error', `the node stopped: ${reason}`);
  }

  /** Stops the node (waiting for a start in progress first); resolves once it is down. */
  async disconnect(reason: string): Promise<void> {
    if (this.starting) await this.starting.catch(() => {});
    const w = this.worker;
    if (!w) {
      if (this.state !== 'disconnected') this.setState('disconnected', null);
      return;
    }
    this.stoppingWorker = new Promise<void>((resolve) => {
      const done = () => resolve();
      w.once('exit', done);
      w.on('message', (m: FromWorker) => {
        if (m.t === 'down') done();
      });
      // The helper removes the interface when its socket closes; give the node 5 s to stop cleanly.
      const t = setTimeout(() => {
        void w.terminate().then(done);
      }, STOP_TIMEOUT_MS);
      t.unref();
      w.postMessage({ t: 'stop', reason } satisfies ToWorker);
    });
    try {
      await this.stoppingWorker;
      this.onDown(w, reason);
    } finally {
      this.stoppingWorker = null;
    }
    if (this.state !== 'disconnected') this.setState('disconnected', null);
  }

  /** The network changed (left, joined, created): the measurements of the old one are dropped. */
  forgetMetrics(): void {
    this.kept = null;
  }

  /** No more connects; stops the node. */
  async shutdown(reason: string): Promise<void> {
    this.closed = true;
    await this.disconnect(reason);
  }

  /** One call to the node's own methods (or its Prometheus text); rejects unless connected. */
  call(method: MethodName | typeof PROMETHEUS, params: unknown): Promise<unknown> {
    const w = this.worker;
    if (!w || this.state !== 'connected')
      return Promise.reject(new ManagerError('failed', 'not connected: connect first'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new ManagerError('busy', `the node did not answer ${method} within 10 s`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      w.postMessage({ t: 'call', id, method, params } satisfies ToWorker);
    });
  }

  /** Sets the connection state and tells the UIs (an error also as an `error` event and a log line). */
  setState(state: ConnectionState, error: string | null): void {
    this.state = state;
    this.lastError = error;
    if (error) this.delegate.log('error', error);
    this.delegate.emit(
      error ? { type: 'state', state, error: error.slice(0, 512) } : { type: 'state', state },
    );
    if (state === 'error' && error) this.delegate.emit({ type: 'error', message: error.slice(0, 512) });
  }
}
