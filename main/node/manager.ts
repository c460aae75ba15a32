// The app-level side of the Control API: what the desktop app's main process and `peermesh ui` run.
// It owns the profile (settings, the network joined, its secret), turns connect/disconnect into
// starting and stopping the node in a worker thread (node-worker.ts), forwards the node's own
// methods to it, keeps recent log lines for the Logs view and streams events to UIs.
//
// Profile directory (0700, files 0600):
//   settings.json           Settings + the network this profile is a member of
//   networks/NAME.json      the network's config (name, secret file, bootstrap endpoints)
//   networks/NAME.secret    the network's secret
//   state/NAME/             the node's identity, mesh state, invitations, control socket
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type {
  ApiEvent,
  AppState,
  ConnectionState,
  LogLine,
  MethodName,
  PeerRow,
  Settings,
} from '../control/api';
// NODE_METHODS: the methods the node in the worker serves (api.ts `served`); the others are ours.
import { METHODS, NODE_METHODS, parseRequest } from '../control/api';
import { WebServer } from '../control/web-server';
import { decodeInviteCode, InviteCodeError } from '../core/invites';
import { ensurePrivateDir, sweepStaleTemp, writeFileAtomic } from '../io/files';
import { ConfigError, defaults, type LogLevel, type NodeConfig, validate } from './config';
import { type FromWorker, PROMETHEUS, type ToWorker } from './worker-protocol';

export const LOG_LINES_KEPT = 1000;
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Settings whose change needs the node restarted (they shape the interface or the mesh record). */
const RESTART_SETTINGS: (keyof Settings)[] = [
  'nodeName',
  'listenPort',
  'interfaceName',
  'relay',
  'advertiseRoutes',
];

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
  /** Log lines also go here (stderr of a headless node); default: nowhere but the Logs view. */
  logWrite?: (line: LogLine) => void;
}

export interface Profile extends Settings {
  network: string | null;
}

/** A new profile's settings (also what benchmarks show). */
export function defaultSettings(): Profile {
  return {
    network: null,
    nodeName: (hostname().split('.')[0] || 'node').replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63) || 'node',
    listenPort: 51820,
    interfaceName: 'pm0',
    relay: false,
    advertiseRoutes: [],
    startConnected: false,
    launchAtLogin: false,
    theme: 'system',
    notifyPeerUp: false,
    notifyPeerDown: true,
    notifyErrors: true,
  };
}

export class ManagerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class NodeManager {
  private profile: Profile;
  private worker: Worker | null = null;
  private conn: ConnectionState = 'disconnected';
  private lastError: string | null = null;
  private info: Extract<FromWorker, { t: 'up' }>['info'] | null = null;
  private counts = { members: 0, online: 0 };
  private readonly logs: LogLine[] = [];
  private readonly listeners = new Set<(e: ApiEvent) => void>();
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private web: WebServer | null = null;
  private starting: Promise<void> | null = null;
  private stoppingWorker: Promise<void> | null = null;
  private closed = false;

  private constructor(private readonly opts: ManagerOptions) {
    this.profile = defaultSettings();
  }

  static async open(opts: ManagerOptions): Promise<NodeManager> {
    ensurePrivateDir(opts.profileDir);
    const m = new NodeManager(opts);
    for (const d of [opts.profileDir, join(opts.profileDir, 'networks')]) sweepStaleTemp(d);
    m.profile = m.loadProfile();
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
    if (opts.fixedConfig || (m.profile.startConnected && m.profile.network)) void m.connect().catch(() => {});
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
    const { network: _n, ...s } = this.profile;
    return { ...s, advertiseRoutes: [...s.advertiseRoutes] };
  }

  getState(): AppState {
    const cfg = this.opts.fixedConfig;
    const name = cfg?.network?.name ?? this.profile.network;
    const v4 = this.info?.addresses.find((a) => !a.includes(':'))?.split('/')[0] ?? null;
    const v6 = this.info?.addresses.find((a) => a.includes(':'))?.split('/')[0] ?? null;
    return {
      state: this.conn,
      error: this.lastError,
      network:
        name === null || name === undefined
          ? null
          : {
              name,
              nodeName: cfg?.name ?? this.profile.nodeName,
              publicKey: this.info?.publicKey ?? null,
              ipv4: v4,
              ipv6: v6,
              dnsName: `${cfg?.name ?? this.profile.nodeName}.${name}`.toLowerCase(),
              listenPort: this.info?.listenPort ?? null,
              interface: this.info?.interface ?? null,
              memberCount: this.counts.members,
              onlineCount: this.counts.online,
            },
      desktop: this.opts.desktop,
    };
  }

