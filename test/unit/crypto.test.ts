// Known-answer tests: BLAKE2s (RFC 7693 and the reference keyed vectors), HMAC-BLAKE2s and
// WireGuard's HKDF (cross-checked against Python's hashlib/hmac), X25519 (RFC 7748, sodium and
// tweetnacl agree), ChaCha20-Poly1305 (RFC 8439 2.8.2), XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha
// A.3.1), TAI64N.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sodium from 'sodium-native';
import nacl from 'tweetnacl';
import {
  constantTimeEqual,
  open,
  openInto,
  openRaw,
  seal,
  sealInto,
  sealRaw,
  x25519,
  x25519Base,
  xopen,
  xseal,
} from '../../main/core/crypto/aead';
import {
  Blake2s,
  Blake2sJs,
  blake2s,
  hkdf,
  hmacBlake2s,
  hmacBlake2sJs,
  OPENSSL_BLAKE2S,
} from '../../main/core/crypto/blake2s';
import { compareTai64n, tai64n } from '../../main/core/crypto/tai64n';
import { edwardsFromMontgomery, xeddsaSign, xeddsaVerify } from '../../main/core/crypto/xeddsa';

const h = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const range = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

describe('BLAKE2s', () => {
  it('RFC 7693 appendix B: "abc"', () => {
    assert.equal(
      hex(blake2s(32, new TextEncoder().encode('abc'))),
      '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
    );
  });

  it('reference keyed vectors (key 00..1f)', () => {
    assert.equal(
      hex(blake2s(32, new Uint8Array(0), range(32))),
      '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49',
    );
    assert.equal(
      hex(blake2s(32, range(255), range(32))),
      '3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd',
    );
  });

  it('16-byte output with a 16-byte key (the MAC WireGuard uses), multi-block input', () => {
    assert.equal(
      hex(blake2s(16, new Uint8Array(1000).fill(0x78), new Uint8Array(16).fill(0x6b))),
      '4f768135dc3f060fa7a6de3f6715484a',
    );
  });

  it('incremental hashing equals one-shot for every split of a 200-byte input', () => {
    const data = range(200);
    const want = hex(blake2s(32, data));
    for (let cut = 0; cut <= 200; cut += 7) {
      assert.equal(
        hex(new Blake2s(32).update(data.subarray(0, cut)).update(data.subarray(cut)).digest()),
        want,
      );
    }
  });

  it('HMAC-BLAKE2s matches Python hmac.new(key, msg, hashlib.blake2s)', () => {
    const msg = new TextEncoder().encode('message'.repeat(20));
    assert.equal(
      hex(hmacBlake2s(new TextEncoder().encode('key material'), msg)),
      'ee0b98f9ef43e82851f1cb5b5b60f45d272cb9ce6ec055b63b4748d6ba1c1beb',
    );
    // keys longer than a block are hashed first
    assert.equal(
      hex(hmacBlake2s(new Uint8Array(100).fill(0x4b), msg)),
      'd8c9109e0c05d20f72b737c710562219186c6f22444301e400d25ba766d73911',
    );
  });

  it("OpenSSL's BLAKE2s-256 and HMAC (the path Node takes) equal our JavaScript, for lengths 0..300 and keys up to 100 bytes", () => {
    assert.ok(OPENSSL_BLAKE2S, "Node's OpenSSL has blake2s256");
    for (let n = 0; n <= 300; n += n < 70 ? 1 : 13) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
      assert.equal(hex(new Blake2s(32).update(data).digest()), hex(new Blake2sJs(32).update(data).digest()));
      const key = Uint8Array.from({ length: n % 101 }, (_, i) => (i * 7 + 3) & 0xff);
      assert.equal(hex(hmacBlake2s(key, data)), hex(hmacBlake2sJs(key, data)));
    }
    const out = new Blake2s(32).update(range(5)).digest();
    assert.ok(!Buffer.isBuffer(out) && out.byteOffset === 0 && out.buffer.byteLength === 32);
  });

  it("WireGuard's HKDF (KDF1..3) matches an independent computation", () => {
    const [t1, t2, t3] = hkdf(range(32), new TextEncoder().encode('input keying material'), 3);
    assert.equal(hex(t1), 'd49ec1ae587b690ec2d4c38d1802dd052d26ab3338bc0b665629ece5dfc61ae1');
    assert.equal(hex(t2), '46d705e3e5cbc140bbfdf613d3733a0c3905bf21d5e1b34213c5a2a883b10553');
    assert.equal(hex(t3), '17e6966e3a04136a899866a1650d1a323fdcdcb19956e0e97c6be5291850b302');
    assert.deepEqual(hkdf(range(32), new TextEncoder().encode('input keying material'), 1), [t1]);
  });
});

