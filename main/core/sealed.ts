// Sealed JSON datagrams: the one envelope of mesh discovery messages (mesh/messenger.ts) and of join
// messages (invites.ts).
//
//   type (1) | 0 | 0 | version (1) | nonce (24) | JSON text, encrypted | tag (16)
//
// XChaCha20-Poly1305 with the 4-byte header as associated data. The caller draws the random nonce
// (after the size check: an oversize message costs no randomness) and checks replays itself.

import { SEALED_HEADER_SIZE, SEALED_NONCE_SIZE, SEALED_TAG_SIZE } from './constants';
import { xopenInto, xsealInPlace } from './crypto/aead';

export const SEALED_OVERHEAD = SEALED_HEADER_SIZE + SEALED_NONCE_SIZE + SEALED_TAG_SIZE;

export interface SealOptions {
  /** A message larger than this (bytes, all included) is not made: seal returns null. */
  max?: number;
  /** Pad the text with spaces (JSON allows them) so the datagram is at least this long. */
  padTo?: number;
}

/** Seal `text` into one new datagram, or null when it would exceed `max`. */
export function sealJson(
  key: Uint8Array,
  type: number,
  version: number,
  text: string,
  random: (n: number) => Uint8Array,
  o: SealOptions = {},
): Buffer | null {
  const max = o.max ?? Number.POSITIVE_INFINITY;
  // A string longer than `max` is too long in bytes too (byteLength >= length): no need to measure it.
  let len = text.length <= max ? Buffer.byteLength(text) : max;
  if (SEALED_OVERHEAD + len > max) return null;
  const padded = (o.padTo ?? 0) - SEALED_OVERHEAD;
  const textLen = len;
  if (padded > len) len = padded;
  const total = SEALED_OVERHEAD + len;
  const out = Buffer.allocUnsafe(total);
  out[0] = type;
  out[1] = out[2] = 0;
  out[3] = version;
  const start = SEALED_HEADER_SIZE + SEALED_NONCE_SIZE;
  out.set(random(SEALED_NONCE_SIZE), SEALED_HEADER_SIZE);
  out.write(text, start);
  if (len > textLen) out.fill(0x20, start + textLen, start + len);
  xsealInPlace(
    key,
    out.subarray(SEALED_HEADER_SIZE, start),
    out,
    start,
    start + len,
    out.subarray(0, SEALED_HEADER_SIZE),
  );
  return out;
}

/**
 * Open a sealed datagram of the given type and version into `into` (room for the largest text).
 * Returns the text's length there, or -1: wrong size, type or version, or it does not authenticate.
 */
export function openJson(
  key: Uint8Array,
  type: number,
  version: number,
  b: Uint8Array,
  max: number,
  into: Uint8Array,
): number {
  if (b.length < SEALED_OVERHEAD || b.length > max || b[0] !== type || b[3] !== version) return -1;
  return xopenInto(
    key,
    sealedNonce(b),
    b.subarray(SEALED_HEADER_SIZE + SEALED_NONCE_SIZE),
    b.subarray(0, SEALED_HEADER_SIZE),
    into,
  );
}

/** The nonce of a sealed datagram (what a replay cache remembers). */
export function sealedNonce(b: Uint8Array): Uint8Array {
  return b.subarray(SEALED_HEADER_SIZE, SEALED_HEADER_SIZE + SEALED_NONCE_SIZE);
}
