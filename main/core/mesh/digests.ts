// Record digests as XOR sets, and the sorted bucket listings the record sync sends.
//
// Every entry (a key with a record or a removal, ourselves included) contributes a hash of (key,
// version); a bucket's digest (keys by their first 6 bits) is the XOR of its entries' (48 bits), a
// part's of theirs (32 other bits; a bucket has MESH_SUB_PARTS parts by the key's second base64
// character). They are kept up to date record by record: a change costs one hash, not a re-hash of
// the bucket on every comparison a peer asks for (a join storm asks thousands). An insider could make
// two different sets collide, as with any digest this short: it would only delay the sync of a
// record that also travels by hellos and introductions.

import { MESH_BUCKETS, MESH_SUB_DIGEST, MESH_SUB_PARTS } from '../constants';
import { Blake2s } from '../crypto/blake2s';
import { b64, type Core, hash } from './core';
import type { EntryDigest, Member } from './members';
import { type MemberRecord, REMOVED_VERSION, type Removal } from './records';

/** A record in a bucket listing: key, version, the record (or removal), key bytes. */
export type BucketEntry = [string, number, MemberRecord | Removal, Uint8Array];

const B64_STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_ASCII = '+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const LABEL_ENTRY = new TextEncoder().encode('peermesh digest entry v2');

function bucketOf(keyBytes: Uint8Array): number {
  return keyBytes[0] >> 2; // 64 buckets
}

/** The bucket of a base64 key (-1: not base64). */
function bucketOfText(key: string): number {
  return B64_STD.indexOf(key[0]);
}

/**
 * What an entry (key, version) adds to the digests: [16 bits for its bucket's digest, 32 more bits
 * for it, 32 other bits for its part's] of a hash of the key and the version (64-bit big-endian).
 */
function entryDigest(keyBytes: Uint8Array, v: number): EntryDigest {
  const buf = new Uint8Array(40);
  buf.set(keyBytes.subarray(0, 32));
  const view = new DataView(buf.buffer);
  view.setUint32(32, Math.floor(v / 0x100000000));
  view.setUint32(36, v >>> 0);
  const h = new DataView(new Blake2s(32).update(LABEL_ENTRY).update(buf).digest().buffer);
  return [h.getUint16(0), h.getUint32(2), h.getUint32(6)];
}

/**
 * Entry digests by the record or removal they describe: computed once per record object (in a node,
 * once per version it takes in; in the simulator, where nodes share record objects, once in all).
 */
const entryDigests = new WeakMap<object, EntryDigest>();

function entryDigestOf(entry: object, keyBytes: Uint8Array, v: number): EntryDigest {
  let x = entryDigests.get(entry);
  if (!x) {
    x = entryDigest(keyBytes, v);
    entryDigests.set(entry, x);
  }
  return x;
}

/** Index of the first entry (sorted by key) whose key is at least `bound`. */
function firstAtLeast(entries: readonly BucketEntry[], bound: string): number {
  let a = 0;
  let b = entries.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (entries[mid][0] < bound) a = mid + 1;
    else b = mid;
  }
  return a;
}

/**
 * Key range [lo, hi) of part g of bucket bk: the bucket is the key's first base64 character; the part,
 * four consecutive characters (in ASCII order, the order keys compare in) of the second one.
 */
export function subRange(bk: number, g: number): [string, string] {
  const c1 = B64_STD[bk];
  const per = B64_ASCII.length / MESH_SUB_PARTS;
  const lo = c1 + B64_ASCII[g * per];
  const hi = c1 + (g === MESH_SUB_PARTS - 1 ? '~' : B64_ASCII[(g + 1) * per]);
  return [lo, hi];
}

export class Digests {
  /** Member keys per bucket (ourselves not included). */
  private readonly bucketKeys: Set<string>[] = Array.from({ length: MESH_BUCKETS }, () => new Set());
  /** Per bucket: [high 16 bits, low 32 bits] of its digest. */
  private readonly bucketX = new Uint32Array(MESH_BUCKETS * 2);
  /** Per bucket and part (MESH_SUB_PARTS each): the part's 32-bit digest. */
  private readonly subX = new Uint32Array(MESH_BUCKETS * MESH_SUB_PARTS);
  private digestAll = true;
  private digestChanged = true;
  /** The version of our record in the digests (-1: none yet), and what it added to them. */
  private selfDigV = -1;
  private selfDigX: EntryDigest | null = null;
  /** The 64 bucket digests (6 bytes each), as sent in a `dig` (base64), and the root digest of hellos. */
  packed = new Uint8Array(MESH_BUCKETS * 6);
  packedB64 = '';
  root = '';
  /** Sorted entries per bucket, kept up to date by updateEntry() (changed()). */
  private readonly entryCache: (BucketEntry[] | undefined)[] = new Array(MESH_BUCKETS);

  constructor(private readonly core: Core) {}

  /** A member joined the table. */
  addKey(m: Member): void {
    this.bucketKeys[bucketOf(m.keyBytes)].add(m.key);
  }

  /** Members (not ourselves) in a bucket. */
  bucketSize(bk: number): number {
    return this.bucketKeys[bk].size;
  }

  /** The entry of `key` changed (or, without a key, anything may have): bring digests and listings up to date. */
  changed(key?: string): void {
    const bk = key ? bucketOfText(key) : -1;
    if (bk >= 0) {
      this.redigest(key!);
      this.updateEntry(bk, key!);
    } else {
      this.digestAll = true;
      this.entryCache.fill(undefined);
    }
  }

