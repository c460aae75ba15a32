// Member records and removals: their form, signing and checking (XEdDSA with the member's WireGuard
// key), and taking them in. A record is versioned by its signer's wall clock: a newer one replaces
// the older; a removal is final and wins over any record of its key.

import {
  MESH_HOME_RELAYS,
  MESH_MAX_DEVICES,
  MESH_MAX_ENDPOINTS,
  MESH_MAX_MEMBERS,
  MESH_MAX_NAME,
  MESH_MAX_ROUTES,
  MESH_PEER_RESIGN_BURST,
  MESH_PEER_RESIGN_INTERVAL,
  MESH_RECORD_MAX_AGE,
  MESH_RECORD_MAX_FUTURE,
} from '../constants';
import { xeddsaSign, xeddsaVerify } from '../crypto/xeddsa';
import { parseCidr } from '../ip';
import { stripControl } from '../names';
import { endpointText, parseEndpointText } from './addresses';
import { b64, type Core } from './core';
import { withKey } from './members';
import { EXIT_ROUTES } from './routes';

/** A member's self-description, signed by the member (XEdDSA with its WireGuard key). */
export interface MemberRecord {
  /** Public key, base64. */
  k: string;
  /** Version: the member's wall clock in ms when it signed; higher wins. */
  v: number;
  /** Name (host name by default). */
  n: string;
  /** Endpoints to try, "ip:port" / "[ip6]:port": local addresses first, then as members see it. */
  e: string[];
  /** 1 when the member relays traffic between members that cannot reach each other. */
  rl: 0 | 1;
  /** Subnet routes the member offers (CIDR). */
  rt: string[];
  /** When the member first joined (wall ms): the earlier member keeps an IPv4 address both want. */
  j: number;
  /** Home relays: relaying members it keeps live paths to (large networks), so others relay via them. */
  hr: string[];
  /**
   * Devices reachable through this member (devices.ts): their WireGuard public keys, base64; their
   * overlay addresses derive from the keys. Absent when none (and then not in the signed bytes).
   */
  dv?: string[];
  /** Signature, base64. */
  s: string;
}

/** A member's removal from the network, signed by the member that removed it. Final. */
export interface Removal {
  /** Removed member's key. */
  k: string;
  /** Remover's key. */
  rm: string;
  /** When (remover's wall clock, ms). */
  v: number;
  s: string;
}

/** The version a removal has in digests and listings: newer than any record. */
export const REMOVED_VERSION = Number.MAX_SAFE_INTEGER;

export const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;
const SIG_RE = /^[A-Za-z0-9+/]{86}==$/;

/**
 * A record's or removal's JSON text and its size in bytes, made once per object (they never change):
 * a node answering a join storm sends the same records to every newcomer.
 */
const recordJson = new WeakMap<object, { text: string; bytes: number }>();

export function recordText(r: MemberRecord | Removal): { text: string; bytes: number } {
  let j = recordJson.get(r);
  if (!j) {
    const text = JSON.stringify(r);
    j = { text, bytes: Buffer.byteLength(text) };
    recordJson.set(r, j);
  }
  return j;
}

/** The bytes a record's signature covers (the network's id included: no replay into another network). */
function recordBytes(networkId: string, r: Omit<MemberRecord, 's'>): Uint8Array {
  const fields = ['peermesh record v1', networkId, r.k, r.v, r.n, r.e, r.rl, r.rt, r.j, r.hr];
  if (r.dv?.length) fields.push(r.dv);
  return Buffer.from(JSON.stringify(fields));
}

function removalBytes(networkId: string, r: Omit<Removal, 's'>): Uint8Array {
  return Buffer.from(JSON.stringify(['peermesh remove v1', networkId, r.k, r.rm, r.v]));
}

function isStrArray(x: unknown, max: number, maxLen: number): x is string[] {
  return Array.isArray(x) && x.length <= max && x.every((s) => typeof s === 'string' && s.length <= maxLen);
}

