// Invitations shared by the members (docs/mesh.md, "Invitations"): any online member answers a join
// code, not only the member that made it.
//
// What is shared is a grow-only set of small signed facts, each signed (XEdDSA) by a current member:
//   inv  an invitation: its derived key (inviteKey(token), never the token), when it was made, when
//        it expires, how many machines it admits, and the network epoch it was made in
//   use  a machine admitted by the signer: the invitation's id and the joining attempt's id
//   rev  the invitation is revoked (by any current member)
// A fact never changes, so members converge by union: a new fact is pushed to the members we have
// direct paths to, and every MESH_INVITE_SYNC a member that holds facts sends the members it hears
// from a digest of its set; one that differs gets the whole set back (the set is bounded).
//
// An invitation's uses are the distinct attempt ids in its use facts, wherever they were answered:
// a retry of one attempt (or the same attempt answered by two members) is one use. A member other
// than the inviter lets the inviter answer a new attempt first (Invites.defer): while the inviter
// answers, its count is exact. When it does not, two members admitting two different machines
// before either hears of the other's use can admit more than the invitation allows: the window is
// the time a use fact takes to reach the other member.
//
// An invitation holds only in the epoch it was made in: a rotation after a removal revokes every
// open one (a code given out before may be in the removed person's hands), and an invitation whose
// inviter has been removed is refused too.

import { INVITE_MAX_USES } from '../constants';
import { xeddsaSign, xeddsaVerify } from '../crypto/xeddsa';
import type { Endpoint } from '../device';
import { inviteId as inviteIdOf, type SharedInvite } from '../invites';
import { b64, type Core, hash } from './core';
import { KEY_RE } from './records';

/** A digest of our set goes to a member that sends us discovery messages at most this often (ms). */
export const MESH_INVITE_SYNC = 30_000;
/**
 * Invitations kept in the set (open, used, revoked, or expired less than INVITE_EXPIRED_KEPT ago):
 * beyond this, new ones are dropped.
 */
export const MESH_MAX_INVITES = 64;
/** Invitations one member may have open (not expired, not revoked) at once. */
export const MESH_MAX_INVITES_PER_MEMBER = 16;
/**
 * Use facts kept beyond an invitation's limit (uses admitted at once by two members, see the
 * header); more are dropped (they cannot make anything more admissible).
 */
export const MESH_INVITE_OVERUSE = 8;
/** Expired invitations are kept this long (s): their use gets a clear "expired" answer. */
export const INVITE_EXPIRED_KEPT = 7 * 86400;
/** Facts in one datagram. */
const FACTS_PER_MESSAGE = 4;
/** The longest validity of an invitation (s): 30 days, as `peermesh invite --expires`. */
const MAX_VALIDITY = 30 * 86400 + 3600;

const SIG_RE = /^[A-Za-z0-9+/]{86}==$/;
const ID_RE = /^[0-9a-f]{8}$/;
const ATTEMPT_RE = /^[A-Za-z0-9+/]{16}$/;

export interface InviteFact {
  t: 'inv';
  /** The inviter's key. */
  by: string;
  /** inviteKey(token), base64. */
  k: string;
  /** Made (s). */
  c: number;
  /** Expires (s). */
  x: number;
  /** Machines it admits. */
  u: number;
  /** The network epoch it was made in. */
  ep: number;
  s: string;
}

export interface UseFact {
  t: 'use';
  by: string;
  /** The invitation's id (inviteId of its key). */
  i: string;
  /** The joining attempt's id. */
  a: string;
  /** When (signer's wall clock, ms). */
  v: number;
  s: string;
}

export interface RevokeFact {
  t: 'rev';
  by: string;
  i: string;
  v: number;
  s: string;
}

export type Fact = InviteFact | UseFact | RevokeFact;

function factBytes(networkId: string, f: Fact): Uint8Array {
  const fields =
    f.t === 'inv'
      ? ['peermesh invite v1', networkId, f.by, f.k, f.c, f.x, f.u, f.ep]
      : f.t === 'use'
        ? ['peermesh invite use v1', networkId, f.by, f.i, f.a, f.v]
        : ['peermesh invite revoke v1', networkId, f.by, f.i, f.v];
  return Buffer.from(JSON.stringify(fields));
}

const isCount = (x: unknown, max: number) =>
  Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= max;

