// The record sync (anti-entropy): hellos carry the root digest; when two members' digests differ
// one sends its 64 bucket digests (`dig`), the other lists the buckets that differ (`sum`; a large
// bucket's part digests first, `sub`), and each pushes the other exactly the records it lacks (`recs`).

import {
  MESH_BUCKETS,
  MESH_DIG_GAP,
  MESH_SUB_DIGEST,
  MESH_SUB_MIN,
  MESH_SUB_PARTS,
  MESH_SUB_PER_MESSAGE,
  MESH_SUM_ENTRIES,
  MESH_SUM_PARTS_SENT,
  MESH_SUM_PREFIX,
  MESH_SYNC_INTERVAL,
} from '../constants';
import type { Endpoint } from '../device';
import { b64, type Core } from './core';
import { subRange } from './digests';
import type { Member } from './members';
import type { MemberRecord, Removal } from './records';
import type { MessageOf, SumPart } from './wire';

export class Sync {
  /** When we last started a comparison (with any member): one at a time, MESH_DIG_GAP apart. */
  private lastDig = Number.NEGATIVE_INFINITY;
  /** When we last answered a comparison with a listing that invites pushes. */
  private lastDigAnswer = Number.NEGATIVE_INFINITY;

  constructor(private readonly core: Core) {}

  /** A hello carried the sender's root digest: compare if ours differs. */
  compare(sender: Member, digest: string, from: Endpoint): void {
    const c = this.core;
    c.digests.compute();
    if (digest === c.digests.root) return;
    // One comparison at a time (MESH_DIG_GAP): several members announcing the same news must
    // not each push us the same records; the others are compared again a moment later.
    if (c.now - sender.lastSync >= MESH_SYNC_INTERVAL && c.now - this.lastDig >= MESH_DIG_GAP) {
      this.lastDig = c.now;
      sender.lastSync = c.now;
      sender.syncPending = false;
      c.messenger.send({ type: 'dig', buckets: c.digests.packedB64 }, from);
    } else {
      sender.syncPending = true; // compare again once the interval has passed (resumePending)
      c.hot.add(sender);
    }
  }

  /** The scan: a comparison that waited for its turn goes out now, if its turn has come. */
  resumePending(m: Member): void {
    const c = this.core;
    if (
      m.direct &&
      m.syncPending &&
      c.now - m.lastSync >= MESH_SYNC_INTERVAL &&
      c.now - this.lastDig >= MESH_DIG_GAP
    ) {
      this.lastDig = c.now;
      m.syncPending = false;
      m.lastSync = c.now;
      c.digests.compute();
      c.messenger.send({ type: 'dig', buckets: c.digests.packedB64 }, m.direct);
    }
  }

  /** Their bucket digests: list ours of the buckets that differ (part digests of large buckets). */
  dig(msg: MessageOf<'dig'>, from: Endpoint): void {
    const c = this.core;
    c.digests.compute();
    const theirs = Buffer.from(msg.buckets, 'base64');
    if (theirs.length !== MESH_BUCKETS * 6) return;
    const mine = c.digests.packed;
    const differ: SumPart[] = [];
    for (let bk = 0; bk < MESH_BUCKETS; bk++) {
      if (Buffer.compare(theirs.subarray(bk * 6, bk * 6 + 6), mine.subarray(bk * 6, bk * 6 + 6)) !== 0)
        differ.push([bk, '', '~', []]);
    }
    // Members that heard our news compare with us at about the same time, and each would push
    // us the same records: only the first answer in MESH_DIG_GAP invites pushes; the others
    // say "no push" (they still take from us what they lack).
    const noPush = c.now - this.lastDigAnswer < MESH_DIG_GAP;
    if (!noPush) this.lastDigAnswer = c.now;
    const small = differ.filter(([bk]) => c.digests.bucketSize(bk) + 1 <= MESH_SUB_MIN);
    const big = differ.filter(([bk]) => c.digests.bucketSize(bk) + 1 > MESH_SUB_MIN).map(([bk]) => bk);
    this.sendSums(small, from, false, noPush);
    for (let i = 0; i < big.length; i += MESH_SUB_PER_MESSAGE)
      c.messenger.send(
        {
          type: 'sub',
          parts: big
            .slice(i, i + MESH_SUB_PER_MESSAGE)
            .map((bk) => [bk, b64(c.digests.subDigests(bk))] as [number, string]),
          noPush,
        },
        from,
      );
  }