/** Our record, and the records and removals we take in. */
export class Records {
  /** Our own record (re-signed whenever what it says changes). */
  self: MemberRecord;
  /** Set once a member removed us from the network. */
  removedSelf: Removal | null = null;
  /** The network's id in base64, as signed records and removals name it. */
  private readonly networkId: string;
  /** Re-signs members may still cause now (a token bucket, see resignForPeer), and when it was filled. */
  private peerResigns = MESH_PEER_RESIGN_BURST;
  private peerResignsAt: number;
  /** A re-sign members caused waits for its turn; our next version must exceed this one. */
  private pendingResign = false;
  private pendingMin = 0;

  constructor(private readonly core: Core) {
    this.networkId = b64(core.opts.network.id);
    this.peerResignsAt = core.now;
    this.self = this.sign(0);
  }

  private get verify() {
    return this.core.opts.verify ?? xeddsaVerify;
  }

  sign(minVersion: number): MemberRecord {
    const c = this.core;
    const eps: string[] = [];
    for (const e of c.localEndpoints) eps.push(endpointText(e));
    if (c.publicEndpoint && !eps.includes(c.publicEndpoint)) eps.push(c.publicEndpoint);
    const body = {
      k: c.selfKey,
      v: Math.max(Math.floor(c.wallNow), minVersion + 1),
      n: stripControl(c.opts.name).slice(0, MESH_MAX_NAME),
      e: eps.slice(-MESH_MAX_ENDPOINTS),
      rl: (c.opts.relay ? 1 : 0) as 0 | 1,
      rt: c.opts.exitOffer
        ? [...(c.opts.routes ?? []).slice(0, MESH_MAX_ROUTES - EXIT_ROUTES.length), ...EXIT_ROUTES]
        : (c.opts.routes ?? []).slice(0, MESH_MAX_ROUTES),
      j: c.addresses.joined,
      hr: c.anchors.homeRelays ?? [],
      ...(c.devices.own.length ? { dv: c.devices.own.slice(0, MESH_MAX_DEVICES) } : {}),
    };
    const sig = xeddsaSign(c.opts.privateKey, recordBytes(this.networkId, body), c.opts.random(64));
    return { ...body, s: b64(sig) };
  }

  /** What our record says changed: sign a new version. */
  resign(): void {
    this.self = this.sign(Math.max(this.self.v, this.pendingMin));
    this.pendingResign = false;
    this.pendingMin = 0;
    this.core.invalidate(this.core.selfKey);
  }

  /**
   * Re-sign because of what a member told us (a newer copy of our record, an older join time, where
   * members see us), with a version above `minVersion`: at once while the bucket allows
   * (MESH_PEER_RESIGN_BURST, refilled one per MESH_PEER_RESIGN_INTERVAL), else at the tick when it
   * does (flushPeerResign). What the record will say is read at signing time, so nothing is lost.
   */
  resignForPeer(minVersion = 0): void {
    this.pendingResign = true;
    this.pendingMin = Math.max(this.pendingMin, minVersion);
    this.flushPeerResign();
  }

  /** A re-sign members caused, when its turn has come (called from every tick). */
  flushPeerResign(): void {
    if (!this.pendingResign) return;
    const now = this.core.now;
    const refill = (now - this.peerResignsAt) / MESH_PEER_RESIGN_INTERVAL;
    this.peerResigns = Math.min(MESH_PEER_RESIGN_BURST, this.peerResigns + refill);
    this.peerResignsAt = now;
    if (this.peerResigns < 1) return;
    this.peerResigns--;
    this.resign();
  }

