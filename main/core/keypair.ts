// One direction-pair of transport keys derived from a completed handshake (a "session").
import { ReplayWindow } from './replay-window';

export class Keypair {
  sendCounter = 0;
  readonly replay = new ReplayWindow();

  constructor(
    readonly sendKey: Buffer,
    readonly recvKey: Buffer,
    readonly isInitiator: boolean,
    readonly localIndex: number,
    readonly remoteIndex: number,
    /** Monotonic time (ms) the keys were derived. */
    readonly createdAt: number,
  ) {}

  /** Wipe key material (called when a keypair is retired). */
  destroy(): void {
    this.sendKey.fill(0);
    this.recvKey.fill(0);
  }
}
