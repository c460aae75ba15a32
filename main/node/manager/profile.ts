// The app's profile on disk: its settings, the network it is a member of, that network's config and
// secret, and the node configuration built from them. Only files here: starting the node is the
// worker host's, the commands that combine both are dispatch.ts's.
//
// Profile directory (0700, files 0600):
//   settings.json           Settings + the network this profile is a member of
//   networks/NAME.json      the network's config (name, secret file, bootstrap endpoints)
//   networks/NAME.secret    the network's secret
//   state/NAME/             the node's identity, mesh state, invitations, control socket
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { METHODS, type Settings } from '../../control/api';
import { ensurePrivateDir, sweepStaleTemp, writeFileAtomic } from '../../io/files';
import { ConfigError, defaults, type LogLevel, type NodeConfig, validate } from '../config';
import { ManagerError } from './errors';

export interface Profile extends Settings {
  network: string | null;
}

/** A network name the profile accepts (it names files). */
export const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

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

/** What the node configuration takes from the manager's options besides the profile. */
export interface ProfileOptions {
  profileDir: string;
  /** A fixed node configuration (`peermesh up --ui`): the profile's node options do not apply. */
  fixedConfig?: NodeConfig;
  logLevel?: LogLevel;
  helperCommand?: string[];
  helperPath?: string;
  /** The hosts file root opened before the drop (`peermesh ui` as root): the node writes through it. */
  hostsHeld?: NodeConfig['hostsHeld'];
}

export class ProfileStore {
  /** The current settings and network; replaced as a whole by `set-settings`. */
  profile: Profile = defaultSettings();

  /** Creates the directory (0700) and removes temp files a crash left; call load() next. */
  constructor(
    private readonly opts: ProfileOptions,
    private readonly warn: (message: string) => void,
  ) {
    ensurePrivateDir(opts.profileDir);
    for (const d of [opts.profileDir, this.netDir]) sweepStaleTemp(d);
  }

  private get lockPath(): string {
    return join(this.opts.profileDir, 'app.lock');
  }

  /**
   * One app per profile: a second `peermesh ui` (or the desktop app) on the same profile would run a
   * second node with the same identity and fight over its files. The lock holds this process's pid;
   * a lock whose process is gone (a crash), or is no PeerMesh process any more, is taken over.
   */
  lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number.parseInt(readFileSync(this.lockPath, 'utf8'), 10);
      if (pid > 0 && pid !== process.pid && peermeshRunning(pid))
        throw new ManagerError(
          'busy',
          `PeerMesh already runs on this profile (${this.opts.profileDir}, pid ${pid}): use that one, or stop it first`,
        );
      rmSync(this.lockPath, { force: true }); // stale: its process is gone
    }
    throw new ManagerError('busy', `cannot lock the profile ${this.opts.profileDir}`);
  }

  unlock(): void {
    try {
      if (Number.parseInt(readFileSync(this.lockPath, 'utf8'), 10) === process.pid)
        rmSync(this.lockPath, { force: true });
    } catch {
      /* gone already */
    }
  }

  private get settingsPath(): string {
    return join(this.opts.profileDir, 'settings.json');
  }

  private get netDir(): string {
    return join(this.opts.profileDir, 'networks');
  }

  /** The settings as the API shows them (without the network; a copy). */
  settings(): Settings {
    const { network: _n, ...s } = this.profile;
    return { ...s, advertiseRoutes: [...s.advertiseRoutes] };
  }

  /** Reads settings.json; an unreadable or invalid file is reported and the defaults are used. */
  load(): void {
    const p = defaultSettings();
    if (existsSync(this.settingsPath)) {
      try {
        const o = JSON.parse(readFileSync(this.settingsPath, 'utf8')) as Record<string, unknown>;
        const parsed = METHODS['set-settings'].params.parse(
          Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'network')),
          'settings.json',
        );
        Object.assign(p, parsed);
        if (typeof o.network === 'string' && NETWORK_NAME.test(o.network)) p.network = o.network;
      } catch (e) {
        this.warn(`ignoring unreadable ${this.settingsPath}: ${(e as Error).message}`);
      }
    }
    this.profile = p;
  }

  save(): void {
    writeFileAtomic(this.settingsPath, `${JSON.stringify(this.profile, null, 2)}\n`, 0o600);
  }

  /** The node's configuration from `profile` (or the fixed one); a clear error when incomplete. */
  nodeConfig(profile: Profile = this.profile): NodeConfig {
    const o = this.opts;
    if (o.fixedConfig) return { ...o.fixedConfig, ui: null };
    const s = profile;
    if (!s.network) throw new ManagerError('failed', 'no network yet: create one or join with a code');
    const netFile = join(this.netDir, `${s.network}.json`);
    let net: { name: string; bootstrap: string[] };
    try {
      net = JSON.parse(readFileSync(netFile, 'utf8'));
    } catch (e) {
      throw new ManagerError('failed', `cannot read ${netFile}: ${(e as Error).message}`);
    }
    const cfg: NodeConfig = {
      ...defaults(),
      name: s.nodeName,
      stateDir: this.stateDirOf(s.network),
      interface: s.interfaceName,
      listenPort: s.listenPort,
      logLevel: o.logLevel ?? 'info',
      hostsFile: o.hostsHeld?.path ?? (process.getuid?.() === 0 ? '/etc/hosts' : null),
      hostsHeld: o.hostsHeld,
      network: {
        name: s.network,
        secretFile: join(this.netDir, `${s.network}.secret`),
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

  /** Throws when the node runs from a fixed configuration, where `what` cannot apply. */
  refuseFixed(what: string): void {
    if (this.opts.fixedConfig)
      throw new ManagerError('failed', `${what}: this node runs from a config file; edit it and restart`);
  }

  /** Throws when the profile is a member of a network already (one at a time). */
  refuseMember(): void {
    if (this.profile.network)
      throw new ManagerError('failed', `already a member of "${this.profile.network}": leave it first`);
  }

  /** Writes a network's secret and config (0600). */
  writeNetwork(name: string, secret: Uint8Array | string, bootstrap: string[]): void {
    ensurePrivateDir(this.netDir);
    const secretFile = join(this.netDir, `${name}.secret`);
    writeFileAtomic(secretFile, typeof secret === 'string' ? `${secret}\n` : Buffer.from(secret), 0o600);
    writeFileAtomic(
      join(this.netDir, `${name}.json`),
      `${JSON.stringify({ name, secretFile, bootstrap }, null, 2)}\n`,
      0o600,
    );
  }

  /** Where the node keeps its state for a network. */
  stateDirOf(network: string): string {
    return join(this.opts.profileDir, 'state', network);
  }

  /** Deletes a network's config, secret and the node's state for it. */
  removeNetwork(name: string): void {
    for (const f of [`${name}.json`, `${name}.secret`]) rmSync(join(this.netDir, f), { force: true });
    rmSync(join(this.opts.profileDir, 'state', name), { recursive: true, force: true });
  }
}

/** Whether `pid` is a live PeerMesh process (node or electron running it), not a recycled pid. */
function peermeshRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /peermesh|electron|node/i.test(cmd);
  } catch {
    return true; // no /proc to ask: trust the live pid
  }
}
