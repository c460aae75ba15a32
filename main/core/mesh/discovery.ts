// How a node finds the network without knowing any member's path yet: hellos to its bootstrap
// addresses (retried at doubling gaps from 25 ms until a member answers, then refreshed every
// minute) and sealed hellos to the broadcast addresses of its LANs (docs/mesh.md, "Joining").

import {
  MESH_BOOTSTRAP_FIRST_RETRY,
  MESH_BOOTSTRAP_REFRESH,
  MESH_BOOTSTRAP_RETRY,
  MESH_LAN_INTERVAL,
  MESH_MAX_LAN_TARGETS,
} from '../constants';
import type { Endpoint } from '../device';
import { endpointText } from './addresses';
import type { Core } from './core';

export class Discovery {
  private lanTargets: Endpoint[] = [];
  private nextLan = 0;
  private nextBootstrap: number;
  /** Bootstrap hello rounds sent so far (the retry gap doubles from MESH_BOOTSTRAP_FIRST_RETRY). */
  private bootstrapTries = 0;

  constructor(private readonly core: Core) {
    this.nextBootstrap = core.now;
  }

  /**
   * Broadcast addresses of the LANs we sit on (with the ports members listen on): a sealed hello
   * goes there every MESH_LAN_INTERVAL (and at once when the set changes), so members on one LAN
   * find each other without any bootstrap address and talk directly.
   */
  setLanTargets(eps: Endpoint[]): void {
    const before = this.lanTargets.map(endpointText).join(',');
    this.lanTargets = eps.slice(0, MESH_MAX_LAN_TARGETS);
    if (this.lanTargets.map(endpointText).join(',') !== before) this.nextLan = this.core.now;
  }

  /** The bootstrap hellos go at the next tick (our addresses changed). */
  bootstrapNow(): void {
    this.nextBootstrap = this.core.now;
  }

  lanHellos(): void {
    const c = this.core;
    if (!this.lanTargets.length || c.now < this.nextLan || c.records.removedSelf) return;
    this.nextLan = c.now + MESH_LAN_INTERVAL;
    for (const t of this.lanTargets) c.messenger.sendHello(t, false, true, true);
  }

  /**
   * The bootstrap hellos at their own time between two ticks (their first retries are 25 and 50 ms
   * apart): the node calls this often in its first second. False once a member answered.
   */
  bootstrapEarly(): boolean {
    if (this.directMembers() > 0) return false;
    this.bootstrapHellos();
    return true;
  }

  /** Members with a record and a direct path (those that answered us). */
  private directMembers(): number {
    let n = 0;
    for (const m of this.core.members.values()) if (m.direct && m.rec) n++;
    return n;
  }

  bootstrapHellos(): void {
    const c = this.core;
    if (c.now < this.nextBootstrap) return;
    const direct = this.directMembers();
    // Until a member answers: 25, 50, 100 ms... then every MESH_BOOTSTRAP_RETRY (nodes started
    // together: the bootstrap node may not be listening yet when our first hello goes).
    const retry = Math.min(MESH_BOOTSTRAP_RETRY, MESH_BOOTSTRAP_FIRST_RETRY * 2 ** this.bootstrapTries++);
    this.nextBootstrap = c.now + (direct ? MESH_BOOTSTRAP_REFRESH : retry);
    // A large mesh that reaches several members needs no reminder of the bootstrap nodes (which
    // would otherwise hear from every member every minute).
    if (!(c.onDemand && direct >= 2)) for (const b of c.opts.bootstrap) c.messenger.sendHello(b, false, true);
  }
}