describe('X25519 (RFC 7748)', () => {
  it('section 5.2 test vector', () => {
    const k = h('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    const u = h('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
    const want = 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552';
    assert.equal(hex(x25519(k, u)!), want);
    assert.equal(hex(nacl.scalarMult(k, u)), want);
  });

  it('section 6.1 Diffie-Hellman: Alice and Bob agree, sodium and tweetnacl agree', () => {
    const aPriv = h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bPriv = h('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const aPub = x25519Base(aPriv);
    const bPub = x25519Base(bPriv);
    assert.equal(hex(aPub), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    assert.equal(hex(bPub), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    assert.equal(hex(nacl.scalarMult.base(aPriv)), hex(aPub));
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    assert.equal(hex(x25519(aPriv, bPub)!), shared);
    assert.equal(hex(x25519(bPriv, aPub)!), shared);
  });

  it('a small-order public key (all zeros) yields null, not a zero secret', () => {
    assert.equal(x25519(range(32), new Uint8Array(32)), null);
    assert.equal(x25519(range(32), new Uint8Array(31)), null);
  });
});

describe('ChaCha20-Poly1305', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
  const ad = h('50515253c0c1c2c3c4c5c6c7');
  const pt = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );

  it('RFC 8439 section 2.8.2', () => {
    const ct = sealRaw(key, h('070000004041424344454647'), pt, ad);
    assert.equal(
      hex(ct),
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691',
    );
    assert.deepEqual(openRaw(key, h('070000004041424344454647'), ct, ad), pt);
  });

  it('tampering with ciphertext, tag, AD, key or counter makes open fail', () => {
    const ct = seal(key, 42, pt, ad);
    assert.deepEqual(open(key, 42, ct, ad), pt);
    for (const i of [0, 50, ct.length - 1]) {
      const bad = ct.slice();
      bad[i] ^= 1;
      assert.equal(open(key, 42, bad, ad), null);
    }
    assert.equal(open(key, 43, ct, ad), null);
    assert.equal(open(key, 42, ct, new Uint8Array(0)), null);
    assert.equal(open(new Uint8Array(32), 42, ct, ad), null);
    assert.equal(open(key, 42, ct.subarray(0, 15), ad), null);
  });

  it('counter nonce is 4 zero bytes then the 64-bit little-endian counter', () => {
    const counter = 2 ** 40 + 0x0102;
    const nonce = h('00000000 0201000000010000');
    assert.deepEqual(seal(key, counter, pt, null), sealRaw(key, nonce, pt, null));
  });

  it('sealInto/openInto work in place inside a larger buffer', () => {
    const k = Buffer.from(key);
    const buf = Buffer.alloc(16 + pt.length + 16 + 8, 0xee);
    Buffer.from(pt).copy(buf, 16);
    const n = sealInto(k, 7, buf, 16, 16 + pt.length, buf, 16);
    assert.equal(n, pt.length + 16);
    assert.deepEqual(new Uint8Array(buf.subarray(16, 16 + n)), seal(key, 7, pt, null));
    assert.equal(buf[16 + n], 0xee); // nothing written past the tag
    assert.equal(openInto(k, 7, buf, 16, 16 + n, buf, 16), pt.length);
    assert.deepEqual(new Uint8Array(buf.subarray(16, 16 + pt.length)), pt);
    assert.equal(openInto(k, 8, Buffer.from(seal(key, 7, pt, null)), 0, n, Buffer.alloc(n), 0), -1);
    assert.equal(openInto(k, 7, buf, 0, 10, buf, 0), -1);
  });
});

describe('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha A.3.1)', () => {
  it('matches the draft vector and rejects tampering', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
    const nonce = h('404142434445464748494a4b4c4d4e4f5051525354555657');
    const ad = h('50515253c0c1c2c3c4c5c6c7');
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const ct = xseal(key, nonce, pt, ad);
    assert.equal(hex(ct.subarray(0, 16)), 'bd6d179d3e83d43b9576579493c0e939');
    assert.equal(hex(ct.subarray(ct.length - 16)), 'c0875924c1c7987947deafd8780acf49');
    assert.deepEqual(xopen(key, nonce, ct, ad), pt);
    const bad = ct.slice();
    bad[3] ^= 0x80;
    assert.equal(xopen(key, nonce, bad, ad), null);
  });
});

describe('TAI64N and constant-time compare', () => {
  it('encodes the Unix epoch as 2^62 + 10 s, orders timestamps, hides sub-16 ms timing', () => {
    assert.equal(hex(tai64n(0)), '400000000000000a00000000');
    const a = tai64n(Date.UTC(2026, 10, 24, 12, 0, 0, 500));
    const b = tai64n(Date.UTC(2026, 10, 24, 12, 0, 0, 520));
    const c = tai64n(Date.UTC(2026, 10, 24, 12, 0, 1, 0));
    assert.ok(compareTai64n(a, b) < 0 && compareTai64n(b, c) < 0 && compareTai64n(c, a) > 0);
    assert.equal(compareTai64n(tai64n(1000.001), tai64n(1000.002)), 0); // below the 2^24 ns whitener
  });

  it('constantTimeEqual', () => {
    assert.ok(constantTimeEqual(range(16), range(16)));
    assert.ok(!constantTimeEqual(range(16), range(15)));
    const x = range(16);
    x[15] = 0;
    assert.ok(!constantTimeEqual(range(16), x));
  });
});

describe('XEdDSA (record signatures with X25519 keys)', () => {
  it('our u -> Edwards map agrees with libsodium Edwards -> u, for many keys', () => {
    for (let i = 0; i < 50; i++) {
      const kp = nacl.box.keyPair();
      const A = edwardsFromMontgomery(kp.publicKey)!;
      const back = new Uint8Array(32);
      sodium.crypto_sign_ed25519_pk_to_curve25519(back, A);
      assert.deepEqual(back, kp.publicKey);
    }
  });

  it('the u -> Edwards map equals y = (u - 1) * (u + 1)^(p - 2) mod p (Fermat) for any u', () => {
    const P = 2n ** 255n - 19n;
    const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
    const pow = (b: bigint, e: bigint) => {
      let r = 1n;
      for (let x = b % P; e > 0n; e >>= 1n, x = (x * x) % P) if (e & 1n) r = (r * x) % P;
      return r;
    };
    for (let i = 0; i < 200; i++) {
      const u = nacl.randomBytes(32);
      u[31] &= 0x7f;
      if (i === 0) u.fill(0); // u = 0: y = -1
      const n = le(u);
      if (n >= P - 1n) continue; // non-canonical, or u + 1 = p (no y): null, checked below
      const want = ((n - 1n + P) % P) * pow(n + 1n, P - 2n);
      assert.equal(le(edwardsFromMontgomery(u)!), want % P);
    }
    const minusOne = Buffer.from((P - 1n).toString(16), 'hex').reverse();
    assert.equal(edwardsFromMontgomery(minusOne), null);
  });

  it('signatures verify with the signer key only, and not after any change', () => {
    for (let i = 0; i < 20; i++) {
      const kp = nacl.box.keyPair();
      const other = nacl.box.keyPair();
      const msg = Buffer.from(`record ${i}`);
      const sig = xeddsaSign(kp.secretKey, msg, nacl.randomBytes(64));
      assert.ok(xeddsaVerify(kp.publicKey, msg, sig));
      assert.ok(!xeddsaVerify(other.publicKey, msg, sig));
      assert.ok(!xeddsaVerify(kp.publicKey, Buffer.from(`record ${i + 1}`), sig));
      const bad = Uint8Array.from(sig);
      bad[i % 64] ^= 1;
      assert.ok(!xeddsaVerify(kp.publicKey, msg, bad));
    }
    assert.ok(!xeddsaVerify(new Uint8Array(32), Buffer.from('x'), new Uint8Array(64)));
    assert.ok(!xeddsaVerify(new Uint8Array(31), Buffer.from('x'), new Uint8Array(64)));
  });
});
