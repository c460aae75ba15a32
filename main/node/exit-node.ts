// This machine's use of an exit node (docs/exit-nodes.md): which member its user chose, kept in
// `<state-dir>/exit-<network>.json` (0600), and what the host does about it. While the choice holds,
// the mesh gives that member's WireGuard peer 0.0.0.0/0 and ::/0, and the helper's janitor routes
// everything through the device except the tunnel's own datagrams (policy rules, like wg-quick's).
// When the exit goes away (offline, no longer offering, removed) traffic is blocked, not sent out
// the local uplink (fail closed), unless the user chose to fail open.
import { readFileSync } from 'node:fs';
import { ApiFailure, type ExitStatus } from '../control/api';
import type { Mesh } from '../core/mesh';
import { writeFileAtomic } from '../io/files';
import type { TunHelper } from '../io/helper';
import { isOnline } from './events';
import type { Logger } from './log';

const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;

export interface ExitChoice {
  /** The chosen member's key, or null (no exit node). */
  key: string | null;
  /** Keep reaching the machine's own LANs directly while using the exit. */
  allowLan: boolean;
  /** When the exit goes away, send traffic out the local uplink instead of blocking it. */
  failOpen: boolean;
}

export class ExitNode {
  private choice: ExitChoice = { key: null, allowLan: false, failOpen: false };
  /** A name given at start (`--exit-node NAME`) before the member's record arrived. */
  private pendingName: string | null = null;
  /** What the host has now: rules routing everything through the device, and with LAN access. */
  private rules: { on: boolean; allowLan: boolean; dns: string } = { on: false, allowLan: false, dns: '' };
  private lastState = '';

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Read the saved choice, then apply the configuration's (`--exit-node`, which wins when given). */
  load(cfg: { exitNode?: string | null; exitAllowLan?: boolean; exitFailOpen?: boolean }): void {
    try {
      const d = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<ExitChoice>;
      this.choice = {
        key: typeof d.key === 'string' && KEY_RE.test(d.key) ? d.key : null,
        allowLan: d.allowLan === true,
        failOpen: d.failOpen === true,
      };
    } catch {
      /* no choice saved */
    }
    if (cfg.exitAllowLan !== undefined) this.choice.allowLan = cfg.exitAllowLan;
    if (cfg.exitFailOpen !== undefined) this.choice.failOpen = cfg.exitFailOpen;
    if (cfg.exitNode === 'none') this.choice.key = null;
    else if (cfg.exitNode) this.pendingName = cfg.exitNode;
  }

  private save(): void {
    writeFileAtomic(this.file, `${JSON.stringify(this.choice)}\n`, 0o600);
  }

  /** A member by key, name or overlay IPv4 that offers to be an exit; a clear error otherwise. */
  private resolve(mesh: Mesh, peer: string): string {
    const m =
      mesh.members.get(peer) ??
      [...mesh.members.values()].find(
        (x) => x.rec && !x.removed && (x.name === peer || mesh.addressesOf(x.key).v4 === peer),
      );
    if (!m?.rec || m.removed) throw new ApiFailure('failed', `no member "${peer}" in the network`);
    if (!mesh.offersExit(m.key))
      throw new ApiFailure(
        'failed',
        `"${m.name}" does not offer to be an exit node (peermesh up --advertise-exit)`,
      );
    return m.key;
  }

  /** `exit-node`: choose a member (or none) and the options; the host follows at once. */
  choose(
    mesh: Mesh | null,
    tun: TunHelper | null,
    port: number,
    p: { node: string | null; allowLan?: boolean; failOpen?: boolean },
  ): ExitStatus {
    if (!mesh) throw new ApiFailure('failed', 'this node is not a member of a network');
    const key = p.node === null || p.node === 'none' ? null : this.resolve(mesh, p.node);
    this.choice = {
      key,
      allowLan: p.allowLan ?? this.choice.allowLan,
      failOpen: p.failOpen ?? this.choice.failOpen,
    };
    this.pendingName = null;
    this.save();
    this.sync(mesh, tun, port);
    return this.status(mesh);
  }

