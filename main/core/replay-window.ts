// Sliding-window replay protection for transport counters (RFC 6479's bitmap, as WireGuard):
// a counter is accepted once, out of order within the window, never when older than the window.
// Counters are JS numbers: exact up to 2^53, far beyond what we ever send before rekeying.

const WORD_BITS = 32;
const WORDS = 256; // ring of 256 x 32 bits = 8192 bits
const RING_BITS = WORDS * WORD_BITS;
/** Packets this far behind the newest one are still accepted (one word is kept spare). */
export const WINDOW_SIZE = RING_BITS - WORD_BITS;

export class ReplayWindow {
  private readonly ring = new Uint32Array(WORDS);
  private last = -1; // highest counter accepted so far

  reset(): void {
    this.ring.fill(0);
    this.last = -1;
  }

  /** Would `counter` be accepted? (Does not record it.) */
  check(counter: number): boolean {
    if (counter < 0 || !Number.isSafeInteger(counter)) return false;
    if (counter > this.last) return true;
    if (this.last - counter >= WINDOW_SIZE) return false;
    const word = Math.floor(counter / WORD_BITS) % WORDS;
    return (this.ring[word] & (1 << (counter % WORD_BITS))) === 0;
  }

  /** Accept `counter` once: true the first time within the window, false for replays and old ones. */
  accept(counter: number): boolean {
    if (!this.check(counter)) return false;
    const index = Math.floor(counter / WORD_BITS);
    if (counter > this.last) {
      const lastIndex = this.last < 0 ? -1 : Math.floor(this.last / WORD_BITS);
      // Clear the words we move over (at most the whole ring).
      const steps = Math.min(index - lastIndex, WORDS);
      for (let i = 1; i <= steps; i++) this.ring[(lastIndex + i) % WORDS] = 0;
      this.last = counter;
    }
    this.ring[index % WORDS] |= 1 << (counter % WORD_BITS);
    return true;
  }
}
