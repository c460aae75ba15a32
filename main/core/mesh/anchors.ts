// Anchors: in a large mesh (over MESH_EAGER_MAX members) a member keeps paths only to its anchors —
// its MESH_RING_NEIGHBOURS closest members on each side on the key ring, and MESH_HOME_RELAYS relays
// by rendezvous hashing — and to members it has traffic with. Every member computes the same anchors
// for anyone from the same records, so anyone can ask a member's anchors to introduce or relay it.

import {
  MESH_ANCHORS_REFRESH,
  MESH_HOME_RELAYS,
  MESH_HOME_RELAYS_HOLD,
  MESH_PATH_TIMEOUT,
  MESH_RING_NEIGHBOURS,
} from '../constants';
import type { Core } from './core';
import { ringPos } from './members';

/** A 32-bit finaliser (MurmurHash3's fmix32): rendezvous scores that spread well. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Keep the `max` entries with the smallest scores (ties by key) in a small sorted array. */
function keepSmallest(list: [number, string][], score: number, key: string, max: number): void {
  if (list.length === max) {
    const last = list[max - 1];
    if (score > last[0] || (score === last[0] && key >= last[1])) return;
    list.pop();
  }
  let i = list.length;
  while (i > 0 && (list[i - 1][0] > score || (list[i - 1][0] === score && list[i - 1][1] > key))) i--;
  list.splice(i, 0, [score, key]);
}

export class Anchors {
  /** Our own anchors (and two spare relay candidates). */
  private mine = new Set<string>();
  private dirty = true;
  private computedAt = Number.NEGATIVE_INFINITY;
  /** anchorsOf() answers until records change (cleared by changed(): joins, leaves, new records). */
  private readonly cache = new Map<string, string[]>();
  /** Our relay candidates in rendezvous order (the first live ones become our home relays). */
  private relayCandidates: string[] = [];
  /** The relays we keep live paths to, published in our record. */
  homeRelays: string[] = [];
  private lastHomeChange = Number.NEGATIVE_INFINITY;
  private readonly selfPos: number;

  constructor(private readonly core: Core) {
    this.selfPos = ringPos(core.selfKey);
  }

  /** Records changed: recompute (at most every MESH_ANCHORS_REFRESH). */
  changed(): void {
    this.dirty = true;
    this.cache.clear();
  }

  /** Whether `key` is one of our anchors. */
  has(key: string): boolean {
    return this.mine.has(key);
  }

  /** The anchors of a member (ourselves included). O(N) the first time after records change. */
  of(key: string, relayCount = MESH_HOME_RELAYS): string[] {
    if (key === this.core.selfKey) return this.compute(key, relayCount);
    let a = this.cache.get(key);
    if (!a || relayCount !== MESH_HOME_RELAYS) {
      a = this.compute(key, relayCount);
      if (relayCount === MESH_HOME_RELAYS) this.cache.set(key, a);
    }
    return a;
  }

  private compute(key: string, relayCount: number): string[] {
    const c = this.core;
    const self = key === c.selfKey;
    const pos = self ? this.selfPos : (c.members.get(key)?.pos ?? ringPos(key));
    const succ: [number, string][] = [];
    const pred: [number, string][] = [];
    const relays: [number, string][] = [];
    // A member's own record names the relays it really keeps paths to (live ones); use those.
    const published = self ? null : c.members.get(key)?.rec?.hr;
    const consider = (k: string, p: number, rl: boolean) => {
      if (k === key) return;
      keepSmallest(succ, (p - pos) >>> 0 || 0x100000000, k, MESH_RING_NEIGHBOURS);
      keepSmallest(pred, (pos - p) >>> 0 || 0x100000000, k, MESH_RING_NEIGHBOURS);
      if (rl && !published?.length) keepSmallest(relays, mix32(pos ^ p), k, relayCount);
    };
    consider(c.selfKey, this.selfPos, !!c.opts.relay);
    for (const m of c.members.values()) if (m.rec && !m.removed) consider(m.key, m.pos, m.rec.rl === 1);
    const out = new Set<string>(published ?? []);
    for (const x of [...relays, ...succ, ...pred]) out.add(x[1]);
    if (self) this.relayCandidates = relays.map((x) => x[1]);
    return [...out];
  }

  /** The scan: our anchors after record changes, and our home relays (at most every MESH_HOME_RELAYS_HOLD). */
  refresh(): void {
    const c = this.core;
    if (this.dirty && c.now - this.computedAt >= MESH_ANCHORS_REFRESH) {
      this.dirty = false;
      this.computedAt = c.now;
      // Two spare relay candidates: if a home relay is gone, the next one already has a path.
      this.mine = new Set(this.of(c.selfKey, MESH_HOME_RELAYS + 2));
      for (const k of this.mine) {
        const m = c.members.get(k);
        if (m) c.hot.add(m);
      }
    }
    // Home relays: the first candidates we have a live direct path to, published in our record (at
    // most every MESH_HOME_RELAYS_HOLD), so that members reach us through relays that really reach us.
    if (!c.onDemand || c.now - this.lastHomeChange < MESH_HOME_RELAYS_HOLD) return;
    const home = this.relayCandidates
      .filter((k) => {
        const m = c.members.get(k);
        return m?.direct && c.now - m.lastDirect < MESH_PATH_TIMEOUT;
      })
      .slice(0, MESH_HOME_RELAYS);
    if (home.length && home.join() !== this.homeRelays.join()) {
      this.homeRelays = home;
      this.lastHomeChange = c.now;
      c.records.resign();
    }
  }
}
