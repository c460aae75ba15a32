// Relaying: until a probe gets through, WireGuard traffic with a member goes through a member that
// offers relaying (its home relays first); it moves to the direct path as soon as one answers,
// without a new handshake. On the wire a relayed WireGuard message is wrapped:
//
//   MSG_RELAY_TO   | 0 0 0 | destination key (32) | message     (to the relay)
//   MSG_RELAY_FROM | 0 0 0 | source key (32)      | message     (from the relay)
//
// The device knows a relayed path only as an endpoint of kind 'relay' whose `via` sends for it.

import {
  INITIATION_SIZE,
  MESH_PATH_TIMEOUT,
  MESH_RELAY_AFTER,
  MESH_RELAY_CHECK,
  MESH_RELAY_RETRY,
  MSG_INITIATION,
  MSG_RELAY_FROM,
  MSG_RELAY_TO,
  MSG_TRANSPORT,
  RELAY_HEADER_SIZE,
  RELAY_HOLD_FRAMES,
  RELAY_HOLD_MAX_BYTES,
  RELAY_HOLD_MEMBERS,
  RELAY_HOLD_MS,
} from '../constants';
import type { Device, Endpoint, Peer, RelayedEndpoint, RelayVia } from '../device';
import { endpointText } from './addresses';
import { b64, type Core } from './core';
import { type Member, NO_KEYS, withKey } from './members';

/** The far end of a relayed path: WireGuard datagrams to it are wrapped for the relay. */
class RelayTarget implements RelayVia {
  // (#private: an endpoint stays plain data for whoever prints or serialises it, not the whole mesh.)
  readonly #relay: Relay;

  constructor(
    relay: Relay,
    /** The far member's public key. */
    readonly target: Uint8Array,
  ) {
    this.#relay = relay;
  }

  send(buf: Buffer, start: number, len: number, to: RelayedEndpoint): void {
    this.#relay.sendRelayed(buf, start, len, to, this.target);
  }

  sameAs(other: RelayVia): boolean {
    return other instanceof RelayTarget && Buffer.compare(this.target, other.target) === 0;
  }
}

/**
 * Relayed frames kept a short while for a member, by its key: at most RELAY_HOLD_FRAMES each for
 * RELAY_HOLD_MEMBERS members, RELAY_HOLD_MS from the first; what expires is counted as dropped.
 */
class HeldFrames<T> {
  private readonly byKey = new Map<string, { since: number; frames: T[] }>();

  constructor(private readonly core: Core) {}

  /** Keep `frame` for `key`; false when there is no room (the caller drops it). */
  add(key: string, frame: T): boolean {
    this.expire(key);
    let h = this.byKey.get(key);
    if (!h) {
      if (this.byKey.size >= RELAY_HOLD_MEMBERS) this.expire();
      if (this.byKey.size >= RELAY_HOLD_MEMBERS) return false;
      h = { since: this.core.now, frames: [] };
      this.byKey.set(key, h);
    }
    if (h.frames.length >= RELAY_HOLD_FRAMES) return false;
    h.frames.push(frame);
    return true;
  }

  /** The frames kept for `key` (none once expired), taken out. */
  take(key: string): T[] {
    this.expire(key);
    const h = this.byKey.get(key);
    this.byKey.delete(key);
    return h?.frames ?? [];
  }

  /** Drop (and count) what is older than RELAY_HOLD_MS: `key`'s only, or all. */
  expire(key?: string): void {
    const c = this.core;
    for (const [k, h] of key === undefined ? this.byKey : [[key, this.byKey.get(key)] as const])
      if (h && c.now - h.since > RELAY_HOLD_MS) {
        c.counters.relayDropped += h.frames.length;
        this.byKey.delete(k);
      }
  }
}

export class Relay {
  /**
   * Frames to pass on to a member we heard from just now, whose path our ping is confirming: they go
   * when it is confirmed (pathConfirmed). Both pings start when it joins, and so do the first
   * packets of the members that meet it through us.
   */
  private readonly toConfirm: HeldFrames<Buffer>;
  /**
   * Frames relayed to us from a member whose record has not reached us yet (it joined just now, and
   * its first handshake came through the relay before the record sync): handled when it arrives.
   */
  private readonly fromUnknown: HeldFrames<{ buf: Buffer; from: Endpoint }>;

  constructor(private readonly core: Core) {
    this.toConfirm = new HeldFrames(core);
    this.fromUnknown = new HeldFrames(core);
  }