  /** Every Control API method; params were validated by the transport (parseRequest). */
  async handle(method: MethodName, params: unknown): Promise<unknown> {
    if (!Object.hasOwn(METHODS, method)) throw new ManagerError('unknown_method', `unknown method ${method}`);
    if (NODE_METHODS.has(method)) {
      if (method === 'peers' && this.conn !== 'connected') return [];
      const r = await this.callNode(method, params);
      if (method === 'peers') this.countPeers(r as PeerRow[]);
      return r;
    }
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'ping':
        return { pong: true };
      case 'state':
        if (this.conn === 'connected')
          await this.callNode('peers', {}).then(
            (r) => this.countPeers(r as PeerRow[]),
            () => {},
          );
        return this.getState();
      case 'settings':
        return this.getSettings();
      case 'logs': {
        const min = LEVELS[(p.level as LogLevel | undefined) ?? 'debug'];
        const limit = (p.limit as number | undefined) ?? 200;
        return this.logs.filter((l) => LEVELS[l.level] >= min).slice(-limit);
      }
      case 'connect':
        await this.connect();
        return this.getState();
      case 'disconnect':
        await this.disconnect('disconnected by the user');
        return this.getState();
      case 'create-network':
        return this.createNetwork(p.name as string, p.nodeName as string | undefined);
      case 'join':
        return this.join(p.code as string, p.nodeName as string | undefined);
      case 'leave':
        return this.leave();
      case 'set-settings':
        return this.setSettings(p as Partial<Settings>);
      default:
        throw new ManagerError('unknown_method', `unknown method ${method}`);
    }
  }

  // ---- connection -------------------------------------------------------------------------------

  async connect(): Promise<void> {
    if (this.closed) throw new ManagerError('failed', 'shutting down');
    if (this.conn === 'connected') return;
    if (this.starting) return this.starting;
    const cfg = this.nodeConfig(); // throws a clear error without a network or with bad settings
    this.starting = this.startWorker(cfg).finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private startWorker(cfg: NodeConfig): Promise<void> {
    this.setState('connecting', null);
    // A small young generation keeps the receive buffers' memory flat (see cli cmdUp).
    const w = new Worker(join(__dirname, 'node-worker.js'), {
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
            this.emit(m.event);
            break;
          case 'log':
            this.addLog(m.level, m.message, m.time);
            break;
        }
      });
      w.on('error', (e) => {
        this.addLog('error', `node worker failed: ${e.message}`);
        this.onDown(w, `node failed: ${e.message}`);
        settle(new ManagerError('failed', e.message));
      });
      w.on('exit', () => {
        this.onDown(w, 'node worker exited');
        settle(new ManagerError('failed', this.lastError ?? 'the node stopped while starting'));
      });
      w.postMessage({ t: 'start', cfg } satisfies ToWorker);
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
    if (this.stoppingWorker || this.conn === 'error') {
      if (this.conn !== 'error') this.setState('disconnected', null);
    } else this.setState('error', `the node stopped: ${reason}`);
  }

  async disconnect(reason: string): Promise<void> {
    if (this.starting) await this.starting.catch(() => {});
    const w = this.worker;
    if (!w) {
      if (this.conn !== 'disconnected') this.setState('disconnected', null);
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
      }, 5000);
      t.unref();
      w.postMessage({ t: 'stop', reason } satisfies ToWorker);
    });
    try {
      await this.stoppingWorker;
      this.onDown(w, reason);
    } finally {
      this.stoppingWorker = null;
    }
    if (this.conn !== 'disconnected') this.setState('disconnected', null);
  }

  private callNode(method: MethodName | typeof PROMETHEUS, params: unknown): Promise<unknown> {
    const w = this.worker;
    if (!w || this.conn !== 'connected')
      return Promise.reject(new ManagerError('failed', 'not connected: connect first'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new ManagerError('busy', `the node did not answer ${method} within 10 s`));
      }, 10_000);
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

  private countPeers(rows: PeerRow[]): void {
    this.counts = { members: rows.length, online: rows.filter((r) => r.online).length };
  }

  private setState(state: ConnectionState, error: string | null): void {
    this.conn = state;
    this.lastError = error;
    if (error) this.addLog('error', error);
    this.emit(error ? { type: 'state', state, error: error.slice(0, 512) } : { type: 'state', state });
    if (state === 'error' && error) this.emit({ type: 'error', message: error.slice(0, 512) });
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
    if (LEVELS[level] < LEVELS[this.opts.logLevel ?? 'info']) return;
    const line: LogLine = { time, level, message: message.slice(0, 2000) };
    this.logs.push(line);
    if (this.logs.length > LOG_LINES_KEPT) this.logs.splice(0, this.logs.length - LOG_LINES_KEPT);
    this.opts.logWrite?.(line);
    this.emit({ type: 'log', ...line });
  }

  /** Prometheus text of the node's metrics (built in the worker), for GET /metrics. */
  private async prometheus(): Promise<string> {
    if (this.conn !== 'connected') return '# peermesh: not connected\n';
    return (await this.callNode(PROMETHEUS, {})) as string;
  }

  // ---- profile ----------------------------------------------------------------------------------

  private get settingsPath(): string {
    return join(this.opts.profileDir, 'settings.json');
  }

  private netDir(): string {
    return join(this.opts.profileDir, 'networks');
  }

  private loadProfile(): Profile {
    const p = defaultSettings();
    if (!existsSync(this.settingsPath)) return p;
    try {
      const o = JSON.parse(readFileSync(this.settingsPath, 'utf8')) as Record<string, unknown>;
      const parsed = METHODS['set-settings'].params.parse(
        Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'network')),
        'settings.json',
      );
      Object.assign(p, parsed);
      if (typeof o.network === 'string' && /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(o.network))
        p.network = o.network;
    } catch (e) {
      this.addLog('warn', `ignoring unreadable ${this.settingsPath}: ${(e as Error).message}`);
    }
    return p;
  }

  private saveProfile(): void {
    writeFileAtomic(this.settingsPath, `${JSON.stringify(this.profile, null, 2)}\n`, 0o600);
  }

  /** The node's configuration from the profile (or the fixed one); a clear error when incomplete. */
  nodeConfig(): NodeConfig {
    const o = this.opts;
    if (o.fixedConfig) return { ...o.fixedConfig, ui: null };
    const s = this.profile;
    if (!s.network) throw new ManagerError('failed', 'no network yet: create one or join with a code');
    const netFile = join(this.netDir(), `${s.network}.json`);
    let net: { name: string; bootstrap: string[] };
    try {
      net = JSON.parse(readFileSync(netFile, 'utf8'));
    } catch (e) {
      throw new ManagerError('failed', `cannot read ${netFile}: ${(e as Error).message}`);
    }
    const cfg: NodeConfig = {
      ...defaults(),
      name: s.nodeName,
      stateDir: join(o.profileDir, 'state', s.network),
      interface: s.interfaceName,
      listenPort: s.listenPort,
      logLevel: o.logLevel ?? 'info',
      hostsFile: process.getuid?.() === 0 ? '/etc/hosts' : null,
      network: {
        name: s.network,
        secretFile: join(this.netDir(), `${s.network}.secret`),
        bootstrap: Array.isArray(net.bootstrap) ? net.bootstrap.filter((b) => typeof b === 'string') : [],
        relay: s.relay,
        advertiseRoutes: [...s.advertiseRoutes],
      },
      ui: null,
      helperLauncher: o.helperCommand,
      helperPath: o.helperPath,
    };
    try {
      return validate(cfg);
    } catch (e) {
      if (e instanceof ConfigError) throw new ManagerError('bad_params', e.message);
      throw e;
    }
  }

  private refuseFixed(what: string): void {
    if (this.opts.fixedConfig)
      throw new ManagerError('failed', `${what}: this node runs from a config file; edit it and restart`);
  }

  private writeNetwork(name: string, secret: Uint8Array | string, bootstrap: string[]): void {
    ensurePrivateDir(this.netDir());
    const secretFile = join(this.netDir(), `${name}.secret`);
    writeFileAtomic(secretFile, typeof secret === 'string' ? `${secret}\n` : Buffer.from(secret), 0o600);
    writeFileAtomic(
      join(this.netDir(), `${name}.json`),
      `${JSON.stringify({ name, secretFile, bootstrap }, null, 2)}\n`,
      0o600,
    );
  }

  private async createNetwork(name: string, nodeName?: string): Promise<AppState> {
    this.refuseFixed('create-network');
    if (this.profile.network)
      throw new ManagerError('failed', `already a member of "${this.profile.network}": leave it first`);
    // 32 random bytes as the secret: members and invitations carry it, people never type it.
    this.writeNetwork(name, randomBytes(32).toString('base64url'), []);
    this.profile.network = name;
    if (nodeName) this.profile.nodeName = nodeName;
    this.saveProfile();
    this.addLog('info', `created network "${name}"`);
    await this.connect();
    return this.getState();
  }

  private async join(codeText: string, nodeName?: string): Promise<AppState> {
    this.refuseFixed('join');
    if (this.profile.network)
      throw new ManagerError('failed', `already a member of "${this.profile.network}": leave it first`);
    let code: ReturnType<typeof decodeInviteCode>;
    try {
      code = decodeInviteCode(codeText.trim());
    } catch (e) {
      if (e instanceof InviteCodeError) throw new ManagerError('bad_params', `bad join code: ${e.message}`);
      throw e;
    }
    if (code.expires * 1000 <= Date.now())
      throw new ManagerError(
        'failed',
        `this invitation expired at ${new Date(code.expires * 1000).toISOString()}; ask for a new one`,
      );
    const { askInviter } = await import('./join');
    const name = nodeName ?? this.profile.nodeName;
    let answer: Awaited<ReturnType<typeof askInviter>>;
    try {
      answer = await askInviter(code, name);
    } catch (e) {
      throw new ManagerError('failed', (e as Error).message);
    }
    if (!answer.ok) throw new ManagerError('failed', `the inviting node refused: ${answer.reason}`);
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(answer.network))
      throw new ManagerError('failed', 'the inviting node sent a network name this app cannot use');
    this.writeNetwork(answer.network, answer.secret, answer.bootstrap);
    this.profile.network = answer.network;
    this.profile.nodeName = name;
    this.saveProfile();
    this.addLog('info', `joined network "${answer.network}"`);
    await this.connect();
    return this.getState();
  }

  private async leave(): Promise<AppState> {
    this.refuseFixed('leave');
    const name = this.profile.network;
    if (!name) throw new ManagerError('failed', 'not a member of a network');
    await this.disconnect('left the network');
    for (const f of [`${name}.json`, `${name}.secret`]) rmSync(join(this.netDir(), f), { force: true });
    rmSync(join(this.opts.profileDir, 'state', name), { recursive: true, force: true });
    this.profile.network = null;
    this.saveProfile();
    this.addLog('info', `left network "${name}"`);
    this.setState('disconnected', null);
    return this.getState();
  }

  private async setSettings(changes: Partial<Settings>): Promise<Settings> {
    const restart = RESTART_SETTINGS.some(
      (k) => changes[k] !== undefined && JSON.stringify(changes[k]) !== JSON.stringify(this.profile[k]),
    );
    if (restart) this.refuseFixed('set-settings');
    const next = { ...this.profile, ...changes };
    if (restart && next.network) {
      // The same checks as a start would make, before anything is saved.
      const saved = this.profile;
      this.profile = next;
      try {
        this.nodeConfig();
      } finally {
        this.profile = saved;
      }
    }
    this.profile = next;
    this.saveProfile();
    if (restart && this.worker) {
      await this.disconnect('settings changed');
      await this.connect();
    }
    return this.getSettings();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.disconnect('quit');
    await this.web?.close();
    this.listeners.clear();
  }
}
