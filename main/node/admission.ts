// Invitations, as a member answers them (core/invites.ts has the protocol): the node's Invites,
// shared with the other members through the mesh (any online member answers a code), kept in the
// state directory, following the network's secret, and the budget that drops a flood of join
// datagrams unread (JoinBudget).
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../core/device';
import { Invites, JoinBudget } from '../core/invites';
import { endpointText, type Mesh } from '../core/mesh';
import { joinEndpoints } from './api-handlers';
import type { Logger } from './log';
import type { NetworkFiles } from './persistence';

export class Admission {
  readonly invites: Invites;
  private readonly budget = new JoinBudget();

  /** The saved invitations are read; new ones are shared with the members. */
  constructor(
    private readonly mesh: Mesh,
    network: string,
    secret: Uint8Array,
    random: (n: number) => Uint8Array,
    private readonly files: NetworkFiles,
    private readonly log: Logger,
  ) {
    this.invites = new Invites(network, secret, random);
    this.invites.setEpoch(mesh.epoch.n, mesh.epoch.secret);
    // New invitations are shared with the members: any online member answers them (docs/mesh.md).
    this.invites.shared = {
      create: (key, created, expires, uses) => mesh.createInvite(key, created, expires, uses),
      use: (id, attempt) => mesh.useInvite(id, attempt),
      revoke: (id) => mesh.revokeInvite(id),
      view: () => mesh.sharedInvites(),
    };
    files.loadInvites(this.invites);
  }

  /** Someone used (or tried) an invitation of ours: the answer goes to `send`. */
  handle(buf: Buffer, len: number, from: Endpoint, send: (reply: Buffer, to: Endpoint) => void): void {
    const t0 = performance.now();
    if (!this.budget.allow(t0)) return; // a flood of join datagrams: dropped unread (JoinBudget)
    try {
      const r = this.invites.handle(
        buf.subarray(0, len),
        Date.now() / 1000,
        joinEndpoints(this.mesh).map(endpointText),
      );
      if (!r) return;
      send(r.reply, from);
      if (r.counted) {
        this.log.info(`"${r.name}" at ${endpointText(from)} used an invitation to join`);
        this.save();
      } else if (!r.accepted) {
        this.log.warn(`"${r.name}" at ${endpointText(from)} was refused: ${r.reason}`);
      }
    } finally {
      this.budget.spent(performance.now() - t0);
    }
  }

  /** Join datagrams dropped unread because reading them took too long (JoinBudget). */
  get throttled(): number {
    return this.budget.dropped;
  }

  save(): void {
    this.files.saveInvites(this.invites);
  }

  /**
   * The network moved to a new secret after a removal: invitations answer with it, and those still
   * open are revoked (a code given out before may be in the removed person's hands).
   */
  secretRotated(): void {
    const { n, secret } = this.mesh.epoch;
    this.invites.setEpoch(n, secret);
    const revoked = this.invites.revokeOpen(Date.now() / 1000);
    if (revoked) this.log.info(`${revoked} open invitation(s) revoked: the network secret changed`);
    this.save();
  }
}
