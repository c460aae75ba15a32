// The part of sodium-native (libsodium binding, v5) that PeerMesh uses. sodium-native ships no types.
// Every function asserts its argument sizes and throws on misuse; the *_decrypt functions also throw
// when authentication fails (callers in aead.ts turn that into a return value).
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Bytes,
    m: Bytes,
    ad: Bytes | null,
    nsec: null,
    npub: Bytes,
    k: Bytes,
  ): number;
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Bytes,
    nsec: null,
    c: Bytes,
    ad: Bytes | null,
    npub: Bytes,
    k: Bytes,
  ): number;
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Bytes,
    m: Bytes,
    ad: Bytes | null,
    nsec: null,
    npub: Bytes,
    k: Bytes,
  ): number;
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Bytes,
    nsec: null,
    c: Bytes,
    ad: Bytes | null,
    npub: Bytes,
    k: Bytes,
  ): number;
  /** Throws when the result is all zeros (a small-order point). */
  export function crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
  export function crypto_scalarmult_base(q: Bytes, n: Bytes): void;
  export function randombytes_buf(b: Bytes): void;
  /** Constant-time equality of two buffers of the same length. */
  export function sodium_memcmp(a: Bytes, b: Bytes): boolean;
  export function sodium_memzero(b: Bytes): void;
}