  private get device(): Device {
    return this.core.device;
  }

  /** A path to `target` through the relay at `relay`. */
  private endpoint(relay: Endpoint, target: Uint8Array): RelayedEndpoint {
    return { kind: 'relay', address: relay.address, port: relay.port, via: new RelayTarget(this, target) };
  }

  /** Send a WireGuard datagram to `target` through the relay at `to`. */
  sendRelayed(buf: Buffer, start: number, len: number, to: RelayedEndpoint, target: Uint8Array): void {
    const out = Buffer.allocUnsafe(RELAY_HEADER_SIZE + len);
    out[0] = MSG_RELAY_TO;
    out[1] = out[2] = out[3] = 0;
    out.set(target, 4);
    buf.copy(out, RELAY_HEADER_SIZE, start, start + len);
    this.core.io.send(out, 0, out.length, { address: to.address, port: to.port });
  }

  /** A wrapped datagram: pass it on (we relay), or unwrap it for the device (it was relayed to us). */
  handle(buf: Buffer, len: number, from: Endpoint): void {
    const c = this.core;
    if (len < RELAY_HEADER_SIZE + 1) return;
    const inner = buf[RELAY_HEADER_SIZE];
    if (inner < MSG_INITIATION || inner > MSG_TRANSPORT) return; // only WireGuard messages travel relayed
    // The datagram must come from a member's confirmed direct endpoint, or (frames to relay) from
    // where its sealed messages arrive: it may reach us before our ping there is answered.
    const text = endpointText(from);
    let senderKey = c.byEndpoint.get(text);
    let heard = false;
    if (!senderKey && buf[0] === MSG_RELAY_TO) {
      senderKey = c.byHeard.get(text);
      heard = true;
    }
    const sender = senderKey ? c.members.get(senderKey) : undefined;
    if (!sender?.rec || c.now - (heard ? sender.lastHeard : sender.lastDirect) > MESH_PATH_TIMEOUT) {
      c.counters.relayDropped++;
      return;
    }
    const otherKey = b64(buf.subarray(4, RELAY_HEADER_SIZE));
    if (buf[0] === MSG_RELAY_TO) {
      const dst = c.members.get(otherKey);
      if (!c.opts.relay || !dst?.rec) {
        c.counters.relayDropped++;
        return;
      }
      const confirmed = !!dst.direct && c.now - dst.lastDirect <= MESH_PATH_TIMEOUT;
      // Only a member we heard from just now, whose path our ping is confirming, gets frames held
      // (each at most RELAY_HOLD_MAX_BYTES: the hold is memory a member's frames take at the relay).
      if (!confirmed && (dst.direct || c.now - dst.lastHeard > RELAY_HOLD_MS || len > RELAY_HOLD_MAX_BYTES)) {
        c.counters.relayDropped++;
        return;
      }
      const out = Buffer.allocUnsafe(len); // the receive buffer is reused; the send may be queued
      buf.copy(out, 0, 0, len);
      out[0] = MSG_RELAY_FROM;
      out.set(sender.keyBytes, 4);
      if (!confirmed) {
        if (!this.toConfirm.add(dst.key, out)) c.counters.relayDropped++;
        return;
      }
      c.counters.relayed++;
      c.io.send(out, 0, len, dst.direct!);
    } else {
      if (!sender.rec.rl) return;
      const src = c.members.get(otherKey);
      if (!src?.rec) {
        // Only an initiation can start anything with a member we do not know yet.
        if (
          inner === MSG_INITIATION &&
          len === RELAY_HEADER_SIZE + INITIATION_SIZE &&
          !src?.removed &&
          otherKey !== c.selfKey
        )
          this.fromUnknown.add(otherKey, { buf: Buffer.from(buf.subarray(0, len)), from: { ...from } });
        return;
      }
      const payload = buf.subarray(RELAY_HEADER_SIZE, len);
      // The far end answered through the relay when the device took its packet as authentic (a
      // relayed path is only as alive as that): that keeps it online.
      const peer = this.device.getPeer(src.key);
      const before = peer ? peer.stats.rxPackets + peer.stats.lastHandshake : 0;
      this.device.handleDatagram(payload, payload.length, this.endpoint(from, src.keyBytes));
      if (peer && peer.stats.rxPackets + peer.stats.lastHandshake !== before) src.lastHeard = c.now;
    }
  }

  /** Every tick: held frames past RELAY_HOLD_MS are dropped (counted). */
  expireHeld(): void {
    this.toConfirm.expire();
    this.fromUnknown.expire();
  }

