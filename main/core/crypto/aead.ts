// AEAD and Diffie-Hellman through libsodium (sodium-native): ChaCha20-Poly1305 with WireGuard's
// nonce (32 zero bits, then the 64-bit little-endian counter), XChaCha20-Poly1305 for cookie
// replies, X25519. Bulk transport uses sealInto/openInto: caller-provided buffers, one reused nonce
// buffer, no allocation but two subarray views per packet.
import sodium from 'sodium-native';

const TAG = 16;
const nonce = Buffer.alloc(12); // reused: single-threaded, filled right before each call

function setCounter(counter: number): void {
  nonce.writeUInt32LE(counter >>> 0, 4);
  nonce.writeUInt32LE(Math.floor(counter / 0x1_0000_0000), 8);
}

/** ChaCha20-Poly1305 (RFC 8439) with an explicit 12-byte nonce. */
export function sealRaw(
  key: Uint8Array,
  nonce12: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce12, key);
  return out;
}

export function openRaw(
  key: Uint8Array,
  nonce12: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array | null {
  if (ciphertext.length < TAG) return null;
  const out = new Uint8Array(ciphertext.length - TAG);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce12, key);
    return out;
  } catch {
    return null;
  }
}

/** Seal with WireGuard's counter nonce (handshake messages use counter 0). */
export function seal(
  key: Uint8Array,
  counter: number,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array {
  setCounter(counter);
  return sealRaw(key, nonce, plaintext, ad);
}

export function open(
  key: Uint8Array,
  counter: number,
  ciphertext: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array | null {
  setCounter(counter);
  return openRaw(key, nonce, ciphertext, ad);
}

/**
 * Encrypt src[srcStart, srcEnd) into dst at dstStart (ciphertext + 16-byte tag). In place when
 * src === dst and srcStart === dstStart. Returns the bytes written.
 */
export function sealInto(
  key: Buffer,
  counter: number,
  src: Buffer,
  srcStart: number,
  srcEnd: number,
  dst: Buffer,
  dstStart: number,
): number {
  const n = srcEnd - srcStart + TAG;
  setCounter(counter);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
    dst.subarray(dstStart, dstStart + n),
    src.subarray(srcStart, srcEnd),
    null,
    null,
    nonce,
    key,
  );
  return n;
}

/**
 * Decrypt src[srcStart, srcEnd) (ciphertext + tag) into dst at dstStart (in place when the same).
 * Returns the plaintext length, or -1 when authentication fails.
 */
export function openInto(
  key: Buffer,
  counter: number,
  src: Buffer,
  srcStart: number,
  srcEnd: number,
  dst: Buffer,
  dstStart: number,
): number {
  const n = srcEnd - srcStart - TAG;
  if (n < 0) return -1;
  setCounter(counter);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
      dst.subarray(dstStart, dstStart + n),
      null,
      src.subarray(srcStart, srcEnd),
      null,
      nonce,
      key,
    );
    return n;
  } catch {
    return -1;
  }
}

/** XChaCha20-Poly1305 (24-byte nonce), used for cookie replies. */
export function xseal(
  key: Uint8Array,
  nonce24: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce24, key);
  return out;
}

/**
 * XChaCha20-Poly1305 in place: buf[start, end) is the plaintext, encrypted where it lies, the 16-byte
 * tag written at `end` (buf must have room for it).
 */
export function xsealInPlace(
  key: Uint8Array,
  nonce24: Uint8Array,
  buf: Buffer,
  start: number,
  end: number,
  ad: Uint8Array | null,
): void {
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    buf.subarray(start, end + TAG),
    buf.subarray(start, end),
    ad,
    null,
    nonce24,
    key,
  );
}

/**
 * XChaCha20-Poly1305: decrypt `ciphertext` (with its tag) into `out` (room for it minus the tag).
 * Returns the plaintext length, or -1 when it does not authenticate.
 */
export function xopenInto(
  key: Uint8Array,
  nonce24: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array | null,
  out: Uint8Array,
): number {
  const n = ciphertext.length - TAG;
  if (n < 0 || n > out.length) return -1;
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out.subarray(0, n), null, ciphertext, ad, nonce24, key);
    return n;
  } catch {
    return -1;
  }
}

export function xopen(
  key: Uint8Array,
  nonce24: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array | null,
): Uint8Array | null {
  if (ciphertext.length < TAG) return null;
  const out = new Uint8Array(ciphertext.length - TAG);
  return xopenInto(key, nonce24, ciphertext, ad, out) < 0 ? null : out;
}

/** X25519(priv, pub); null when the result is all zeros (pub is a small-order point). */
export function x25519(priv: Uint8Array, pub: Uint8Array): Uint8Array | null {
  if (priv.length !== 32 || pub.length !== 32) return null;
  const out = new Uint8Array(32);
  try {
    sodium.crypto_scalarmult(out, priv, pub);
    return out;
  } catch {
    return null;
  }
}

export function x25519Base(priv: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  sodium.crypto_scalarmult_base(out, priv);
  return out;
}

/** Constant-time comparison (libsodium's sodium_memcmp); false for different lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.sodium_memcmp(a, b);
}