  /** A member leaves the table: take its entry out. */
  forget(m: Member): void {
    if (m.digX && !this.digestAll) this.xorEntry(m.keyBytes, m.digX);
    m.digV = -1;
    m.digX = null;
    this.bucketKeys[bucketOf(m.keyBytes)].delete(m.key);
  }

  /** Bring the digests up to date with the entry of `key` (now: a record, a removal, or none). */
  private redigest(key: string): void {
    if (this.digestAll) return; // rebuilt from scratch on next use
    const c = this.core;
    const self = key === c.selfKey;
    const m = self ? undefined : c.members.get(key);
    const kb = self ? c.device.identity.publicKey : m?.keyBytes;
    if (!kb) return; // gone: forget() took its entry out
    const oldV = m ? m.digV : this.selfDigV;
    const entry = this.entryOf(key);
    const newV = entry ? entry[1] : -1;
    if (oldV === newV) return;
    const oldX = m ? m.digX : this.selfDigX;
    if (oldX) this.xorEntry(kb, oldX);
    const newX = entry ? entryDigestOf(entry[2], kb, newV) : null;
    if (newX) this.xorEntry(kb, newX);
    if (m) {
      m.digV = newV;
      m.digX = newX;
    } else {
      this.selfDigV = newV;
      this.selfDigX = newX;
    }
  }

  /** Add or take out (the same: XOR) an entry's digest (of its key and version). */
  private xorEntry(keyBytes: Uint8Array, x: EntryDigest): void {
    const bk = keyBytes[0] >> 2;
    const g = Math.floor(
      B64_ASCII.indexOf(B64_STD[((keyBytes[0] & 3) << 4) | (keyBytes[1] >> 4)]) /
        (B64_ASCII.length / MESH_SUB_PARTS),
    );
    this.bucketX[bk * 2] ^= x[0];
    this.bucketX[bk * 2 + 1] ^= x[1];
    this.subX[bk * MESH_SUB_PARTS + g] ^= x[2];
    this.digestChanged = true;
  }

  /** Make `packed`, `packedB64` and `root` current. */
  compute(): void {
    if (this.digestAll) {
      this.digestAll = false;
      this.bucketX.fill(0);
      this.subX.fill(0);
      this.selfDigV = -1;
      this.selfDigX = null;
      this.redigest(this.core.selfKey);
      for (const m of this.core.members.values()) {
        m.digV = -1;
        m.digX = null;
        this.redigest(m.key);
      }
      this.digestChanged = true;
    }
    if (!this.digestChanged) return;
    this.digestChanged = false;
    const packed = new Uint8Array(MESH_BUCKETS * 6);
    const view = new DataView(packed.buffer);
    for (let bk = 0; bk < MESH_BUCKETS; bk++) {
      view.setUint16(bk * 6, this.bucketX[bk * 2]);
      view.setUint32(bk * 6 + 2, this.bucketX[bk * 2 + 1]);
    }
    this.packed = packed;
    this.root = b64(hash('root', packed).subarray(0, 9));
    this.packedB64 = b64(packed);
  }

  /** The MESH_SUB_PARTS part digests of a bucket, as sent in a `sub`. */
  subDigests(bk: number): Uint8Array {
    this.compute();
    const d = new Uint8Array(MESH_SUB_PARTS * MESH_SUB_DIGEST);
    const view = new DataView(d.buffer);
    for (let g = 0; g < MESH_SUB_PARTS; g++)
      view.setUint32(g * MESH_SUB_DIGEST, this.subX[bk * MESH_SUB_PARTS + g]);
    return d;
  }

  /** Records in a bucket with keys in [lo, hi), ours included, sorted by key. Do not modify. */
  entries(bk: number, lo = '', hi = '~'): readonly BucketEntry[] {
    let all = this.entryCache[bk];
    if (!all) {
      const c = this.core;
      const out: BucketEntry[] = [];
      if (bucketOf(c.device.identity.publicKey) === bk) out.push(this.entryOf(c.selfKey)!);
      for (const k of this.bucketKeys[bk]) {
        const e = this.entryOf(k);
        if (e) out.push(e);
      }
      out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      all = out;
      this.entryCache[bk] = all;
    }
    if (lo === '' && hi === '~') return all;
    return all.slice(firstAtLeast(all, lo), firstAtLeast(all, hi));
  }

  /**
   * Bring a cached listing up to date with the entry of `key` (now: a record, a removal, or none):
   * a new array (callers may still hold the old one), no re-sort.
   */
  private updateEntry(bk: number, key: string): void {
    const all = this.entryCache[bk];
    if (!all) return;
    const entry = this.entryOf(key);
    const i = firstAtLeast(all, key);
    const here = i < all.length && all[i][0] === key;
    if (!entry && !here) return;
    const next = all.slice();
    if (!entry) next.splice(i, 1);
    else if (here) next[i] = entry;
    else next.splice(i, 0, entry);
    this.entryCache[bk] = next;
  }

  /** The entry of `key` now (ourselves or a member): its record or removal, or null (none). */
  private entryOf(key: string): BucketEntry | null {
    const c = this.core;
    if (key === c.selfKey) {
      const self = c.records.self;
      return [c.selfKey, self.v, self, c.device.identity.publicKey];
    }
    const m = c.members.get(key);
    if (m?.removed) return [m.key, REMOVED_VERSION, m.removed, m.keyBytes];
    if (m?.rec) return [m.key, m.rec.v, m.rec, m.keyBytes];
    return null;
  }
}
