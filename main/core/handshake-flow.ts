// The device's handshakes: when it sends an initiation, which handshake messages it admits, how it
// answers an initiation, completes on a response and takes a cookie reply, and where the keypair a
// handshake derives goes (wireguard-go: SendHandshakeInitiation in send.go, the handshake routine of
// receive.go). The Noise messages themselves are handshake.ts; the packet path stays in device.ts.
//
// Admission, in wireguard-go's order: mac1, then under load mac2 (or else a cookie reply), then the
// per-source rate limit. An initiation must also carry a newer timestamp than the last one and come
// at most every HANDSHAKE_INITIATION_RATE.

import {
  COOKIE_REPLY_SIZE,
  HANDSHAKE_INITIATION_RATE,
  HANDSHAKE_MOVE_GAP,
  REKEY_TIMEOUT,
  RELAYED_INITIATION_RESEND,
  RESPONSES_PER_INITIATION,
} from './constants';
import { CookieChecker } from './cookie';
import type { DeviceCounters, DeviceDelegate, DeviceEvent } from './device-types';
import { type PeerEndpoint, sameEndpoint } from './endpoint';
import {
  beginConsumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveTransportKeys,
  finishConsumeInitiation,
  type StaticIdentity,
  timestampIsNewer,
} from './handshake';
import type { IndexTable } from './index-table';
import { type InitiationTimestamps, replayedBeforePeer } from './initiation-timestamps';
import { Keypair } from './keypair';
import {
  decodeCookieReply,
  decodeInitiation,
  decodeResponse,
  encodeCookieReply,
  encodeInitiation,
  encodeResponse,
  INITIATION_MAC1_OFFSET,
  RESPONSE_MAC1_OFFSET,
} from './messages';
import type { Peer } from './peer';
import { HandshakeLoad } from './ratelimiter';
import { rekeyJitter } from './timers';

/** What the handshakes use of the device: its identity, tables, clock and send path. */
export interface HandshakeHost {
  readonly identity: StaticIdentity;
  readonly indices: IndexTable;
  readonly counters: DeviceCounters;
  /** Newest accepted initiation timestamp per key, kept beyond the peers (initiation-timestamps.ts). */
  readonly timestamps: InitiationTimestamps;
  readonly delegate: DeviceDelegate;
  readonly random: (n: number) => Uint8Array;
  now(): number;
  wallNow(): number;
  peer(keyB64: string): Peer | undefined;
  event(e: DeviceEvent): void;
  /** Send buf[start, start+len) to `to` (directly or through a relay). */
  transmit(buf: Buffer, start: number, len: number, to: PeerEndpoint): void;
  /** An authenticated message came from `from`: the peer may have roamed. */
  updateEndpoint(peer: Peer, from: PeerEndpoint): void;
  /** The initiator's new session is current: confirm it with staged data or a keepalive. */
  confirmSession(peer: Peer): void;
  /** The peer's keypairs changed (a data plane mirrors them). */
  sessionsChanged(peer: Peer): void;
}

export class HandshakeFlow {
  private readonly checker: CookieChecker;
  private readonly load = new HandshakeLoad();
  /** Responses seen per handshake we started (RESPONSES_PER_INITIATION). */
  private readonly answers = new WeakMap<object, number>();

  /** Inside initiate(), while the delegate hears of it (handshakeStarting). */
  starting = false;

  constructor(private readonly host: HandshakeHost) {
    this.checker = new CookieChecker(host.identity.publicKey, host.random, host.now());
  }

  /** Send a handshake initiation unless one was sent less than REKEY_TIMEOUT ago (retries bypass). */
  initiate(peer: Peer, isRetry: boolean): void {
    // One at a time: what the delegate does in handshakeStarting (a relay's liveness check) must not
    // send an initiation of its own inside this one. Two in the same millisecond carry the same
    // timestamp: the responder answers the first and drops the second as a replay, while we wait
    // for an answer to the second (the first packets then waited a second for a new one).
    if (this.starting) return;
    const host = this.host;
    const now = host.now();
    if (!isRetry) {
      if (now - peer.lastInitiationSent < REKEY_TIMEOUT) return;
      peer.timers.handshakeAttempts = 0;
    }
    // The layer above may move the peer now (a relay for the first packets): that is where this
    // initiation goes, and Device.setEndpoint must not start another one meanwhile.
    this.starting = true;
    try {
      host.delegate.handshakeStarting(peer);
    } finally {
      this.starting = false;
    }
    if (!peer.endpoint) return;
    peer.lastInitiationSent = now;
    host.indices.dropHandshake(peer);
    const localIndex = host.indices.add(peer, host.random);
    const made = createInitiation(host.identity, peer.keys, localIndex, host.random(32), host.wallNow());
    if (!made) {
      host.indices.delete(localIndex);
      return;
    }
    peer.handshake = made.state;
    const bytes = encodeInitiation(made.message);
    peer.cookies.addMacs(bytes, INITIATION_MAC1_OFFSET, now);
    peer.lastInitiation = { bytes, to: peer.endpoint, at: now };
    this.send(peer, bytes);
    peer.timers.handshakeInitiated(now, rekeyJitter(host.random));
  }

