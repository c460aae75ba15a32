// The part of sodium-native (libsodium binding, v5) that PeerMesh uses. sodium-native ships no types.
// Every function asserts its argument sizes and throws on misuse; the *_decrypt functions also throw
// when authentication fails (callers in aead.ts turn that into a return value).
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  /** An AEAD's encrypt: c (ciphertext then the 16-byte tag) from m. */
  export type AeadEncrypt = (
    c: Bytes,
    m: Bytes,
    ad: Bytes | null,
    nsec: null,
    npub: Bytes,
    k: Bytes,
  ) => number;
  /** An AEAD's decrypt: m from c (ciphertext then tag); throws when c does not authenticate. */
  export type AeadDecrypt = (
    m: Bytes,
    nsec: null,
    c: Bytes,
    ad: Bytes | null,
    npub: Bytes,
    k: Bytes,
  ) => number;
  export const crypto_aead_chacha20poly1305_ietf_encrypt: AeadEncrypt;
  export const crypto_aead_chacha20poly1305_ietf_decrypt: AeadDecrypt;
  export const crypto_aead_xchacha20poly1305_ietf_encrypt: AeadEncrypt;
  export const crypto_aead_xchacha20poly1305_ietf_decrypt: AeadDecrypt;
  /** Throws when the result is all zeros (a small-order point). */
  export function crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
  export function crypto_scalarmult_base(q: Bytes, n: Bytes): void;
  export function randombytes_buf(b: Bytes): void;
  /** Constant-time equality of two buffers of the same length. */
  export function sodium_memcmp(a: Bytes, b: Bytes): boolean;
  export function sodium_memzero(b: Bytes): void;
  // Ed25519, for XEdDSA signatures made with X25519 keys (xeddsa.ts).
  /** q = n * B on Edwards25519 without clamping n. */
  export function crypto_scalarmult_ed25519_base_noclamp(q: Bytes, n: Bytes): void;
  /** r = s mod L, s 64 bytes, r 32 bytes. */
  export function crypto_core_ed25519_scalar_reduce(r: Bytes, s: Bytes): void;
  export function crypto_hash_sha512(out: Bytes, m: Bytes): void;
  export function crypto_sign_ed25519_pk_to_curve25519(curvePk: Bytes, edPk: Bytes): void;
  export function crypto_sign_verify_detached(sig: Bytes, m: Bytes, pk: Bytes): boolean;
}