/** A fact's form (no signature check). */
function wellFormed(x: unknown): x is Fact {
  if (typeof x !== 'object' || x === null) return false;
  const f = x as Fact;
  if (typeof f.by !== 'string' || !KEY_RE.test(f.by) || typeof f.s !== 'string' || !SIG_RE.test(f.s))
    return false;
  switch (f.t) {
    case 'inv':
      return (
        Object.keys(f).length === 8 &&
        typeof f.k === 'string' &&
        KEY_RE.test(f.k) &&
        isCount(f.c, 2 ** 32) &&
        isCount(f.x, 2 ** 32) &&
        f.x > f.c &&
        f.x - f.c <= MAX_VALIDITY &&
        isCount(f.u, INVITE_MAX_USES) &&
        f.u >= 1 &&
        isCount(f.ep, Number.MAX_SAFE_INTEGER)
      );
    case 'use':
      return (
        Object.keys(f).length === 6 &&
        typeof f.i === 'string' &&
        ID_RE.test(f.i) &&
        typeof f.a === 'string' &&
        ATTEMPT_RE.test(f.a) &&
        isCount(f.v, Number.MAX_SAFE_INTEGER)
      );
    case 'rev':
      return (
        Object.keys(f).length === 5 &&
        typeof f.i === 'string' &&
        ID_RE.test(f.i) &&
        isCount(f.v, Number.MAX_SAFE_INTEGER)
      );
    default:
      return false;
  }
}

interface Entry {
  inv: InviteFact;
  id: string;
  uses: Map<string, UseFact>;
  rev: RevokeFact | null;
}

export class Invitations {
  /** Invitation id -> the invitation and the facts about it. */
  private readonly byId = new Map<string, Entry>();
  /** When we last sent each member a digest of our set (ms, monotonic). */
  private readonly lastDigest = new Map<string, number>();
  private digestCache: string | null = null;
  private readonly networkId: string;
  /** Facts dropped: malformed, bad signature, signer no current member, over a bound. */
  rejected = 0;

  constructor(private readonly core: Core) {
    this.networkId = b64(core.opts.network.id);
  }

  private get verify() {
    return this.core.opts.verify ?? xeddsaVerify;
  }

  private nowSec(): number {
    return Math.floor(this.core.wallNow / 1000);
  }

  /** Whether a key is a current member (ourselves included): a record, not removed. */
  private current(key: string): boolean {
    const c = this.core;
    if (key === c.selfKey) return !c.records.removedSelf;
    const m = c.members.get(key);
    return !!m?.rec && !m.removed;
  }

  /** Every fact we hold, invitations first (a receiver needs an invitation before its uses). */
  facts(): Fact[] {
    const out: Fact[] = [];
    for (const e of this.byId.values()) out.push(e.inv);
    for (const e of this.byId.values()) {
      out.push(...e.uses.values());
      if (e.rev) out.push(e.rev);
    }
    return out;
  }

  get size(): number {
    return this.byId.size;
  }

  /** A digest of the set (the same at two members holding the same facts). */
  digest(): string {
    if (this.digestCache === null) {
      const sigs = this.facts()
        .map((f) => f.s)
        .sort();
      this.digestCache = b64(hash('peermesh invites digest v1', sigs.join(','))).slice(0, 22);
    }
    return this.digestCache;
  }

  /** Drop invitations past their expiry by more than INVITE_EXPIRED_KEPT, with their facts. */
  private prune(): void {
    const old = this.nowSec() - INVITE_EXPIRED_KEPT;
    for (const [id, e] of this.byId)
      if (e.inv.x <= old) {
        this.byId.delete(id);
        this.digestCache = null;
      }
  }

  /**
   * Take a fact; true when it was new. `saved`: from our own state file (its signer was a current
   * member when it came, and may have gone since: the invitation is then refused, see view()).
   */
  take(x: unknown, saved = false): boolean {
    if (!wellFormed(x)) {
      this.rejected++;
      return false;
    }
    const e = x.t === 'inv' ? undefined : this.byId.get(x.i);
    if (x.t === 'inv') {
      const id = inviteIdOf(x.k);
      const had = this.byId.get(id);
      if (had) {
        if (had.inv.s !== x.s) this.rejected++; // another invitation with the same id: the first stays
        return false;
      }
      this.prune();
      const open = [...this.byId.values()].filter(
        (y) => y.inv.by === x.by && y.inv.x > this.nowSec() && !y.rev,
      );
      if (
        x.x <= this.nowSec() - INVITE_EXPIRED_KEPT ||
        this.byId.size >= MESH_MAX_INVITES ||
        open.length >= MESH_MAX_INVITES_PER_MEMBER
      ) {
        this.rejected++;
        return false;
      }
    } else {
      // A use or revocation of an invitation we do not hold (yet): it comes again with the next
      // comparison, after its invitation.
      if (!e) return false;
      if (x.t === 'use' && (e.uses.has(x.a) || e.uses.size >= e.inv.u + MESH_INVITE_OVERUSE)) {
        if (!e.uses.has(x.a)) this.rejected++;
        return false;
      }
      if (x.t === 'rev' && e.rev) return false;
    }
    if (
      (!saved && !this.current(x.by)) ||
      !this.verify(Buffer.from(x.by, 'base64'), factBytes(this.networkId, x), Buffer.from(x.s, 'base64'))
    ) {
      this.rejected++;
      return false;
    }
    if (x.t === 'inv')
      this.byId.set(inviteIdOf(x.k), { inv: x, id: inviteIdOf(x.k), uses: new Map(), rev: null });
    else if (x.t === 'use') e!.uses.set(x.a, x);
    else e!.rev = x;
    this.digestCache = null;
    return true;
  }