  /**
   * Packets wait for a session with this peer: its initiation goes again now, on the peer's
   * endpoint, when the last copy went another way (a relay that could not forward it yet) or went
   * before the path that is the endpoint now was found (`pathSince`: a NAT dropped what came before
   * its mapping was open), or went through a relay RELAYED_INITIATION_RESEND ago unanswered (a relay
   * drops frames of a member whose path it has not confirmed yet: at a network's start the first
   * one often is) — the same initiation (same index, ephemeral key and timestamp: whichever
   * copy arrives first is answered, the other is a replay the responder drops; nothing of ours is
   * reset) — or, when the last one is older than `staleMs` (a relayed one that got no answer), a new
   * one. Instead of WireGuard's retry after REKEY_TIMEOUT; a new one counts as a retry (the
   * REKEY_ATTEMPT_TIME budget goes on).
   */
  restartWaiting(peer: Peer, staleMs: number, pathSince: number): void {
    const last = peer.lastInitiation;
    if (!peer.endpoint || peer.current || peer.staged.length === 0 || !last) return;
    const now = this.host.now();
    if (now - peer.lastInitiationSent >= staleMs) {
      if (now - last.at >= HANDSHAKE_MOVE_GAP) this.initiate(peer, true);
    } else if (
      peer.handshake &&
      (!sameEndpoint(last.to, peer.endpoint) ||
        pathSince > last.at ||
        (peer.endpoint.kind === 'relay' && now - last.at >= RELAYED_INITIATION_RESEND))
    ) {
      peer.lastInitiation = { ...last, to: peer.endpoint, at: now };
      this.send(peer, last.bytes);
    }
  }

  /** An initiation: answer it, and keep its keypair as `next` until the initiator uses it. */
  handleInitiation(msg: Buffer, from: PeerEndpoint): void {
    const host = this.host;
    const now = host.now();
    const init = decodeInitiation(msg);
    if (!init || !this.admit(msg, INITIATION_MAC1_OFFSET, init.sender, from)) return;
    const begun = beginConsumeInitiation(host.identity, init);
    const remote = begun ? Buffer.from(begun.remoteStatic).toString('base64') : '';
    let peer = begun && host.peer(remote);
    // A replay for a key without a peer (dropped idle, or before a restart) adds no peer.
    const ts = host.timestamps;
    if (begun && !peer && replayedBeforePeer(ts, host.identity, begun.remoteStatic, remote, begun, init)) {
      host.counters.replayed++;
      return;
    }
    if (begun && !peer && host.delegate.unknownPeer(remote)) peer = host.peer(remote);
    const done = begun && peer && finishConsumeInitiation(begun, peer.keys, init);
    if (!peer || !done) {
      host.counters.invalid++;
      return;
    }
    if (!timestampIsNewer(done.timestamp, peer.lastTimestamp) || !ts.isNewer(remote, done.timestamp)) {
      host.counters.replayed++;
      return;
    }
    if (now - peer.lastInitiationConsumed < HANDSHAKE_INITIATION_RATE) {
      host.counters.handshakesRateLimited++;
      return;
    }
    peer.lastTimestamp = done.timestamp;
    ts.record(remote, done.timestamp);
    peer.lastInitiationConsumed = now;

    // Our own initiation, if one is in flight, stays valid: when both sides initiate at the same
    // moment (two nodes starting together), both complete at once instead of after a retransmit.
    const localIndex = host.indices.add(peer, host.random);
    const resp = createResponse(done.state, peer.keys, localIndex, host.random(32));
    if (!resp) {
      host.indices.delete(localIndex);
      host.counters.invalid++;
      return;
    }
    const bytes = encodeResponse(resp);
    peer.cookies.addMacs(bytes, RESPONSE_MAC1_OFFSET, now);
    const [sendKey, recvKey] = deriveTransportKeys(done.state, false);
    const kp = new Keypair(
      Buffer.from(sendKey),
      Buffer.from(recvKey),
      false,
      localIndex,
      done.state.remoteIndex,
      now,
    );
    host.indices.set(localIndex, { peer, keypair: kp });
    host.indices.retire(peer.next);
    peer.next = kp;
    host.indices.retire(peer.previous);
    peer.previous = null;
    host.sessionsChanged(peer);

    host.updateEndpoint(peer, from);
    this.send(peer, bytes);
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.sessionDerived(now);
    peer.stats.lastHandshake = host.wallNow();
    host.event({ type: 'handshake', peer: peer.keyB64, role: 'responder', endpoint: peer.endpoint! });
  }

