// Wire codecs for WireGuard's four message types (little-endian integers, see the WireGuard paper
// section 5.4). Handshake messages are low-rate and decode into small objects; transport messages are
// read in place by the caller (see readTransportHeader) so the per-packet path allocates nothing.
import {
  COOKIE_NONCE_SIZE,
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  KEEPALIVE_SIZE,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  RESPONSE_SIZE,
} from './constants';

export interface Initiation {
  sender: number;
  ephemeral: Uint8Array; // 32
  encryptedStatic: Uint8Array; // 48
  encryptedTimestamp: Uint8Array; // 28
  mac1: Uint8Array; // 16
  mac2: Uint8Array; // 16
}

export interface Response {
  sender: number;
  receiver: number;
  ephemeral: Uint8Array; // 32
  encryptedNothing: Uint8Array; // 16
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export interface CookieReply {
  receiver: number;
  nonce: Uint8Array; // 24
  encryptedCookie: Uint8Array; // 32
}

// Offsets of the MACs: mac1 covers everything before it, mac2 everything before mac2.
export const INITIATION_MAC1_OFFSET = 116;
export const INITIATION_MAC2_OFFSET = 132;
export const RESPONSE_MAC1_OFFSET = 60;
export const RESPONSE_MAC2_OFFSET = 76;

/** Message type of a datagram, or 0 when it cannot be any WireGuard message (bad size or header). */
export function messageType(buf: Uint8Array, len: number = buf.length): number {
  if (len < 4 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0) return 0;
  const t = buf[0];
  switch (t) {
    case MSG_INITIATION:
      return len === INITIATION_SIZE ? t : 0;
    case MSG_RESPONSE:
      return len === RESPONSE_SIZE ? t : 0;
    case MSG_COOKIE_REPLY:
      return len === COOKIE_REPLY_SIZE ? t : 0;
    case MSG_TRANSPORT:
      // Payload is padded to a multiple of 16 but never beyond the MTU, so any length can occur.
      return len >= KEEPALIVE_SIZE ? t : 0;
    default:
      return 0;
  }
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function putU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

export function encodeInitiation(m: Initiation): Uint8Array {
  const b = new Uint8Array(INITIATION_SIZE);
  b[0] = MSG_INITIATION;
  putU32le(b, 4, m.sender);
  b.set(m.ephemeral, 8);
  b.set(m.encryptedStatic, 40);
  b.set(m.encryptedTimestamp, 88);
  b.set(m.mac1, INITIATION_MAC1_OFFSET);
  b.set(m.mac2, INITIATION_MAC2_OFFSET);
  return b;
}

export function decodeInitiation(b: Uint8Array): Initiation | null {
  if (messageType(b) !== MSG_INITIATION) return null;
  return {
    sender: u32le(b, 4),
    ephemeral: b.slice(8, 40),
    encryptedStatic: b.slice(40, 88),
    encryptedTimestamp: b.slice(88, 116),
    mac1: b.slice(116, 132),
    mac2: b.slice(132, 148),
  };
}

export function encodeResponse(m: Response): Uint8Array {
  const b = new Uint8Array(RESPONSE_SIZE);
  b[0] = MSG_RESPONSE;
  putU32le(b, 4, m.sender);
  putU32le(b, 8, m.receiver);
  b.set(m.ephemeral, 12);
  b.set(m.encryptedNothing, 44);
  b.set(m.mac1, RESPONSE_MAC1_OFFSET);
  b.set(m.mac2, RESPONSE_MAC2_OFFSET);
  return b;
}

export function decodeResponse(b: Uint8Array): Response | null {
  if (messageType(b) !== MSG_RESPONSE) return null;
  return {
    sender: u32le(b, 4),
    receiver: u32le(b, 8),
    ephemeral: b.slice(12, 44),
    encryptedNothing: b.slice(44, 60),
    mac1: b.slice(60, 76),
    mac2: b.slice(76, 92),
  };
}

export function encodeCookieReply(m: CookieReply): Uint8Array {
  const b = new Uint8Array(COOKIE_REPLY_SIZE);
  b[0] = MSG_COOKIE_REPLY;
  putU32le(b, 4, m.receiver);
  b.set(m.nonce, 8);
  b.set(m.encryptedCookie, 8 + COOKIE_NONCE_SIZE);
  return b;
}

export function decodeCookieReply(b: Uint8Array): CookieReply | null {
  if (messageType(b) !== MSG_COOKIE_REPLY) return null;
  return {
    receiver: u32le(b, 4),
    nonce: b.slice(8, 32),
    encryptedCookie: b.slice(32, 64),
  };
}

/** Receiver index of a transport message (caller checked messageType). */
export function transportReceiver(b: Uint8Array): number {
  return u32le(b, 4);
}

/**
 * Counter of a transport message. 64-bit little-endian on the wire; we return it as a JS number and
 * report counters beyond 2^53 as -1 (never valid for us: we rekey long before).
 */
export function transportCounter(b: Uint8Array): number {
  const lo = u32le(b, 8);
  const hi = u32le(b, 12);
  if (hi >= 0x200000) return -1;
  return hi * 0x1_0000_0000 + lo;
}

/** Write a transport header (type, receiver, counter) at `o`. */
export function writeTransportHeader(b: Uint8Array, o: number, receiver: number, counter: number): void {
  b[o] = MSG_TRANSPORT;
  b[o + 1] = 0;
  b[o + 2] = 0;
  b[o + 3] = 0;
  putU32le(b, o + 4, receiver);
  putU32le(b, o + 8, counter >>> 0);
  putU32le(b, o + 12, Math.floor(counter / 0x1_0000_0000));
}