  private sign<T extends Fact>(body: Omit<T, 's'>): T {
    const c = this.core;
    const f = { ...body, s: '' } as T;
    f.s = b64(xeddsaSign(c.opts.privateKey, factBytes(this.networkId, f), c.opts.random(64)));
    return f;
  }

  /** Take a fact we signed and push it to the members we have direct paths to. */
  private publish(f: Fact): boolean {
    if (!this.take(f)) return false;
    this.push([f], null);
    this.core.emit({ type: 'changed' });
    return true;
  }

  /** Push facts to every member with a direct path (but `except`). */
  private push(facts: Fact[], except: string | null): void {
    const c = this.core;
    for (const m of c.members.values())
      if (m.direct && m.rec && !m.removed && m.key !== except) this.send(facts, m.direct);
  }

  private send(facts: Fact[], to: Endpoint): void {
    for (let i = 0; i < facts.length; i += FACTS_PER_MESSAGE)
      this.core.messenger.send({ type: 'invs', facts: facts.slice(i, i + FACTS_PER_MESSAGE) }, to);
  }

  /** A new invitation of ours (its key derived from the token by the caller). */
  create(key: string, createdSec: number, expiresSec: number, maxUses: number): string | null {
    const c = this.core;
    const f = this.sign<InviteFact>({
      t: 'inv',
      by: c.selfKey,
      k: key,
      c: Math.floor(createdSec),
      x: Math.floor(expiresSec),
      u: maxUses,
      ep: c.epochs.epoch,
    });
    return this.publish(f) ? inviteIdOf(key) : null;
  }

  /** We admitted attempt `attempt` with invitation `id`: sign the use and spread it. */
  use(id: string, attempt: string): void {
    const c = this.core;
    this.publish(
      this.sign<UseFact>({ t: 'use', by: c.selfKey, i: id, a: attempt, v: Math.floor(c.wallNow) }),
    );
  }

  /** Revoke an invitation (any current member may). False when we hold none with that id. */
  revoke(id: string): boolean {
    const e = this.byId.get(id);
    if (!e) return false;
    if (e.rev) return true;
    const c = this.core;
    return this.publish(this.sign<RevokeFact>({ t: 'rev', by: c.selfKey, i: id, v: Math.floor(c.wallNow) }));
  }

  /** The invitations we hold, as answering them needs (kept ones: open, used, expired, revoked). */
  view(): SharedInvite[] {
    const c = this.core;
    const out: SharedInvite[] = [];
    for (const e of this.byId.values()) {
      const inviterGone = e.inv.by !== c.selfKey && !!c.members.get(e.inv.by)?.removed;
      out.push({
        id: e.id,
        key: e.inv.k,
        by: e.inv.by,
        mine: e.inv.by === c.selfKey,
        created: e.inv.c,
        expires: e.inv.x,
        maxUses: e.inv.u,
        usedBy: new Set(e.uses.keys()),
        revoked: !!e.rev,
        void: e.inv.ep !== c.epochs.epoch || inviterGone,
      });
    }
    return out;
  }

  /** Facts pushed to us by a member. New ones go on to the other members we have paths to (small networks). */
  received(facts: readonly unknown[], sender: string): void {
    const fresh: Fact[] = [];
    for (const f of facts) if (this.take(f)) fresh.push(f as Fact);
    if (!fresh.length) return;
    if (!this.core.onDemand) this.push(fresh, sender);
    this.core.emit({ type: 'changed' });
  }

  /** A member sent us a discovery message: compare sets now and then (only while we hold facts). */
  heard(sender: string, from: Endpoint): void {
    if (this.byId.size === 0) return;
    const now = this.core.now;
    const last = this.lastDigest.get(sender);
    if (last !== undefined && now - last < MESH_INVITE_SYNC) return;
    if (this.lastDigest.size > 4096) this.lastDigest.clear();
    this.lastDigest.set(sender, now);
    this.core.messenger.send({ type: 'invd', digest: this.digest(), reply: false }, from);
  }

  /** A member's digest of its set: when ours differs, send it ours (and our digest, unless an answer). */
  compare(digest: string, reply: boolean, from: Endpoint): void {
    if (digest === this.digest()) return;
    this.send(this.facts(), from);
    if (!reply) this.core.messenger.send({ type: 'invd', digest: this.digest(), reply: true }, from);
  }

  /** What to keep across restarts. */
  export(): Fact[] {
    this.prune();
    return this.facts();
  }

  import(list: unknown): void {
    if (!Array.isArray(list)) return;
    for (const f of list) this.take(f, true);
  }
}