  /** Check a record's form, age and signature. */
  private valid(r: unknown): r is MemberRecord {
    if (typeof r !== 'object' || r === null) return false;
    const x = r as MemberRecord;
    const wallNow = this.core.wallNow;
    if (
      typeof x.k !== 'string' ||
      !KEY_RE.test(x.k) ||
      !Number.isSafeInteger(x.v) ||
      x.v <= 0 ||
      x.v > wallNow + MESH_RECORD_MAX_FUTURE ||
      x.v < wallNow - MESH_RECORD_MAX_AGE ||
      typeof x.n !== 'string' ||
      x.n.length > MESH_MAX_NAME ||
      !isStrArray(x.e, MESH_MAX_ENDPOINTS, 47) ||
      !x.e.every((e) => parseEndpointText(e) !== null) ||
      (x.rl !== 0 && x.rl !== 1) ||
      !isStrArray(x.rt, MESH_MAX_ROUTES, 43) ||
      !x.rt.every((c) => parseCidr(c) !== null) ||
      !isStrArray(x.hr, MESH_HOME_RELAYS, 44) ||
      !x.hr.every((k) => KEY_RE.test(k)) ||
      (x.dv !== undefined &&
        (!isStrArray(x.dv, MESH_MAX_DEVICES, 44) || !x.dv.every((k) => KEY_RE.test(k)))) ||
      !Number.isSafeInteger(x.j) ||
      x.j <= 0 ||
      x.j > x.v ||
      typeof x.s !== 'string' ||
      !SIG_RE.test(x.s)
    )
      return false;
    return this.verify(
      Buffer.from(x.k, 'base64'),
      recordBytes(this.networkId, x),
      Buffer.from(x.s, 'base64'),
    );
  }

  /**
   * Take a record (or removal) we were sent; true when it was new information. `saved`: from our own
   * state file (a removal there was checked when it came, and holds even if its remover has gone since).
   */
  ingest(r: unknown, from: string | null, saved = false): boolean {
    if (typeof r !== 'object' || r === null) return false;
    if ('rm' in r) return this.ingestRemoval(r, saved);
    const c = this.core;
    const key = (r as MemberRecord).k;
    if (c.members.get(key)?.removed) return false;
    if (key === c.selfKey) {
      // Someone holds a version of our own record newer than ours, or as new but not ours (we
      // restarted with a clock behind, or a copy of our key runs elsewhere): publish one that wins.
      // (A copy of our current record changes nothing; re-signs members cause are rate-limited.)
      const x = r as MemberRecord;
      const v = x.v;
      if (
        Number.isSafeInteger(v) &&
        (v > this.self.v || (v === this.self.v && x.s !== this.self.s)) &&
        v >= this.pendingMin &&
        this.valid(r)
      )
        this.resignForPeer(v);
      // We joined earlier than we remember (state lost): keep the older join time, and its address.
      const j = (r as MemberRecord).j;
      if (Number.isSafeInteger(j) && j > 0 && j < c.addresses.joined && this.valid(r))
        c.addresses.setJoined(j);
      return false;
    }
    const known = c.members.get(key);
    if (known?.rec && known.rec.v >= (r as MemberRecord).v) return false;
    if (!known && c.members.size >= MESH_MAX_MEMBERS) return false;
    if (!this.valid(r)) {
      c.counters.recordsRejected++;
      return false;
    }
    const m = known ?? c.member(key);
    const isNew = !m.rec;
    if (isNew) c.recordCount++;
    const oldRoutes = m.rec?.rt.join(',');
    const oldJoined = m.rec?.j;
    const oldDevices = m.rec?.dv?.join(',');
    m.rec = c.opts.intern ? c.opts.intern(r) : r;
    m.name = stripControl(r.n);
    if (isNew) c.addresses.add(key);
    else if (oldJoined !== r.j) c.addresses.regroupOf(key);
    // In a small mesh whoever passes a record on has a path to its member; in a large one it came
    // through the record sync from anywhere (introductions say so on their own).
    if (from && from !== key && !c.onDemand) m.reachedBy = withKey(m.reachedBy, from);
    c.invalidate(key);
    // A new member can collide with a device's address (only when devices are in play); a changed list
    // settles again.
    if ((isNew && c.devices.inPlay) || (oldDevices ?? '') !== (r.dv ?? []).join(',')) c.devices.settle();
    const routesChanged = (oldRoutes ?? '') !== r.rt.join(',');
    c.ensurePeer(m, isNew ? 'new' : routesChanged ? 'changed' : 'same');
    if (routesChanged || (oldJoined !== r.j && r.rt.length)) c.routes.settle();
    c.emit({ type: 'changed' });
    if (isNew) {
      c.releaseHeld(key);
      c.emit({ type: 'member', key, name: m.name });
      if (!m.direct && c.wanted(m)) c.paths.startProbing(m);
    }
    return true;
  }