  /** A response to our initiation: its keypair becomes current at once. */
  handleResponse(msg: Buffer, from: PeerEndpoint): void {
    const host = this.host;
    const now = host.now();
    const resp = decodeResponse(msg);
    if (!resp) return;
    const entry = host.indices.get(resp.receiver);
    const peer = entry?.peer;
    const hs = peer?.handshake;
    const awaited = !!entry && !entry.keypair && !!hs && hs.localIndex === resp.receiver;
    // The answer to an initiation we sent is no load (RESPONSES_PER_INITIATION): without this, a node
    // starting sessions with many members at once put itself "under load" with their answers and
    // answered them with cookie replies, and each of those sessions waited 5 s for a new initiation.
    const answers = awaited ? (this.answers.get(hs) ?? 0) + 1 : 0;
    if (awaited) this.answers.set(hs, answers);
    if (awaited && answers <= RESPONSES_PER_INITIATION) {
      if (!this.checker.checkMac1(msg, RESPONSE_MAC1_OFFSET)) {
        host.counters.invalid++;
        return;
      }
    } else if (!this.admit(msg, RESPONSE_MAC1_OFFSET, resp.sender, from)) return;
    if (!awaited || !peer || !hs) {
      host.counters.invalid++;
      return;
    }
    if (!consumeResponse(host.identity, hs, peer.keys, resp)) {
      host.counters.invalid++;
      return;
    }
    const [sendKey, recvKey] = deriveTransportKeys(hs, true);
    const kp = new Keypair(
      Buffer.from(sendKey),
      Buffer.from(recvKey),
      true,
      hs.localIndex,
      hs.remoteIndex,
      now,
    );
    peer.handshake = null;
    host.indices.set(kp.localIndex, { peer, keypair: kp });
    // wireguard-go BeginSymmetricSession, initiator side.
    if (peer.next) {
      host.indices.retire(peer.previous);
      peer.previous = peer.next;
      peer.next = null;
      host.indices.retire(peer.current);
    } else {
      host.indices.retire(peer.previous);
      peer.previous = peer.current;
    }
    peer.current = kp;
    host.sessionsChanged(peer);

    host.updateEndpoint(peer, from);
    peer.timers.handshakeComplete();
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepaliveMs);
    peer.timers.sessionDerived(now);
    peer.stats.lastHandshake = host.wallNow();
    host.event({ type: 'handshake', peer: peer.keyB64, role: 'initiator', endpoint: peer.endpoint! });
    host.confirmSession(peer);
  }

  /** A cookie reply to our initiation: the retransmission timer resends it, now with mac2. */
  handleCookieReply(msg: Buffer): void {
    const reply = decodeCookieReply(msg);
    const entry = reply && this.host.indices.get(reply.receiver);
    if (!reply || !entry?.peer.cookies.consumeReply(reply, this.host.now())) {
      this.host.counters.invalid++;
    }
  }

  /** mac1, then under load mac2 (or a cookie reply), then the per-source rate limit. */
  private admit(msg: Buffer, mac1Offset: number, senderIndex: number, from: PeerEndpoint): boolean {
    const host = this.host;
    const now = host.now();
    if (!this.checker.checkMac1(msg, mac1Offset)) {
      host.counters.invalid++;
      return false;
    }
    if (!this.load.underLoad(now)) return true;
    const source = Buffer.from(`${from.address}:${from.port}`);
    if (!this.checker.checkMac2(msg, mac1Offset, source, now)) {
      const reply = encodeCookieReply(this.checker.createReply(msg, mac1Offset, senderIndex, source, now));
      host.counters.cookieRepliesSent++;
      host.transmit(
        Buffer.from(reply.buffer, reply.byteOffset, COOKIE_REPLY_SIZE),
        0,
        COOKIE_REPLY_SIZE,
        from,
      );
      return false;
    }
    if (!this.load.allowSource(from.address, now)) {
      host.counters.handshakesRateLimited++;
      return false;
    }
    return true;
  }

  private send(peer: Peer, bytes: Uint8Array): void {
    if (!peer.endpoint) return;
    const now = this.host.now();
    peer.stats.txBytes += bytes.length;
    this.host.transmit(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length),
      0,
      bytes.length,
      peer.endpoint,
    );
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepaliveMs);
  }
}
