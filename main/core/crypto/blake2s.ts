// BLAKE2s (RFC 7693) with HMAC (RFC 2104) and WireGuard's HKDF on top. libsodium has only BLAKE2b.
// The unkeyed 32-byte hash and the HMAC go through Node's OpenSSL (blake2s256) where it has it: the
// same function, without compiling and optimizing our JavaScript at every start (V8 optimized
// `compress` during the first handshakes: 25-80 ms of a node's CPU; docs/mesh.md "The first
// packets"). Our JavaScript (Blake2sJs) does the keyed and shorter hashes (WireGuard's MACs), and all
// of it where OpenSSL lacks BLAKE2s (Electron's BoringSSL). It runs for handshakes and cookies only
// (never per transport packet), but is still written to allocate nothing per compression: state and
// message words live in typed arrays.
import { createHash, createHmac, type Hash } from 'node:crypto';

const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
].flat();

const BLOCK = 64;
// Scratch space shared by all instances (single-threaded).
const v = new Uint32Array(16);
const m = new Uint32Array(16);

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

/** BLAKE2s in JavaScript, any output length and key (the reference for the OpenSSL path). */
export class Blake2sJs {
  private readonly h = new Uint32Array(8);
  private readonly buf = new Uint8Array(BLOCK);
  private bufLen = 0;
  private t = 0; // bytes compressed so far (< 2^53 is plenty)
  private done = false;

  constructor(
    private readonly outLen = 32,
    key?: Uint8Array,
  ) {
    const keyLen = key ? key.length : 0;
    if (outLen < 1 || outLen > 32) throw new RangeError('BLAKE2s output length must be 1..32');
    if (keyLen > 32) throw new RangeError('BLAKE2s key must be at most 32 bytes');
    this.h.set(IV);
    this.h[0] ^= 0x01010000 ^ (keyLen << 8) ^ outLen;
    if (key && keyLen > 0) {
      this.buf.set(key);
      this.bufLen = BLOCK; // the key is a full block of its own
    }
  }

  update(data: Uint8Array): this {
    if (this.done) throw new Error('BLAKE2s: update after digest');
    let i = 0;
    const n = data.length;
    while (i < n) {
      if (this.bufLen === BLOCK) {
        this.t += BLOCK;
        this.compress(this.buf, 0, false);
        this.bufLen = 0;
      }
      const take = Math.min(BLOCK - this.bufLen, n - i);
      this.buf.set(data.subarray(i, i + take), this.bufLen);
      this.bufLen += take;
      i += take;
    }
    return this;
  }

  digest(): Uint8Array {
    if (this.done) throw new Error('BLAKE2s: digest called twice');
    this.done = true;
    this.t += this.bufLen;
    this.buf.fill(0, this.bufLen);
    this.compress(this.buf, 0, true);
    const out = new Uint8Array(this.outLen);
    for (let i = 0; i < this.outLen; i++) out[i] = this.h[i >> 2] >>> (8 * (i & 3));
    return out;
  }

  private compress(block: Uint8Array, off: number, last: boolean): void {
    const h = this.h;
    for (let i = 0; i < 16; i++) {
      const o = off + i * 4;
      m[i] = block[o] | (block[o + 1] << 8) | (block[o + 2] << 16) | (block[o + 3] << 24);
    }
    for (let i = 0; i < 8; i++) {
      v[i] = h[i];
      v[i + 8] = IV[i];
    }
    v[12] ^= this.t >>> 0;
    v[13] ^= Math.floor(this.t / 0x1_0000_0000);
    if (last) v[14] = ~v[14];
    for (let r = 0; r < 10; r++) {
      const s = r * 16;
      g(0, 4, 8, 12, m[SIGMA[s]], m[SIGMA[s + 1]]);
      g(1, 5, 9, 13, m[SIGMA[s + 2]], m[SIGMA[s + 3]]);
      g(2, 6, 10, 14, m[SIGMA[s + 4]], m[SIGMA[s + 5]]);
      g(3, 7, 11, 15, m[SIGMA[s + 6]], m[SIGMA[s + 7]]);
      g(0, 5, 10, 15, m[SIGMA[s + 8]], m[SIGMA[s + 9]]);
      g(1, 6, 11, 12, m[SIGMA[s + 10]], m[SIGMA[s + 11]]);
      g(2, 7, 8, 13, m[SIGMA[s + 12]], m[SIGMA[s + 13]]);
      g(3, 4, 9, 14, m[SIGMA[s + 14]], m[SIGMA[s + 15]]);
    }
    for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
  }
}

function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  v[a] = v[a] + v[b] + x;
  v[d] = rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + y;
  v[d] = rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = rotr(v[b] ^ v[c], 7);
}

/** Whether this process's OpenSSL has BLAKE2s (Node's does; Electron's BoringSSL does not). */
export const OPENSSL_BLAKE2S = (() => {
  try {
    createHash('blake2s256');
    return true;
  } catch {
    return false;
  }
})();

/** BLAKE2s: by OpenSSL when unkeyed with 32 bytes of output (and OpenSSL has it), else Blake2sJs. */
export class Blake2s {
  private readonly impl: Hash | Blake2sJs;

  constructor(outLen = 32, key?: Uint8Array) {
    this.impl =
      outLen === 32 && !key?.length && OPENSSL_BLAKE2S
        ? createHash('blake2s256')
        : new Blake2sJs(outLen, key);
  }

  update(data: Uint8Array): this {
    this.impl.update(data);
    return this;
  }

  digest(): Uint8Array {
    // A Uint8Array of its own (callers may take .buffer), not Node's Buffer.
    return Uint8Array.from(this.impl.digest());
  }
}

/** BLAKE2s of `data` with `outLen` bytes of output, optionally keyed (MAC). */
export function blake2s(outLen: number, data: Uint8Array, key?: Uint8Array): Uint8Array {
  return new Blake2s(outLen, key).update(data).digest();
}

/** HMAC-BLAKE2s-256 (RFC 2104 with a 64-byte block), as WireGuard's HKDF uses it. */
export function hmacBlake2s(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (OPENSSL_BLAKE2S) return Uint8Array.from(createHmac('blake2s256', key).update(data).digest());
  return hmacBlake2sJs(key, data);
}

/** HMAC-BLAKE2s-256 in JavaScript (the reference for the OpenSSL path). */
export function hmacBlake2sJs(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? new Blake2sJs(32).update(key).digest() : key);
  const ipad = new Uint8Array(BLOCK);
  const opad = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  const inner = new Blake2sJs(32).update(ipad).update(data).digest();
  return new Blake2sJs(32).update(opad).update(inner).digest();
}

/**
 * WireGuard's KDF_n (paper section 5.2): T0 = HMAC(C, input), T1 = HMAC(T0, 0x1),
 * Ti = HMAC(T0, T(i-1) || i). Returns [T1 .. Tn].
 */
export function hkdf(chainingKey: Uint8Array, input: Uint8Array, n: 1 | 2 | 3): Uint8Array[] {
  const t0 = hmacBlake2s(chainingKey, input);
  const out: Uint8Array[] = [];
  let prev: Uint8Array = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    const msg = new Uint8Array(prev.length + 1);
    msg.set(prev);
    msg[prev.length] = i;
    prev = hmacBlake2s(t0, msg);
    out.push(prev);
  }
  t0.fill(0);
  return out;
}
