// mac1/mac2 and cookie replies (WireGuard paper, section 5.4.4 and 5.4.7).
// mac1 proves the sender knows our public key: without it we never answer (stealth). Under load a
// responder additionally demands mac2, keyed by a cookie bound to the sender's address, and answers
// handshakes without one with a 64-byte cookie reply instead of doing Diffie-Hellman work.
import { COOKIE_NONCE_SIZE, COOKIE_REFRESH_TIME, LABEL_COOKIE, LABEL_MAC1, MAC_SIZE } from './constants';
import { constantTimeEqual, xopen, xseal } from './crypto/aead';
import { Blake2s, blake2s } from './crypto/blake2s';
import type { CookieReply } from './messages';

const enc = new TextEncoder();

function labelKey(label: string, publicKey: Uint8Array): Uint8Array {
  return new Blake2s(32).update(enc.encode(label)).update(publicKey).digest();
}

function mac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return blake2s(MAC_SIZE, data, key);
}

/** Responder side: validates MACs of handshake messages sent to us and makes cookie replies. */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private secret: Uint8Array;
  private secretSetAt: number;

  constructor(
    localPublic: Uint8Array,
    private readonly random: (n: number) => Uint8Array,
    now: number,
  ) {
    this.mac1Key = labelKey(LABEL_MAC1, localPublic);
    this.cookieKey = labelKey(LABEL_COOKIE, localPublic);
    this.secret = random(32);
    this.secretSetAt = now;
  }

  /** mac1 over msg[0, mac1Offset) must be present and right. */
  checkMac1(msg: Uint8Array, mac1Offset: number): boolean {
    const want = mac(this.mac1Key, msg.subarray(0, mac1Offset));
    return constantTimeEqual(want, msg.subarray(mac1Offset, mac1Offset + MAC_SIZE));
  }

  /** mac2 must be keyed by the cookie for `source` (the sender's address, as bytes). */
  checkMac2(msg: Uint8Array, mac1Offset: number, source: Uint8Array, now: number): boolean {
    const cookie = this.cookieFor(source, now);
    const mac2Offset = mac1Offset + MAC_SIZE;
    const want = mac(cookie, msg.subarray(0, mac2Offset));
    return constantTimeEqual(want, msg.subarray(mac2Offset, mac2Offset + MAC_SIZE));
  }

  /** A cookie reply to a handshake message whose mac1 was valid (AD = that mac1). */
  createReply(
    msg: Uint8Array,
    mac1Offset: number,
    receiver: number,
    source: Uint8Array,
    now: number,
  ): CookieReply {
    const cookie = this.cookieFor(source, now);
    const nonce = this.random(COOKIE_NONCE_SIZE);
    const mac1 = msg.subarray(mac1Offset, mac1Offset + MAC_SIZE);
    return { receiver, nonce, encryptedCookie: xseal(this.cookieKey, nonce, cookie, mac1) };
  }

  private cookieFor(source: Uint8Array, now: number): Uint8Array {
    if (now - this.secretSetAt >= COOKIE_REFRESH_TIME) {
      this.secret = this.random(32);
      this.secretSetAt = now;
    }
    return mac(this.secret, source);
  }
}

/** Initiator side, one per peer: adds mac1/mac2 to our handshake messages, takes cookie replies. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly cookieKey: Uint8Array;
  private cookie: Uint8Array | null = null;
  private cookieSetAt = 0;
  private lastMac1: Uint8Array | null = null;

  constructor(remotePublic: Uint8Array) {
    this.mac1Key = labelKey(LABEL_MAC1, remotePublic);
    this.cookieKey = labelKey(LABEL_COOKIE, remotePublic);
  }

  /** Fill mac1 (and mac2 while we hold a fresh cookie) into an encoded handshake message. */
  addMacs(msg: Uint8Array, mac1Offset: number, now: number): void {
    const mac1 = mac(this.mac1Key, msg.subarray(0, mac1Offset));
    msg.set(mac1, mac1Offset);
    this.lastMac1 = mac1;
    const mac2Offset = mac1Offset + MAC_SIZE;
    if (this.cookie && now - this.cookieSetAt < COOKIE_REFRESH_TIME) {
      msg.set(mac(this.cookie, msg.subarray(0, mac2Offset)), mac2Offset);
    } else {
      msg.fill(0, mac2Offset, mac2Offset + MAC_SIZE);
    }
  }

  /** Take a cookie reply to our last handshake message; false if it does not decrypt. */
  consumeReply(reply: CookieReply, now: number): boolean {
    if (!this.lastMac1) return false;
    const cookie = xopen(this.cookieKey, reply.nonce, reply.encryptedCookie, this.lastMac1);
    if (!cookie || cookie.length !== MAC_SIZE) return false;
    this.cookie = cookie;
    this.cookieSetAt = now;
    return true;
  }
}
