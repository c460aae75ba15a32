// The Control API calls the manager serves: the node's own methods go to the worker, the app-level
// ones (state, settings, logs, connect/disconnect, create-network/join/leave, set-settings) are
// answered here from the profile and the worker host. Params were validated by the transport.
import { randomBytes } from 'node:crypto';
// NODE_METHODS: the methods the node in the worker serves (api.ts `served`); the others are ours.
import {
  type AppState,
  METHODS,
  type MethodName,
  NODE_METHODS,
  type PeerRow,
  type Settings,
} from '../../control/api';
import { decodeInviteCode, InviteCodeError } from '../../core/invites';
import type { LogLevel } from '../config';
import { ManagerError } from './errors';
import type { LogBook } from './logs';
import { NETWORK_NAME, type ProfileStore } from './profile';
import type { WorkerHost } from './worker-host';

/** Settings whose change needs the node restarted (they shape the interface or the mesh record). */
const RESTART_SETTINGS: (keyof Settings)[] = [
  'nodeName',
  'listenPort',
  'interfaceName',
  'relay',
  'advertiseRoutes',
];

/** The manager's parts a call may use. */
export interface DispatchContext {
  readonly host: WorkerHost;
  readonly store: ProfileStore;
  readonly logs: LogBook;
  log(level: LogLevel, message: string): void;
  state(): AppState;
  connect(): Promise<void>;
  disconnect(reason: string): Promise<void>;
}

export class Dispatcher {
  constructor(private readonly m: DispatchContext) {}

  /** Every Control API method; params were validated by the transport (parseRequest). */
  async handle(method: MethodName, params: unknown): Promise<unknown> {
    if (!Object.hasOwn(METHODS, method)) throw new ManagerError('unknown_method', `unknown method ${method}`);
    const { host, store } = this.m;
    if (NODE_METHODS.has(method)) {
      if (method === 'peers' && host.state !== 'connected') return [];
      const r = await host.call(method, params);
      if (method === 'peers') this.countPeers(r as PeerRow[]);
      return r;
    }
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'ping':
        return { pong: true };
      case 'state':
        if (host.state === 'connected')
          await host.call('peers', {}).then(
            (r) => this.countPeers(r as PeerRow[]),
            () => {},
          );
        return this.m.state();
      case 'settings':
        return store.settings();
      case 'logs':
        return this.m.logs.recent(
          (p.level as LogLevel | undefined) ?? 'debug',
          (p.limit as number | undefined) ?? 200,
        );
      case 'connect':
        await this.m.connect();
        return this.m.state();
      case 'disconnect':
        await this.m.disconnect('disconnected by the user');
        return this.m.state();
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

  private countPeers(rows: PeerRow[]): void {
    this.m.host.counts = { members: rows.length, online: rows.filter((r) => r.online).length };
  }

  private async createNetwork(name: string, nodeName?: string): Promise<AppState> {
    const { store } = this.m;
    store.refuseFixed('create-network');
    store.refuseMember();
    // 32 random bytes as the secret: members and invitations carry it, people never type it.
    store.writeNetwork(name, randomBytes(32).toString('base64url'), []);
    return this.enter(name, nodeName, 'created');
  }

  private async join(codeText: string, nodeName?: string): Promise<AppState> {
    const { store } = this.m;
    store.refuseFixed('join');
    store.refuseMember();
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
    const { askInviter, saveJoinedEpoch } = await import('../join');
    const name = nodeName ?? store.profile.nodeName;
    let answer: Awaited<ReturnType<typeof askInviter>>;
    try {
      answer = await askInviter(code, name);
    } catch (e) {
      throw new ManagerError('failed', (e as Error).message);
    }
    if (!answer.ok) throw new ManagerError('failed', `the network refused: ${answer.reason}`);
    if (!NETWORK_NAME.test(answer.network))
      throw new ManagerError('failed', 'the answering member sent a network name this app cannot use');
    store.writeNetwork(answer.network, answer.secret, answer.bootstrap);
    saveJoinedEpoch(store.stateDirOf(answer.network), answer);
    return this.enter(answer.network, name, 'joined');
  }

  /** The profile is now a member of `network` (its files written): save that and connect. */
  private async enter(network: string, nodeName: string | undefined, verb: string): Promise<AppState> {
    const { store } = this.m;
    store.profile.network = network;
    if (nodeName) store.profile.nodeName = nodeName;
    store.save();
    this.m.host.forgetMetrics(); // a new network: the old one's charts are not its

    this.m.log('info', `${verb} network "${network}"`);
    await this.m.connect();
    return this.m.state();
  }

  private async leave(): Promise<AppState> {
    const { store, host } = this.m;
    store.refuseFixed('leave');
    const name = store.profile.network;
    if (!name) throw new ManagerError('failed', 'not a member of a network');
    await this.m.disconnect('left the network');
    store.removeNetwork(name);
    host.forgetMetrics();
    store.profile.network = null;
    store.save();
    this.m.log('info', `left network "${name}"`);
    host.setState('disconnected', null);
    return this.m.state();
  }

  private async setSettings(changes: Partial<Settings>): Promise<Settings> {
    const { store, host } = this.m;
    const restart = RESTART_SETTINGS.some(
      (k) => changes[k] !== undefined && JSON.stringify(changes[k]) !== JSON.stringify(store.profile[k]),
    );
    if (restart) store.refuseFixed('set-settings');
    const prev = store.profile;
    const next = { ...store.profile, ...changes };
    // The same checks as a start would make, before anything is saved.
    if (restart && next.network) store.nodeConfig(next);
    store.profile = next;
    if (restart && host.running) {
      // Applied first, saved only once it works: a failed apply leaves what is saved and running the
      // old settings (the node comes back on them), so the form compares against what is true.
      await this.m.disconnect('settings changed');
      try {
        await this.m.connect();
      } catch (e) {
        store.profile = prev;
        await this.m.connect().catch(() => {
          /* the old settings fail too now: the state says why */
        });
        throw e;
      }
    }
    store.save();
    return store.settings();
  }
}