  /** Whether the chosen exit can carry traffic now, and why not. */
  private availability(mesh: Mesh): { ok: boolean; why: string | null } {
    const key = this.choice.key;
    if (!key) return { ok: false, why: null };
    const m = mesh.members.get(key);
    if (!m?.rec || m.removed) return { ok: false, why: 'it is no longer a member' };
    if (!mesh.offersExit(key)) return { ok: false, why: `"${m.name}" stopped offering to be an exit node` };
    if (!isOnline(mesh, m)) return { ok: false, why: `"${m.name}" is offline` };
    return { ok: true, why: null };
  }

  /**
   * Bring the mesh and the host in line with the choice and the exit's state (called at once on a
   * choice, and every second): the exit's peer gets the default routes, and the host's rules route
   * everything through the device — kept while the exit is away (fail closed) unless failOpen.
   */
  sync(mesh: Mesh | null, tun: TunHelper | null, port: number): void {
    if (!mesh) return;
    if (this.pendingName) {
      try {
        this.choice.key = this.resolve(mesh, this.pendingName);
        this.pendingName = null;
        this.save();
      } catch {
        // not known yet (the record comes with the sync): blocked meanwhile, unless failing open
      }
    }
    const { ok } = this.availability(mesh);
    const chosen = this.choice.key !== null || this.pendingName !== null;
    const route = chosen && (ok || !this.choice.failOpen);
    mesh.setExit(route ? this.choice.key : null);
    const dns = route && this.choice.key ? mesh.addressesOf(this.choice.key).v4 : '';
    if (
      tun &&
      (route !== this.rules.on ||
        (route && (this.rules.allowLan !== this.choice.allowLan || this.rules.dns !== dns)))
    ) {
      this.rules = { on: route, allowLan: this.choice.allowLan, dns };
      // DNS goes to the exit's forwarder through the tunnel (no leak to a LAN or ISP resolver).
      tun.setExitRouting(
        route,
        port,
        this.choice.allowLan,
        dns ? Uint8Array.from(dns.split('.').map(Number)) : null,
      );
    }
    const s = this.status(mesh);
    const text = `${s.state} ${s.node ?? ''}`;
    const prev = this.lastState;
    this.lastState = text;
    if (text === prev || (!prev && s.state === 'none')) return;
    if (s.state === 'active') this.log.info(`using exit node "${s.node}": all traffic goes through it`);
    else if (s.state === 'blocked')
      this.log.warn(`exit node: traffic to the internet is blocked: ${s.reason}`);
    else if (s.state === 'open')
      this.log.warn(`exit node: ${s.reason}; traffic goes out this machine's uplink`);
    else this.log.info("no exit node: traffic goes out this machine's uplink");
  }

  /** The helper answered an exit routing request (error null: done). */
  routed(error: string | null): void {
    if (error) {
      this.log.error(`cannot route through the exit node: ${error}`);
      this.rules.on = false;
    }
  }

  status(mesh: Mesh | null): ExitStatus {
    const offers: string[] = [];
    if (mesh)
      for (const m of mesh.members.values())
        if (m.rec && !m.removed && mesh.offersExit(m.key)) offers.push(m.name);
    const key = this.choice.key;
    const m = key && mesh ? mesh.members.get(key) : undefined;
    const base = {
      node: m?.name ?? this.pendingName,
      key,
      allowLan: this.choice.allowLan,
      failOpen: this.choice.failOpen,
      offeredBy: offers.sort(),
    };
    if (!key && !this.pendingName) return { ...base, state: 'none', reason: null };
    const { ok, why } = mesh ? this.availability(mesh) : { ok: false, why: 'not connected' };
    if (ok) return { ...base, state: 'active', reason: null };
    const reason = why ?? `"${this.pendingName}" is not known in the network yet`;
    return this.choice.failOpen
      ? { ...base, state: 'open', reason: `the exit node is unavailable (${reason})` }
      : { ...base, state: 'blocked', reason: `the exit node is unavailable (${reason}); failing closed` };
  }
}