  private ingestRemoval(r: object, saved = false): boolean {
    const c = this.core;
    const x = r as Removal;
    if (
      typeof x.k !== 'string' ||
      !KEY_RE.test(x.k) ||
      typeof x.rm !== 'string' ||
      !KEY_RE.test(x.rm) ||
      !Number.isSafeInteger(x.v) ||
      typeof x.s !== 'string' ||
      !SIG_RE.test(x.s)
    )
      return false;
    // Only a current member may remove (ourselves included): a key with a valid record, not removed.
    // This holds for a removal of us too. A removal that arrives before its remover's record comes
    // again with the record sync; one from our own state file was checked when it came.
    const remover = c.members.get(x.rm);
    if (!saved && x.rm !== c.selfKey && (!remover?.rec || remover.removed)) {
      c.counters.removalsRefused++;
      return false;
    }
    if (x.k === c.selfKey) {
      // We were removed. Stop taking part; members ignore us anyway.
      if (!this.removedSelf && this.validRemoval(x)) {
        this.removedSelf = x;
        c.emit({ type: 'removed', key: x.k, name: stripControl(c.opts.name), by: x.rm });
      }
      return false;
    }
    const known = c.members.get(x.k);
    if (known?.removed) return false;
    if (!known && c.members.size >= MESH_MAX_MEMBERS) return false;
    if (remover?.removed || !this.validRemoval(x)) {
      c.counters.recordsRejected++;
      return false;
    }
    const m = known ?? c.member(x.k);
    const name = m.name;
    const hadRoutes = !!m.rec?.rt.length;
    if (m.rec) {
      c.recordCount--;
      m.rec = null;
      c.addresses.remove(m.key);
    }
    m.removed = x;
    m.rec = null;
    if (m.direct) c.byEndpoint.delete(endpointText(m.direct));
    m.direct = null;
    m.path = 'none';
    c.device.removePeer(x.k);
    c.index.removeValue(x.k);
    if (hadRoutes) c.routes.settle();
    if (c.devices.inPlay) c.devices.settle();
    c.invalidate(x.k);
    c.emit({ type: 'removed', key: x.k, name, by: x.rm });
    c.emit({ type: 'changed' });
    return true;
  }

  private validRemoval(x: Removal): boolean {
    return this.verify(
      Buffer.from(x.rm, 'base64'),
      removalBytes(this.networkId, x),
      Buffer.from(x.s, 'base64'),
    );
  }

  /**
   * Remove a member from the network, for good: every member stops accepting anything from it and
   * the removal spreads like a record (it wins over any record of that key) and is kept across
   * restarts. Returns false when the key is malformed, ourselves, or already removed.
   */
  remove(key: string): boolean {
    const c = this.core;
    if (key === c.selfKey || !KEY_RE.test(key)) return false;
    const body = { k: key, rm: c.selfKey, v: Math.floor(c.wallNow) };
    const sig = xeddsaSign(c.opts.privateKey, removalBytes(this.networkId, body), c.opts.random(64));
    const removal: Removal = { ...body, s: b64(sig) };
    if (!this.ingestRemoval(removal)) return false;
    for (const m of c.members.values())
      if (m.direct && !m.removed) c.messenger.sendRecords([removal], m.direct);
    return true;
  }
}