  /**
   * Their part digests of buckets that differ: list ours of the parts that differ (they push what
   * we lack and ask for what they lack, as after a `dig`).
   */
  sub(msg: MessageOf<'sub'>, from: Endpoint): void {
    const ranges: SumPart[] = [];
    for (const [bk, d] of msg.parts) {
      const theirs = Buffer.from(d, 'base64');
      if (theirs.length !== MESH_SUB_PARTS * MESH_SUB_DIGEST) continue;
      const mine = this.core.digests.subDigests(bk);
      for (let g = 0; g < MESH_SUB_PARTS; g++) {
        const at = g * MESH_SUB_DIGEST;
        if (
          Buffer.compare(
            theirs.subarray(at, at + MESH_SUB_DIGEST),
            mine.subarray(at, at + MESH_SUB_DIGEST),
          ) !== 0
        )
          ranges.push([bk, ...subRange(bk, g), []]);
      }
    }
    this.sendSums(ranges, from, false, false, msg.noPush);
  }

  /** Listings of (parts of) buckets: push what they lack, and list ours back where they have newer. */
  sum(msg: MessageOf<'sum'>, from: Endpoint): void {
    const push: (MemberRecord | Removal)[] = [];
    const back: SumPart[] = [];
    for (const [bk, lo, hi, e] of msg.parts) {
      const theirs = new Map<string, number>();
      for (const x of e)
        theirs.set(x.slice(0, MESH_SUM_PREFIX), Number.parseInt(x.slice(MESH_SUM_PREFIX), 36));
      const mine = this.core.digests.entries(bk, lo, hi);
      for (const [k, v, rec] of mine) {
        const tv = theirs.get(k.slice(0, MESH_SUM_PREFIX));
        if (tv === undefined || tv < v) push.push(rec);
      }
      const mineMap = new Map(mine.map(([k, v]) => [k.slice(0, MESH_SUM_PREFIX), v]));
      for (const [k, v] of theirs) {
        const mv = mineMap.get(k);
        if (mv === undefined || mv < v) {
          back.push([bk, lo, hi, []]);
          break;
        }
      }
    }
    if (!msg.noPush) this.core.messenger.sendRecords(push, from);
    if (back.length && !msg.reply && !msg.noAsk) this.sendSums(back, from, true);
  }

  /** Records and removals pushed to us. */
  recs(msg: MessageOf<'recs'>): void {
    for (const r of msg.records) this.core.records.ingest(r, msg.sender);
  }

  /**
   * Send our listings ([key, version]) of the given bucket ranges, packed several buckets to a
   * datagram and a large bucket split into key ranges (MESH_SUM_ENTRIES entries per datagram at most).
   * `noPush`: the receiver should not push us what we lack (others are about to); `noAsk`: it should
   * not ask for what it lacks (it said `noPush`: it expects them from others).
   */
  private sendSums(ranges: SumPart[], to: Endpoint, reply: boolean, noPush = false, noAsk = false): void {
    let parts: SumPart[] = [];
    let count = 0;
    const flush = () => {
      if (parts.length) this.core.messenger.send({ type: 'sum', parts, reply, noPush, noAsk }, to);
      parts = [];
      count = 0;
    };
    for (const [bk, lo, hi] of ranges) {
      const entries = this.core.digests.entries(bk, lo, hi);
      for (let i = 0; i === 0 || i < entries.length; i += MESH_SUM_ENTRIES) {
        const chunk = entries.slice(i, i + MESH_SUM_ENTRIES);
        if (count + chunk.length > MESH_SUM_ENTRIES || parts.length >= MESH_SUM_PARTS_SENT) flush();
        const partLo = i === 0 ? lo : chunk[0][0].slice(0, MESH_SUM_PREFIX);
        const partHi =
          i + MESH_SUM_ENTRIES < entries.length
            ? entries[i + MESH_SUM_ENTRIES][0].slice(0, MESH_SUM_PREFIX)
            : hi;
        parts.push([bk, partLo, partHi, chunk.map(([k, v]) => k.slice(0, MESH_SUM_PREFIX) + v.toString(36))]);
        count += chunk.length + (partLo.length + partHi.length > 2 ? 2 : 1);
      }
    }
    flush();
  }
}
