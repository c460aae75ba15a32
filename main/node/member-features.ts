// What membership of a network adds to a node beside the mesh itself: our answers to members' route
// offers (route-choices.ts, applied by host-net.ts), this machine's exit node (exit-node.ts), the
// devices it is the gateway of (devices.ts) and who may reach it (access.ts). Each keeps its state in
// the state directory; here they are made when the node joins, synced with the TUN helper (when it
// opens, each second, and when the records change), handed the helper's answers, and served to the
// Control API.
import { join } from 'node:path';
import { type AccessStatus, ApiFailure, type ExitStatus, type NewDevice, type Params } from '../control/api';
import type { Device } from '../core/device';
import type { Mesh, NetworkKeys } from '../core/mesh';
import type { TunHelper } from '../io/helper';
import { AccessRules } from './access';
import { memberNamed, NOT_A_MEMBER } from './api-handlers';
import type { NetworkSpec } from './config';
import { DeviceRegistry } from './devices';
import { ExitNode } from './exit-node';
import type { Logger } from './log';
import { RouteChoices } from './route-choices';

/** What the features read of their node (the node itself). */
export interface MemberHost {
  readonly mesh: Mesh | null;
  readonly device: Device;
  readonly tun: TunHelper | null;
  readonly udp: { readonly port: number };
  /** Member key -> its name in the hosts file. */
  readonly names: Map<string, string>;
  /** Whether our DNS responder serves members' names (access rules let DNS through then). */
  dnsOn(): boolean;
}

export class MemberFeatures {
  /** Our answers to members' route offers (what the host routes: host-net.ts). */
  readonly routeChoices: RouteChoices;
  /** This machine's exit node choice. */
  readonly exitNode: ExitNode;
  /** Who may reach this machine through the mesh. */
  readonly access: AccessRules;
  /** Devices this node is the gateway of. */
  readonly devices: DeviceRegistry;

  /** Everything read from the state directory; nothing touches the system yet. */
  constructor(
    private readonly n: MemberHost,
    stateDir: string,
    spec: NetworkSpec,
    net: NetworkKeys,
    log: Logger,
  ) {
    this.routeChoices = new RouteChoices(join(stateDir, `routes-${spec.name}.json`), !!spec.acceptRoutes);
    this.routeChoices.load();
    this.exitNode = new ExitNode(join(stateDir, `exit-${spec.name}.json`), log);
    this.exitNode.load(spec);
    this.access = new AccessRules(join(stateDir, `access-${spec.name}.json`), log);
    this.access.load();
    this.devices = new DeviceRegistry(join(stateDir, `devices-${spec.name}.json`), net, log);
    this.devices.load();
  }

  /** The mesh exists (the node joined): the devices we are the gateway of are announced. */
  meshReady(mesh: Mesh): void {
    if (this.devices.keys.length) mesh.setDevices(this.devices.keys);
  }

  /** The TUN helper opened, or a second passed: the host follows the exit choice and the rules. */
  sync(): void {
    const { mesh, tun } = this.n;
    this.exitNode.sync(mesh, tun, this.n.udp.port);
    this.access.sync(mesh, tun, this.n.dnsOn());
  }

  /** Once a second: also the access rules' counters. */
  second(now: number): void {
    this.sync();
    this.access.tick(now, this.n.tun);
  }

  /** The helper opened: everything it carries for these features is set up. */
  opened(): void {
    this.exitNode.sync(this.n.mesh, this.n.tun, this.n.udp.port);
    this.devicesChanged();
    this.access.sync(this.n.mesh, this.n.tun, this.n.dnsOn());
  }

  /** The helper's answer to one of ours; false when it was not ours (a plain route). */
  routed(op: string, error: string | null, count: number): boolean {
    if (op.startsWith('access-')) this.access.answered(op, error, count);
    else if (op === 'exit-on' || op === 'exit-off') this.exitNode.routed(error);
    else if (op === 'gateway') this.devices.gatewayAnswer(error);
    else return false;
    return true;
  }

  addDevice(p: Params<'add-device'>): NewDevice {
    const mesh = this.meshOrFail();
    const endpoint = p.endpoint ?? mesh.publicEndpoint ?? mesh.record.e[0] ?? null;
    const d = this.devices.add(mesh, p.name, endpoint);
    this.devicesChanged();
    return d;
  }

  removeDevice(name: string): { removed: string } {
    return this.devices.remove(this.meshOrFail(), this.n.device, name);
  }

  deviceRows() {
    return this.devices.rows(this.meshOrFail(), this.n.device);
  }

  /** Which devices hold changed: our own devices' peers follow. */
  devicesChanged(): void {
    this.devices.sync(this.n.mesh, this.n.device, this.n.tun);
  }

  chooseExit(p: Params<'exit-node'>): ExitStatus {
    return this.exitNode.choose(this.n.mesh, this.n.tun, this.n.udp.port, p);
  }

  exitStatus(): ExitStatus {
    return this.exitNode.status(this.n.mesh);
  }

  changeAccess(p: Params<'set-access'>): AccessStatus {
    const mesh = this.meshOrFail();
    const keyOf = (peer: string) => memberNamed(mesh, this.n.names, peer).key;
    return this.access.change(mesh, keyOf, this.n.tun, p, this.n.dnsOn());
  }

  accessStatus(): AccessStatus {
    return this.access.status(this.n.mesh);
  }

  private meshOrFail(): Mesh {
    const mesh = this.n.mesh;
    if (!mesh) throw new ApiFailure('failed', NOT_A_MEMBER);
    return mesh;
  }
}