  /** `m`'s direct path was just confirmed (Paths.confirmDirect): the frames held for it go now. */
  pathConfirmed(m: Member): void {
    const c = this.core;
    for (const f of this.toConfirm.take(m.key)) {
      c.counters.relayed++;
      c.io.send(f, 0, f.length, m.direct!);
    }
  }

  /** A member's first record arrived (Core.releaseHeld): what it sent us through a relay is handled now. */
  recordArrived(key: string): void {
    for (const f of this.fromUnknown.take(key)) this.handle(f.buf, f.buf.length, f.from);
  }

  /**
   * The scan, a wanted member without a direct path: relayed after MESH_RELAY_AFTER of probing (at
   * once when a direct path is unlikely); another relay when this one got no handshake through.
   */
  fallback(m: Member, peer: Peer | undefined): void {
    const c = this.core;
    // A direct path that just died (its hellos unanswered) takes the relay at once.
    const justLost = m.directLostAt > 0 && c.now - m.directLostAt < MESH_RELAY_AFTER;
    // Packets waiting for it (no session yet) take the relay at once (Mesh.handshakeStarting: the
    // handshake that carries them goes there): the first packets go through a member that relays
    // while probing goes on (a direct path that opens later takes over on the same session),
    // instead of waiting MESH_RELAY_AFTER. Small networks
    // only (like the relay check below and the prompt ping-back in paths.ts): with all three in a
    // large network too, the 1,000-node simulator lost one of 400 pairs and ran a third longer
    // (which of them cost it was not measured); a large one reaches members through anchors.
    const waiting = !c.onDemand && !!peer && !peer.current && peer.staged.length > 0;
    const probing = c.now - m.probingSince;
    if (
      m.path !== 'relayed' &&
      (probing >= MESH_RELAY_AFTER || waiting || justLost || c.paths.directUnlikely(m))
    )
      this.tryRelay(m);
    else if (m.path === 'relayed' && peer && peer.endpoint?.kind !== 'relay') {
      // Its WireGuard packets on a direct way moved the peer back (WireGuard roaming), but our hellos
      // there go unanswered: traffic stays on the relay until a probe confirms a direct path.
      this.tryRelay(m);
    } else if (m.path === 'relayed' && m.relay && peer && !peer.current && peer.staged.length > 0) {
      // Packets wait and no handshake got through this relay (gone, or it does not reach the
      // member): try the next one.
      if (c.now - m.relaySince >= MESH_RELAY_RETRY) {
        m.badRelays = withKey(m.badRelays, m.relay);
        this.tryRelay(m);
      }
    } else if (peer?.current) m.badRelays = NO_KEYS;
    // An idle relayed path (small networks; a large one drops idle members' sessions anyway): no
    // pings travel through relays, so a member we have not heard from for
    // MESH_RELAY_CHECK gets a handshake through the relay; its answer keeps it online (relay() notes
    // it), and a member that is gone stays silent and is offline once MESH_ONLINE_WINDOW has passed.
    if (
      !c.onDemand &&
      m.path === 'relayed' &&
      peer &&
      c.now - m.lastHeard >= MESH_RELAY_CHECK &&
      c.now - m.lastRelayCheck >= MESH_RELAY_CHECK
    ) {
      m.lastRelayCheck = c.now;
      this.device.checkSession(peer);
    }
  }

  private tryRelay(m: Member): void {
    const c = this.core;
    const peer = this.device.getPeer(m.key);
    if (!peer) return;
    let best: Member | null = null;
    // Its home relays keep a path to it; then relays that said they reach it; then any relay.
    const candidates = c.onDemand ? [...c.anchors.of(m.key), ...m.reachedBy] : m.reachedBy;
    const usable = (r: Member | undefined): r is Member =>
      !!r && r !== m && !!r.rec?.rl && !!r.direct && !m.badRelays.has(r.key);
    for (const k of candidates) {
      const r = c.members.get(k);
      if (usable(r)) {
        best = r;
        break;
      }
    }
    if (!best) {
      for (const r of c.members.values()) {
        if (usable(r)) {
          best = r;
          break;
        }
      }
    }
    if (!best?.direct) {
      m.badRelays = NO_KEYS; // tried them all: start over next time
      return;
    }
    m.relaySince = c.now;
    this.device.setEndpoint(peer, this.endpoint(best.direct, m.keyBytes));
    c.paths.setPath(m, 'relayed', best.key);
  }
}
