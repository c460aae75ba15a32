// XEdDSA (Signal's specification, "The XEdDSA and VXEdDSA Signature Schemes", 2016): Ed25519-
// compatible signatures made with an X25519 key pair. A mesh member signs the record that describes
// it with the same key its WireGuard sessions use, so nobody can forge another member's record and
// no second key has to be created, stored or bound to the first.
//
// Signing: a = the clamped X25519 private scalar, A = a*B on Edwards25519; if A's sign bit is set, a
// is replaced by -a (so A always has sign bit 0, matching the public key recovered from the X25519
// u-coordinate). r = SHA-512(0xFE || 0xFF*31 || a || M || Z) mod L with 64 random bytes Z;
// R = r*B; h = SHA-512(R || A || M) mod L; s = r + h*a mod L; signature R || s.
// Verifying: A is recovered from u by the birational map y = (u - 1) / (u + 1) with sign bit 0, then
// the signature is checked by libsodium's standard Ed25519 verification.
//
// Scalar arithmetic mod L uses BigInt. Its timing depends on the length of the numbers, not their
// bits, and signing runs only when a node's own record changes (never on request of a peer), so
// there is no useful timing signal for an attacker.
import sodium from 'sodium-native';

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function toBigLE(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]);
  return x;
}

function fromBigLE(x: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let v = x;
  for (let i = 0; i < len; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * The inverse of a (0 < a < m, m prime) by the extended Euclidean algorithm: ~0.05 ms, where
 * Fermat's a^(m-2) took ~2 ms of BigInt products at each new member's key. Only public values (the
 * u-coordinates of public keys) are inverted, so its timing reveals nothing secret.
 */
function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1] = [m, a];
  let [t0, t1] = [0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return t0 < 0n ? t0 + m : t0;
}

function sha512(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const m = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    m.set(p, o);
    o += p.length;
  }
  const out = new Uint8Array(64);
  sodium.crypto_hash_sha512(out, m);
  return out;
}

function clamp(priv: Uint8Array): Uint8Array {
  const k = Uint8Array.from(priv);
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  return k;
}

/** The Ed25519 public key (sign bit 0) that corresponds to an X25519 public key, or null if none. */
export function edwardsFromMontgomery(u32: Uint8Array): Uint8Array | null {
  if (u32.length !== 32) return null;
  const masked = Uint8Array.from(u32);
  masked[31] &= 0x7f;
  const u = toBigLE(masked);
  if (u >= P) return null; // non-canonical encoding
  const denominator = (u + 1n) % P;
  if (denominator === 0n) return null;
  const y = (((u - 1n + P) % P) * modInverse(denominator, P)) % P;
  return fromBigLE(y, 32); // sign bit (bit 255) is 0
}

const HASH1_PREFIX = (() => {
  const p = new Uint8Array(32).fill(0xff);
  p[0] = 0xfe;
  return p;
})();

/** Sign `message` with an X25519 private key. `random64` must be 64 fresh random bytes. */
export function xeddsaSign(privateKey: Uint8Array, message: Uint8Array, random64: Uint8Array): Uint8Array {
  if (privateKey.length !== 32 || random64.length !== 64) throw new Error('xeddsa: bad key or random size');
  const k = clamp(privateKey);
  const A = new Uint8Array(32);
  sodium.crypto_scalarmult_ed25519_base_noclamp(A, k);
  let a = toBigLE(k) % L;
  if (A[31] & 0x80) {
    a = (L - a) % L;
    A[31] &= 0x7f; // -A: same y, sign bit cleared
  }
  const aBytes = fromBigLE(a, 32);
  const r = toBigLE(sha512(HASH1_PREFIX, aBytes, message, random64)) % L;
  const R = new Uint8Array(32);
  sodium.crypto_scalarmult_ed25519_base_noclamp(R, fromBigLE(r, 32));
  const h = toBigLE(sha512(R, A, message)) % L;
  const s = (r + h * a) % L;
  const sig = new Uint8Array(64);
  sig.set(R);
  sig.set(fromBigLE(s, 32), 32);
  aBytes.fill(0);
  k.fill(0);
  return sig;
}

const edCache = new Map<string, Uint8Array | null>();

/** Verify an XEdDSA signature against an X25519 public key. */
export function xeddsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const id = Buffer.from(publicKey).toString('base64');
  let A = edCache.get(id);
  if (A === undefined) {
    A = edwardsFromMontgomery(publicKey);
    if (edCache.size >= 4096) edCache.clear();
    edCache.set(id, A);
  }
  if (!A) return false;
  try {
    return sodium.crypto_sign_verify_detached(signature, message, A);
  } catch {
    return false;
  }
}
