// Session indices (wireguard-go's indextable.go): the random 32-bit index each handshake and session
// is known by in the messages that answer it, to its peer and keypair (none yet: a handshake).

import { SESSION_INDEX_ATTEMPTS } from './constants';
import type { Keypair } from './keypair';
import type { Peer } from './peer';

export type IndexEntry = { peer: Peer; keypair: Keypair | null };

export class IndexTable extends Map<number, IndexEntry> {
  /** A new random index for `peer` (its handshake; a session once the keypair is set). */
  add(peer: Peer, random: (n: number) => Uint8Array): number {
    for (let i = 0; i < SESSION_INDEX_ATTEMPTS; i++) {
      const r = random(4);
      const idx = ((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) >>> 0;
      if (!this.has(idx)) {
        this.set(idx, { peer, keypair: null });
        return idx;
      }
    }
    throw new Error('could not allocate a session index');
  }

  /** Forget the peer's handshake in progress (its index, unless a session took it). */
  dropHandshake(peer: Peer): void {
    if (peer.handshake) {
      const e = this.get(peer.handshake.localIndex);
      if (e && !e.keypair) this.delete(peer.handshake.localIndex);
      peer.handshake = null;
    }
  }

  /** A keypair is done: its index is free and its keys are zeroed. */
  retire(kp: Keypair | null): void {
    if (!kp) return;
    this.delete(kp.localIndex);
    kp.destroy();
  }
}
