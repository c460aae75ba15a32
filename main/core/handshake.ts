// The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake exactly as WireGuard uses it (WireGuard paper,
// section 5.4): the initiator knows the responder's static key; one round trip yields two transport
// keys. These functions are pure apart from the randomness and time their caller passes in.
import { CONSTRUCTION, IDENTIFIER, KEY_SIZE, TAI64N_SIZE } from './constants';
import { open, seal, x25519, x25519Base } from './crypto/aead';
import { Blake2s, blake2s, hkdf } from './crypto/blake2s';
import { compareTai64n, tai64n } from './crypto/tai64n';
import type { Initiation, Response } from './messages';

const EMPTY = new Uint8Array(0);
const ZERO_KEY = new Uint8Array(KEY_SIZE);

/** HASH(a || b) without concatenating. */
function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return new Blake2s(32).update(h).update(data).digest();
}

const INITIAL_CHAIN_KEY = blake2s(32, new TextEncoder().encode(CONSTRUCTION));
const INITIAL_HASH = mixHash(INITIAL_CHAIN_KEY, new TextEncoder().encode(IDENTIFIER));

/** The hash every handshake towards `responderPublic` starts from: HASH(HASH(C || ID) || S_pub_r). */
export function initialHash(responderPublic: Uint8Array): Uint8Array {
  return mixHash(INITIAL_HASH, responderPublic);
}

export interface StaticIdentity {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  /** initialHash(publicKey): precomputed for consuming initiations. */
  hash0: Uint8Array;
}

export function makeIdentity(privateKey: Uint8Array): StaticIdentity {
  const publicKey = x25519Base(privateKey);
  return { privateKey, publicKey, hash0: initialHash(publicKey) };
}

/** What one side remembers of a handshake in progress. */
export interface HandshakeState {
  chainKey: Uint8Array;
  hash: Uint8Array;
  localEphemeralPrivate: Uint8Array;
  remoteEphemeral: Uint8Array;
  localIndex: number;
  remoteIndex: number;
}

export interface HandshakePeerKeys {
  remoteStatic: Uint8Array;
  /** DH(S_priv_local, S_pub_remote), precomputed; null if the remote key is of small order. */
  staticStatic: Uint8Array | null;
  /** initialHash(remoteStatic). */
  remoteHash0: Uint8Array;
  presharedKey: Uint8Array; // 32 zero bytes when none is configured
}

export function peerKeys(
  local: StaticIdentity,
  remoteStatic: Uint8Array,
  psk: Uint8Array | null,
): HandshakePeerKeys {
  return {
    remoteStatic,
    staticStatic: x25519(local.privateKey, remoteStatic),
    remoteHash0: initialHash(remoteStatic),
    presharedKey: psk ?? ZERO_KEY,
  };
}

/**
 * Initiator, message 1. `ephemeralPrivate` is 32 random bytes; `wallMs` is the wall-clock time for
 * the TAI64N timestamp that protects the responder against replayed initiations.
 * MACs are left zero: the caller (cookie.ts) fills them in.
 */
export function createInitiation(
  local: StaticIdentity,
  peer: HandshakePeerKeys,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
  wallMs: number,
): { message: Initiation; state: HandshakeState } | null {
  if (!peer.staticStatic) return null;
  let hash = peer.remoteHash0;
  let chainKey = INITIAL_CHAIN_KEY;
  const ephemeral = x25519Base(ephemeralPrivate);
  [chainKey] = hkdf(chainKey, ephemeral, 1);
  hash = mixHash(hash, ephemeral);
  const es = x25519(ephemeralPrivate, peer.remoteStatic);
  if (!es) return null;
  let key: Uint8Array;
  [chainKey, key] = hkdf(chainKey, es, 2);
  const encryptedStatic = seal(key, 0, local.publicKey, hash);
  hash = mixHash(hash, encryptedStatic);
  [chainKey, key] = hkdf(chainKey, peer.staticStatic, 2);
  const encryptedTimestamp = seal(key, 0, tai64n(wallMs), hash);
  hash = mixHash(hash, encryptedTimestamp);
  return {
    message: {
      sender: localIndex,
      ephemeral,
      encryptedStatic,
      encryptedTimestamp,
      mac1: new Uint8Array(16),
      mac2: new Uint8Array(16),
    },
    state: {
      chainKey,
      hash,
      localEphemeralPrivate: ephemeralPrivate,
      remoteEphemeral: EMPTY,
      localIndex,
      remoteIndex: 0,
    },
  };
}

/**
 * Responder, message 1, step one: decrypt the initiator's static key. The caller looks the key up in
 * its peer table, then calls finishConsumeInitiation with that peer's keys.
 */
