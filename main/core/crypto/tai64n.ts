// TAI64N timestamps (12 bytes, big-endian): the handshake initiation's replay protection.
// The core is sans-IO: the caller passes the wall-clock time in.

const TAI64_BASE = 2n ** 62n + 10n; // TAI64 label of the Unix epoch (+10 s TAI-UTC offset, as WireGuard)
/** Nanoseconds are rounded down to this (~16.8 ms, as wireguard-go) so timestamps leak little timing. */
const WHITENER_MASK = 0x1000000 - 1;

export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(12);
  const dv = new DataView(out.buffer);
  const seconds = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - seconds * 1000) * 1e6);
  dv.setBigUint64(0, TAI64_BASE + BigInt(seconds));
  dv.setUint32(8, nanos & ~WHITENER_MASK);
  return out;
}

/** Compare two TAI64N timestamps: negative, zero or positive. */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 12; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
