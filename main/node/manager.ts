// The app-level side of the Control API: what the desktop app's main process and `peermesh ui` run.
// NodeManager ties together the profile on disk (manager/profile.ts), the node in its worker thread
// (manager/worker-host.ts), the calls it serves (manager/dispatch.ts) and the recent log lines
// (manager/logs.ts), serves the web UI when asked and streams events to every UI. This file is the
// public API the app, the CLI, tests and benchmarks import (`main/node/manager`).
import { join } from 'node:path';
import type { ApiEvent, AppState, LogLine, MethodName, Settings } from '../control/api';
import { parseRequest } from '../control/api';
import { WebServer } from '../control/web-server';
import type { LogLevel, NodeConfig } from './config';
import { Dispatcher } from './manager/dispatch';
import { ManagerError } from './manager/errors';
import { LogBook } from './manager/logs';
import { ProfileStore } from './manager/profile';
import { WorkerHost } from './manager/worker-host';
import { PROMETHEUS } from './worker-protocol';

export { ManagerError } from './manager/errors';
export { LOG_LINES_KEPT } from './manager/logs';
export { defaultSettings, type Profile } from './manager/profile';

export interface ManagerOptions {
  /** Where settings, the network's secret and the node's state live. */
  profileDir: string;
  /** Desktop app (launch at login applies) or headless web UI. */
  desktop: boolean;
  /** Prefix that starts the TUN helper with privileges (['pkexec'] in the desktop app when needed). */
  helperCommand?: string[];
  helperPath?: string;
  /**
   * Run this node configuration as it is (`peermesh up --ui`): connect/disconnect work, the profile
   * commands (create-network, join, leave, set-settings of node options) are refused.
   */
  fixedConfig?: NodeConfig;
  /** Serve the web UI (HTTP + WebSocket) on this address. */
  ui?: { host: string; port: number; staticDir: string | null };
  logLevel?: LogLevel;
  /**
   * `peermesh ui` as root: /etc/hosts opened by root before the drop; every start of the node writes
   * members' names through it (docs/security.md section 12).
   */
  hostsHeld?: NodeConfig['hostsHeld'];
  /**
   * Every log line, the manager's and the node's, also goes here, once (stderr of a headless node: the
   * worker then writes none itself); default: the node's lines on stderr from its worker, the
   * manager's nowhere but the Logs view.
   */
  logWrite?: (line: LogLine) => void;
}

export class NodeManager {
  private readonly listeners = new Set<(e: ApiEvent) => void>();
  private readonly logs: LogBook;
  private readonly store: ProfileStore;
  private readonly host: WorkerHost;
  private readonly dispatcher: Dispatcher;
  private web: WebServer | null = null;

  private constructor(private readonly opts: ManagerOptions) {
    this.logs = new LogBook(opts.logLevel ?? 'info');
    this.store = new ProfileStore(opts, (message) => this.addLog('warn', message));
    this.host = new WorkerHost({
      emit: (e) => this.emit(e),
      log: (level, message, time) => this.addLog(level, message, time),
      // From a module one level below dist/main, as the CLI bundle (dist/main/cli/peermesh.js) is too:
      // the same path either way.
      workerFile: join(__dirname, '..', 'node', 'node-worker.js'),
      workerStderr: !opts.logWrite,
    });
    this.dispatcher = new Dispatcher({
      host: this.host,
      store: this.store,
      logs: this.logs,
      log: (level, message) => this.addLog(level, message),
      state: () => this.getState(),
      connect: () => this.connect(),
      disconnect: (reason) => this.disconnect(reason),
    });
  }

  static async open(opts: ManagerOptions): Promise<NodeManager> {
    const m = new NodeManager(opts);
    m.store.lock();
    try {
      m.store.load();
      if (opts.ui) {
        m.web = await WebServer.start({
          host: opts.ui.host,
          port: opts.ui.port,
          staticDir: opts.ui.staticDir,
          handle: (method, params) => {
            // the same schemas as every transport (api.ts)
            const p = parseRequest({ id: 0, method, params });
            if (!p.ok) throw new ManagerError(String(p.error.code), p.error.message);
            return m.handle(p.method, p.params);
          },
          metricsText: () => m.prometheus(),
          log: (level, msg) => m.addLog(level, `web UI: ${msg}`),
        });
        m.onEvent((e) => m.web?.broadcast(e));
      }
    } catch (e) {
      m.store.unlock();
      throw e;
    }
    const profile = m.store.profile;
    if (opts.fixedConfig || (profile.startConnected && profile.network)) void m.connect().catch(() => {});
    return m;
  }

  /** The web UI's URL with its access token (print it once, never log it). */
  get webUrl(): string | null {
    return this.web?.url ?? null;
  }

  onEvent(cb: (e: ApiEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  getSettings(): Settings {
    return this.store.settings();
  }

  getState(): AppState {
    const cfg = this.opts.fixedConfig;
    const { info, counts } = this.host;
    const profile = this.store.profile;
    const name = cfg?.network?.name ?? profile.network;
    const v4 = info?.addresses.find((a) => !a.includes(':'))?.split('/')[0] ?? null;
    const v6 = info?.addresses.find((a) => a.includes(':'))?.split('/')[0] ?? null;
    return {
      state: this.host.state,
      error: this.host.lastError,
      network:
        name === null || name === undefined
          ? null
          : {
              name,
              nodeName: cfg?.name ?? profile.nodeName,
              publicKey: info?.publicKey ?? null,
              ipv4: v4,
              ipv6: v6,
              dnsName: `${cfg?.name ?? profile.nodeName}.${name}`.toLowerCase(),
              listenPort: info?.listenPort ?? null,
              interface: info?.interface ?? null,
              memberCount: counts.members,
              onlineCount: counts.online,
            },
      desktop: this.opts.desktop,
    };
  }

  /** Every Control API method; params were validated by the transport (parseRequest). */
  handle(method: MethodName, params: unknown): Promise<unknown> {
    return this.dispatcher.handle(method, params);
  }

  /** Starts the node from the profile (or the fixed configuration); resolves once it is up. */
  connect(): Promise<void> {
    return this.host.connect(() => this.nodeConfig());
  }

  disconnect(reason: string): Promise<void> {
    return this.host.disconnect(reason);
  }

  /** The node's configuration from the profile (or the fixed one); a clear error when incomplete. */
  nodeConfig(): NodeConfig {
    return this.store.nodeConfig();
  }

  async close(): Promise<void> {
    if (this.host.closed) return;
    await this.host.shutdown('quit');
    await this.web?.close();
    this.listeners.clear();
    this.store.unlock();
  }

  private emit(e: ApiEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }

  private addLog(level: LogLevel, message: string, time = Date.now()): void {
    const line = this.logs.add(level, message, time);
    if (!line) return;
    this.opts.logWrite?.(line);
    this.emit({ type: 'log', ...line });
  }

  /** Prometheus text of the node's metrics (built in the worker), for GET /metrics. */
  private async prometheus(): Promise<string> {
    if (this.host.state !== 'connected') return '# peermesh: not connected\n';
    return (await this.host.call(PROMETHEUS, {})) as string;
  }
}