export function beginConsumeInitiation(
  local: StaticIdentity,
  msg: Initiation,
): { remoteStatic: Uint8Array; chainKey: Uint8Array; hash: Uint8Array } | null {
  let hash = mixHash(local.hash0, msg.ephemeral);
  const [ck0] = hkdf(INITIAL_CHAIN_KEY, msg.ephemeral, 1);
  const es = x25519(local.privateKey, msg.ephemeral);
  if (!es) return null;
  const [chainKey, key] = hkdf(ck0, es, 2);
  const remoteStatic = open(key, 0, msg.encryptedStatic, hash);
  if (!remoteStatic) return null;
  hash = mixHash(hash, msg.encryptedStatic);
  return { remoteStatic, chainKey, hash };
}

/** Responder, message 1, step two: check the timestamp; returns the state and the timestamp. */
export function finishConsumeInitiation(
  begun: { chainKey: Uint8Array; hash: Uint8Array },
  peer: HandshakePeerKeys,
  msg: Initiation,
): { state: HandshakeState; timestamp: Uint8Array } | null {
  if (!peer.staticStatic) return null;
  const [chainKey, key] = hkdf(begun.chainKey, peer.staticStatic, 2);
  const timestamp = open(key, 0, msg.encryptedTimestamp, begun.hash);
  if (!timestamp || timestamp.length !== TAI64N_SIZE) return null;
  const hash = mixHash(begun.hash, msg.encryptedTimestamp);
  return {
    state: {
      chainKey,
      hash,
      localEphemeralPrivate: EMPTY,
      remoteEphemeral: msg.ephemeral,
      localIndex: 0,
      remoteIndex: msg.sender,
    },
    timestamp,
  };
}

/** True when `ts` is newer than the last accepted timestamp (replayed initiations are ignored). */
export function timestampIsNewer(ts: Uint8Array, last: Uint8Array | null): boolean {
  return last === null || compareTai64n(ts, last) > 0;
}

/** Responder, message 2. Mutates `state` (chain key, hash, indices). MACs are left zero. */
export function createResponse(
  state: HandshakeState,
  peer: HandshakePeerKeys,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
): Response | null {
  const ephemeral = x25519Base(ephemeralPrivate);
  let chainKey = state.chainKey;
  let hash = state.hash;
  [chainKey] = hkdf(chainKey, ephemeral, 1);
  hash = mixHash(hash, ephemeral);
  const ee = x25519(ephemeralPrivate, state.remoteEphemeral);
  const se = x25519(ephemeralPrivate, peer.remoteStatic);
  if (!ee || !se) return null;
  [chainKey] = hkdf(chainKey, ee, 1);
  [chainKey] = hkdf(chainKey, se, 1);
  const [ck, tau, key] = hkdf(chainKey, peer.presharedKey, 3);
  chainKey = ck;
  hash = mixHash(hash, tau);
  const encryptedNothing = seal(key, 0, EMPTY, hash);
  hash = mixHash(hash, encryptedNothing);
  state.chainKey = chainKey;
  state.hash = hash;
  state.localIndex = localIndex;
  state.localEphemeralPrivate = ephemeralPrivate;
  return {
    sender: localIndex,
    receiver: state.remoteIndex,
    ephemeral,
    encryptedNothing,
    mac1: new Uint8Array(16),
    mac2: new Uint8Array(16),
  };
}

/** Initiator, message 2. On success mutates `state` and returns true. */
export function consumeResponse(
  local: StaticIdentity,
  state: HandshakeState,
  peer: HandshakePeerKeys,
  msg: Response,
): boolean {
  let chainKey = state.chainKey;
  let hash = state.hash;
  [chainKey] = hkdf(chainKey, msg.ephemeral, 1);
  hash = mixHash(hash, msg.ephemeral);
  const ee = x25519(state.localEphemeralPrivate, msg.ephemeral);
  const se = x25519(local.privateKey, msg.ephemeral);
  if (!ee || !se) return false;
  [chainKey] = hkdf(chainKey, ee, 1);
  [chainKey] = hkdf(chainKey, se, 1);
  const [ck, tau, key] = hkdf(chainKey, peer.presharedKey, 3);
  hash = mixHash(hash, tau);
  if (!open(key, 0, msg.encryptedNothing, hash)) return false;
  hash = mixHash(hash, msg.encryptedNothing);
  state.chainKey = ck;
  state.hash = hash;
  state.remoteEphemeral = msg.ephemeral;
  state.remoteIndex = msg.sender;
  return true;
}

/** Transport keys after message 2: [sending, receiving] for the given role. */
export function deriveTransportKeys(state: HandshakeState, isInitiator: boolean): [Uint8Array, Uint8Array] {
  const [t1, t2] = hkdf(state.chainKey, EMPTY, 2);
  return isInitiator ? [t1, t2] : [t2, t1];
}
