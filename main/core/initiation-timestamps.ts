// The newest TAI64N timestamp of an initiation accepted from each peer key, kept apart from the
// peers themselves: a peer dropped for idleness (large meshes), removed and added again, or a
// device made afresh after a restart (the node saves this table in its state directory and gives
// it back) still refuses an initiation recorded earlier and replayed by a stranger. WireGuard keeps
// the timestamp in the peer, so a peer made anew would answer such a replay and move its endpoint
// to the stranger's address.
//
// Bounded (INITIATION_TIMESTAMPS_MAX keys, least recently used first out); a key pushed out is
// protected again by the peer's own timestamp while it has a peer, and by nothing once it has none.

import { INITIATION_TIMESTAMPS_MAX, TAI64N_SIZE } from './constants';
import { compareTai64n } from './crypto/tai64n';
import { finishConsumeInitiation, peerKeys, type StaticIdentity } from './handshake';
import type { Initiation } from './messages';

/** The table as the node saves it: [peer key base64, timestamp hex] pairs, oldest use first. */
export type InitiationTimestampsState = [string, string][];

const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;
const TS_RE = /^[0-9a-f]{24}$/;

export class InitiationTimestamps {
  /** Key -> newest accepted timestamp; Map order is the order of last use (oldest first). */
  private readonly byKey = new Map<string, Uint8Array>();
  /** Bumped at every change: the node saves the table when it moved. */
  version = 0;

  constructor(readonly capacity = INITIATION_TIMESTAMPS_MAX) {}

  get size(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** True unless `ts` is at or before the newest timestamp accepted from `key`. */
  isNewer(key: string, ts: Uint8Array): boolean {
    const last = this.byKey.get(key);
    return !last || compareTai64n(ts, last) > 0;
  }

  /** An initiation with timestamp `ts` was accepted from `key`. */
  record(key: string, ts: Uint8Array): void {
    const last = this.byKey.get(key);
    if (last && compareTai64n(ts, last) <= 0) return;
    this.byKey.delete(key);
    this.byKey.set(key, Uint8Array.from(ts));
    if (this.byKey.size > this.capacity) this.byKey.delete(this.byKey.keys().next().value as string);
    this.version++;
  }

  export(): InitiationTimestampsState {
    const out: InitiationTimestampsState = [];
    for (const [k, ts] of this.byKey) out.push([k, Buffer.from(ts).toString('hex')]);
    return out;
  }

  /**
   * Take back what export() returned (a saved file: every entry is checked; malformed ones are
   * skipped). Newer timestamps win over ones already held. Returns the number of entries taken.
   */
  import(state: unknown): number {
    if (!Array.isArray(state)) return 0;
    let n = 0;
    for (const e of state.slice(-this.capacity)) {
      if (!Array.isArray(e) || e.length !== 2) continue;
      const [k, hex] = e as unknown[];
      if (typeof k !== 'string' || !KEY_RE.test(k) || typeof hex !== 'string' || !TS_RE.test(hex)) continue;
      const ts = Buffer.from(hex, 'hex');
      if (ts.length !== TAI64N_SIZE) continue;
      this.record(k, ts);
      n++;
    }
    return n;
  }
}

/**
 * An initiation from a key the device has no peer for (idle, or not added yet): true when its
 * timestamp is one the table already saw, so the device refuses it before asking the layer above to
 * add the peer. Decrypting the timestamp costs one more Diffie-Hellman, and only for keys in the table.
 */
export function replayedBeforePeer(
  table: InitiationTimestamps,
  local: StaticIdentity,
  remoteStatic: Uint8Array,
  keyB64: string,
  begun: { chainKey: Uint8Array; hash: Uint8Array },
  msg: Initiation,
): boolean {
  if (!table.has(keyB64)) return false;
  const done = finishConsumeInitiation(begun, peerKeys(local, remoteStatic, null), msg);
  return !!done && !table.isNewer(keyB64, done.timestamp);
}
