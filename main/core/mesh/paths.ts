// Direct paths and NAT traversal: a member probes every endpoint it knows of another (its record's
// local and public endpoints, and where an introducer sees it) and asks a member that reaches both to
// introduce it; the introduced member probes back at the same time, which opens a path through two
// endpoint-independent NATs. Also: where members see us (our public endpoint, and whether our NAT
// maps per destination), keepalives and round-trip times of direct paths.

import {
  MESH_ACTIVE_IDLE,
  MESH_HARD_NAT_HOLD,
  MESH_INTRO_ANCHORS_FIRST,
  MESH_INTRO_FAST_GAP,
  MESH_INTRO_LATER_MAX,
  MESH_INTRO_LATER_MS,
  MESH_INTRO_PROBE_GAP,
  MESH_INTRODUCERS,
  MESH_MAX_EXTRA_ENDPOINTS,
  MESH_ONLINE_WINDOW,
  MESH_PATH_ACTIVE_FOR,
  MESH_PATH_DEAD,
  MESH_PATH_DEAD_PINGS,
  MESH_PATH_HEARTBEAT,
  MESH_PATH_KEEPALIVE,
  MESH_PATH_TIMEOUT,
  MESH_PATH_VERIFY,
  MESH_PING_RETRY,
  MESH_PING_TIMEOUT,
  MESH_PROBE_FAST,
  MESH_PROBE_FAST_FOR,
  MESH_PROBE_FAST_MAX_FACTOR,
  MESH_PROBE_MAX_GAP,
  MESH_PROBE_SLOW,
  MESH_PROBE_SLOW_DOUBLING,
  MESH_SEEN_WINDOW,
  REKEY_TIMEOUT,
} from '../constants';
import { type Endpoint, sameEndpoint } from '../device';
import { isNattedAddress } from '../ip';
import { endpointText, parseEndpointText } from './addresses';
import type { Core } from './core';
import { type Member, NO_INTROS, type PathKind, withKey } from './members';
import type { MessageOf } from './wire';

/** Probe gap after the fast series: MESH_PROBE_SLOW, doubling every minute, at most 5 minutes. */
function slowProbeGap(probingFor: number): number {
  return Math.min(
    MESH_PROBE_SLOW *
      2 ** Math.floor(Math.max(0, probingFor - MESH_PROBE_FAST_FOR) / MESH_PROBE_SLOW_DOUBLING),
    MESH_PROBE_MAX_GAP,
  );
}

export class Paths {
  /** Until then we believe we sit behind a symmetric NAT. */
  private hardUntil = 0;
  /** Where each member last said it sees us, and when. */
  private readonly seenBy = new Map<string, { seen: string; at: number }>();

  constructor(private readonly core: Core) {}

  /** We sit behind a NAT that maps per destination (symmetric, "hard"), as far as we can tell. */
  get hard(): boolean {
    return this.core.now < this.hardUntil;
  }

  /**
   * A sealed message from `m` arrived from `from`: the member is alive, and the way from it to us
   * works. Only on its confirmed direct endpoint does that keep the path: a path is direct once a
   * hello we sent on it is answered (confirmDirect), since a way that works only towards us (a
   * firewall dropping our side) must not carry our traffic.
   */
  heard(m: Member, from: Endpoint): void {
    const c = this.core;
    m.lastHeard = c.now;
    if (m.direct && sameEndpoint(m.direct, from)) {
      m.lastDirect = c.now;
      return;
    }
    const text = endpointText(from);
    if (m.heardFrom === text) return;
    if (m.heardFrom && c.byHeard.get(m.heardFrom) === m.key) c.byHeard.delete(m.heardFrom);
    m.heardFrom = text;
    c.byHeard.set(text, m.key);
  }

  /**
   * A hello that is not an answer arrived from `from`: we answer it (the caller), and unless that is
   * our confirmed direct path we ask for an answer too, which confirms the path on our side.
   */
  pingBack(m: Member, from: Endpoint): void {
    const c = this.core;
    if (m.direct && sameEndpoint(m.direct, from) && c.now - m.lastPong < MESH_PATH_TIMEOUT) return;
    // While we probe (no direct path yet), its hello says its side is open now, and our probe in
    // flight may have been dropped by its NAT (both sides probe the moment they are introduced), or
    // went to a port its NAT does not use for us (a symmetric NAT maps each destination to its own
    // port: only its hello shows which one): ping back at once, or the path waits for our next probe
    // (half a second or more; in a large network 2 s, the relay's turn). Otherwise one ping round at
    // a time.
    const probing = !m.direct && m.probingSince > 0;
    if (!probing && m.pingsOut && c.now - m.pingAt < MESH_PING_RETRY) return;
    this.ping(m, from, false);
  }

  /** A hello that asks for an answer (a ping) goes to `to`, one of `m`'s endpoints. */
  ping(m: Member, to: Endpoint, withRecord: boolean): void {
    const c = this.core;
    c.messenger.sendHello(to, false, withRecord);
    this.pinged(m);
  }

  /** Note a ping round to `m` (one or several endpoints at once). */
  private pinged(m: Member): void {
    const c = this.core;
    if (!m.pingsOut) m.unansweredSince = c.now;
    m.pingsOut++;
    m.pingAt = c.now;
  }

  /** A hello of ours was answered from `from` (a pong): that is a working direct path, both ways. */
  confirmDirect(m: Member, from: Endpoint): void {
    const c = this.core;
    c.hot.add(m);
    if (!m.direct || !sameEndpoint(m.direct, from) || m.path !== 'direct') m.directSince = c.now;
    m.lastDirect = c.now;
    m.lastHeard = c.now;
    m.lastPong = c.now;
    m.pingsOut = 0;
    m.unansweredSince = 0;
    m.pingAt = 0;
    if (!sameEndpoint(m.direct, from)) {
      if (m.direct) c.byEndpoint.delete(endpointText(m.direct));
      m.direct = { address: from.address, port: from.port };
      c.byEndpoint.set(endpointText(m.direct), m.key);
    }
    m.probingSince = 0;
    if (m.introLater.length) this.introduceLater(m);
    c.relay.pathConfirmed(m);
    const peer = c.device.getPeer(m.key);
    if (peer) {
      peer.preferDirectUntil = c.now + MESH_PATH_TIMEOUT;
      c.device.setEndpoint(peer, m.direct!);
      // A handshake that went another way (a relay), or this way before the path opened (a NAT
      // that dropped it), goes again now.
      c.device.restartWaitingHandshake(peer, REKEY_TIMEOUT, m.directSince);
    }
    this.setPath(m, 'direct', null);
  }

  /**
   * The member's direct path stopped answering, timed out, or the member said goodbye (`bye`: it is
   * offline at once): no direct path until a hello on one is answered again. A path that died while
   * the member is wanted makes the scan take a relay at once.
   */
  lostMember(m: Member, bye = false): void {
    const c = this.core;
    if (m.direct) c.byEndpoint.delete(endpointText(m.direct));
    m.direct = null;
    m.lastDirect = 0;
    m.probingSince = 0;
    m.pingsOut = 0;
    m.unansweredSince = 0;
    m.pingAt = 0;
    m.directLostAt = bye ? 0 : c.now;
    if (bye) m.lastHeard = 0;
    // Its WireGuard packets through a relay may move the peer off the dead path at once.
    const peer = c.device.getPeer(m.key);
    if (peer) peer.preferDirectUntil = 0;
    this.setPath(m, 'none', null);
  }

  /**
   * Whether the member answered us within MESH_ONLINE_WINDOW: on a direct path (which is direct only
   * while our hellos on it are answered), or through a relay (its tunnel's packets).
   */
  online(m: Member): boolean {
    if (m.removed || !m.rec || !m.lastHeard) return false;
    if (m.path === 'direct') return true;
    // Not direct: heard since its direct path died (through the relay, or its own probes), lately.
    return m.lastHeard > m.directLostAt && this.core.now - m.lastHeard < MESH_ONLINE_WINDOW;
  }

  setPath(m: Member, kind: PathKind, via: string | null): void {
    if (m.path === kind && m.relay === via) return;
    m.path = kind;
    m.relay = via;
    const ep = kind === 'direct' && m.direct ? endpointText(m.direct) : null;
    this.core.emit({ type: 'path', key: m.key, name: m.name, kind, endpoint: ep, via });
  }

  /**
   * An answer to one of our hellos arrived from `from`: the path works both ways. With exactly one
   * ping outstanding, the time since it left is the round-trip time (with several, we cannot tell
   * which one this answers).
   */
  helloAnswered(sender: Member, from: Endpoint): void {
    const c = this.core;
    if (sender.pingsOut === 1 && sender.pingAt && c.now - sender.pingAt < MESH_PING_TIMEOUT) {
      sender.rtt = c.now - sender.pingAt;
      sender.rttAt = c.now;
      c.emit({ type: 'rtt', key: sender.key, ms: sender.rtt });
    }
    this.confirmDirect(sender, from);
  }

  /** A hello is going to `to`: note when (keepalives). */
  helloSent(to: Endpoint): void {
    const c = this.core;
    const key = c.byEndpoint.get(endpointText(to));
    if (!key) return;
    const m = c.members.get(key);
    if (m) m.lastHelloSent = c.now;
  }

  /**
   * A member told us where it sees us. Adopt it as our public endpoint when every member that
   * reported in the last MESH_SEEN_WINDOW agrees: behind a symmetric NAT each member sees another
   * port, and publishing each would churn our record for nothing (nobody can reach us there anyway).
   */
  noteSeen(seen: string, reporter: string): void {
    const c = this.core;
    const at = seen ? parseEndpointText(seen) : null;
    if (!at || c.isOverlay(at.address)) return;
    this.seenBy.set(reporter, { seen, at: c.now });
    if (seen === c.publicEndpoint) return;
    for (const [k, r] of this.seenBy) {
      if (c.now - r.at > MESH_SEEN_WINDOW) this.seenBy.delete(k);
      else if (r.seen !== seen) {
        // Members see us at different endpoints: our NAT maps per destination (symmetric). Say so
        // in our messages, so that two such members go relayed at once instead of probing in vain.
        if (r.seen.split(':')[0] === seen.split(':')[0]) this.hardUntil = c.now + MESH_HARD_NAT_HOLD;
        return;
      }
    }
    c.publicEndpoint = seen;
    c.records.resignForPeer(); // members say so: rate-limited (a member could flip it at will)
    c.emit({ type: 'public-endpoint', endpoint: seen });
  }

  /**
   * Traffic towards a member is about to start (the Device begins a handshake): make a path now if
   * there is none — probe it, and ask its anchors for an introduction (paths to them too on demand).
   */
  activate(key: string): void {
    const c = this.core;
    const m = c.members.get(key);
    if (!m?.rec || m.removed) return;
    m.lastActive = c.now;
    c.hot.add(m);
    if (m.direct) return;
    if (c.onDemand) {
      for (const a of c.anchors.of(key)) {
        const x = c.members.get(a);
        if (!x?.rec) continue;
        x.wantedUntil = c.now + MESH_ACTIVE_IDLE;
        c.hot.add(x);
        if (!x.direct && !x.probingSince) {
          this.startProbing(x);
          this.probe(x);
        }
      }
    }
    if (!m.probingSince || c.now - m.probingSince >= MESH_PROBE_FAST_FOR) {
      this.startProbing(m);
      m.lastWant = -MESH_PROBE_SLOW;
      this.probe(m);
    }
  }

  /**
   * The scan, a member with a direct path: pings on the paths we want (every MESH_PATH_HEARTBEAT while
   * traffic flows, MESH_PATH_KEEPALIVE when idle; an unanswered one again every MESH_PING_RETRY),
   * news to everyone. A wanted path whose pings went unanswered for MESH_PATH_DEAD is dead; one we do
   * not want lives while the member's messages arrive on it (MESH_PATH_TIMEOUT).
   */
  keepAlive(m: Member, wanted: boolean, announce: boolean): void {
    // (Measured at 1,000 nodes: news to only a few of them, or unanswered news, left records
    // unconverged for 19 s or over a minute instead of seconds: the answer carries the other
    // side's digest, so both sides compare.)
    const c = this.core;
    if (m.pingsOut && c.now - m.pingAt < MESH_PING_TIMEOUT) {
      if (wanted && m.pingsOut >= MESH_PATH_DEAD_PINGS && c.now - m.unansweredSince >= MESH_PATH_DEAD) {
        this.lostMember(m);
        return;
      }
      if (wanted && c.now - m.pingAt >= MESH_PING_RETRY) {
        this.ping(m, m.direct!, false);
        return;
      }
    }
    const active = c.now - m.lastActive < MESH_PATH_ACTIVE_FOR;
    if (announce || (wanted && (active ? this.heartbeatDue(m) : this.keepaliveDue(m))))
      this.ping(m, m.direct!, false);
  }

  private heartbeatDue(m: Member): boolean {
    return this.core.now - Math.max(m.pingAt, m.lastPong) >= MESH_PATH_HEARTBEAT;
  }

  /**
   * An idle path: one side of the pair (the smaller key) pings every MESH_PATH_KEEPALIVE; the other
   * answers, and pings itself only when those pings stop (MESH_PATH_KEEPALIVE + MESH_PING_RETRY × 5
   * without a message on the path) and every MESH_PATH_VERIFY (its own side of the path: a firewall
   * dropping only its datagrams). Both sides pinging every 20 s cost half as much control traffic
   * again in a quiet mesh (measured in the simulator: 114 instead of 75 bytes per node per second at
   * 10 nodes; this way 79).
   */
  private keepaliveDue(m: Member): boolean {
    const c = this.core;
    const since = c.now - Math.max(m.pingAt, m.lastPong);
    if (c.selfKey < m.key) return since >= MESH_PATH_KEEPALIVE;
    return (
      since >= MESH_PATH_VERIFY ||
      (since >= MESH_PATH_KEEPALIVE && c.now - m.lastDirect >= MESH_PATH_KEEPALIVE + 5 * MESH_PING_RETRY)
    );
  }

  /** The scan, a wanted member without a direct path: probe it, or ask for an introduction. */
  pursue(m: Member): void {
    if (!m.probingSince) this.startProbing(m);
    if (this.core.now >= m.nextProbe) this.probe(m);
    else if (!(this.hard && m.hard)) this.askIntroduction(m);
  }

  startProbing(m: Member): void {
    const c = this.core;
    c.hot.add(m);
    m.probingSince = c.now;
    m.nextProbe = c.now;
    m.probes = 0;
    m.wantTurn = 0;
  }

  /** Hello to every endpoint we know of `m`; ask members that reach it to introduce us. */
  private probe(m: Member): void {
    const c = this.core;
    if (!m.rec) return;
    const age = c.now - m.probingSince;
    // Fast at first, then slower and slower (15 s, 30 s, ... 5 min): a pair behind symmetric NATs
    // stays relayed, and probing it often would only cost traffic.
    const slow = slowProbeGap(age);
    // Both behind symmetric NATs: no probe can open a path; try again rarely (networks change).
    const hopeless = this.hard && m.hard;
    // The fast series doubles its gap (0.5, 1, 2, 4 s): the first probes after an introduction meet
    // the other side's (a lost one is soon repeated), and a pair that did not open in the first
    // seconds will not open by probing ten times more.
    const fast = Math.min(MESH_PROBE_FAST * 2 ** m.probes, MESH_PROBE_FAST * MESH_PROBE_FAST_MAX_FACTOR);
    m.nextProbe = c.now + (hopeless ? MESH_PROBE_MAX_GAP : age < MESH_PROBE_FAST_FOR ? fast : slow);
    const targets: Endpoint[] = [...m.extra];
    for (const t of m.rec.e) {
      const e = parseEndpointText(t);
      if (e && !targets.some((x) => sameEndpoint(x, e))) targets.push(e);
    }
    // Our record rides on the first two probes only (the member usually has it already, from an
    // introduction or the record sync; a probe that opens the path gets it answered anyway).
    for (const t of targets) if (!c.isOverlay(t.address)) c.messenger.sendHello(t, false, m.probes < 2);
    this.pinged(m);
    m.probes++;
    if (!hopeless) this.askIntroduction(m);
  }

  /**
   * Ask a member with a direct path to us that may reach `m` to introduce us (every
   * MESH_INTRO_FAST_GAP while the fast probes last, then as rarely as the slow ones). Called by
   * probe() and by the scan, so that a request that found no introducer goes out as soon as a path to
   * one opens (activate() makes paths to the target's anchors at the same time), not a whole round later.
   */
  private askIntroduction(m: Member): void {
    const c = this.core;
    const age = c.now - m.probingSince;
    const gap = age < MESH_PROBE_FAST_FOR ? MESH_INTRO_FAST_GAP : slowProbeGap(age);
    if (c.now - m.lastWant < gap) return;
    const vias = this.introducers(m);
    if (!vias.length) return;
    m.lastWant = c.now;
    // One introducer per round, taking turns among the first three (each answers both sides: two
    // intros per want); the first round asks two, so that one lost message costs no round.
    const n = Math.min(vias.length, MESH_INTRODUCERS);
    const first = m.wantTurn === 0;
    c.messenger.send({ type: 'want', peer: m.key }, vias[m.wantTurn++ % n].direct!);
    if (first && n > 1) c.messenger.send({ type: 'want', peer: m.key }, vias[m.wantTurn++ % n].direct!);
  }

  /** Members with a direct path to us that may reach `m`: those that said so first, then relays, then any. */
  private introducers(m: Member): Member[] {
    const c = this.core;
    const out: Member[] = [];
    const add = (x: Member | undefined) => {
      if (x?.direct && x !== m && !out.includes(x)) out.push(x);
    };
    for (const k of m.reachedBy) add(c.members.get(k));
    if (c.onDemand) {
      // A large mesh: the member's anchors keep paths to it (activate() opens ours to them). Any
      // relay or the bootstrap node only when none answers in a moment (they may not reach it).
      for (const k of c.anchors.of(m.key)) add(c.members.get(k));
      if (out.length || c.now - m.probingSince < MESH_INTRO_ANCHORS_FIRST) return out;
    }
    for (const x of c.members.values()) if (x.rec?.rl) add(x);
    for (const b of c.opts.bootstrap) add(c.members.get(c.byEndpoint.get(endpointText(b)) ?? ''));
    return out;
  }

  /**
   * No probe is likely to open a direct path soon: one side's NAT maps per destination and the other
   * side sits behind a NAT too (its filter drops the first side's probes from unannounced ports).
   * Such a pair takes the relay at once instead of after MESH_RELAY_AFTER; probing goes on, and a
   * direct path that opens anyway takes over without a new handshake.
   */
  directUnlikely(m: Member): boolean {
    const c = this.core;
    if (this.hard && m.hard) return true;
    if (m.hard)
      return !c.publicEndpoint || !c.localEndpoints.some((e) => endpointText(e) === c.publicEndpoint);
    if (this.hard) return !!m.rec?.e.some((t) => isNattedAddress(parseEndpointText(t)?.address ?? ''));
    return false;
  }

  /** A member asks us to introduce it to `peer`: tell each where the other is. */
  want(msg: MessageOf<'want'>, sender: Member, from: Endpoint): void {
    const target = this.core.members.get(msg.peer);
    if (target && target.key !== msg.sender) this.introduce(sender, from, target);
  }

  /**
   * A member we had no record of just told us about itself, first hand (its first hello to us, the
   * bootstrap's or a LAN neighbour's): in a small mesh every member keeps a path to every other, so
   * introduce it to each member we reach at once, instead of letting them learn its record through
   * the sync and then ask. Both sides probe the other right away: across cone NATs the direct path
   * opens a round trip after the new member appears (the first packet does not wait a sync round).
   * A large mesh makes paths on demand and is left to that.
   */
  introduceNew(m: Member, from: Endpoint): void {
    const c = this.core;
    if (c.onDemand || !m.rec) return;
    for (const x of c.members.values()) {
      if (x === m || x.removed) continue;
      if (x.direct) this.introduce(m, from, x);
      else if (x.rec) {
        // Its path is not confirmed yet (it joined a moment before m; our ping to it is in flight):
        // introduce them when it is, or x learns of m only from a later sync or introduction request.
        const later = x.introLater.filter((e) => e.key !== m.key && c.now - e.at < MESH_INTRO_LATER_MS);
        later.push({ key: m.key, seenAt: from, at: c.now });
        x.introLater = later.slice(-MESH_INTRO_LATER_MAX);
      }
    }
  }

  /** x's path was just confirmed: the members that joined while it was not, introduced now. */
  private introduceLater(x: Member): void {
    const c = this.core;
    const later = x.introLater;
    x.introLater = NO_INTROS;
    for (const e of later) {
      const m = c.members.get(e.key);
      if (m && !m.removed && c.now - e.at < MESH_INTRO_LATER_MS) this.introduce(m, m.direct ?? e.seenAt, x);
    }
  }

  /** Tell `a` (seen at `aAt`) and `b` (on its direct path) where the other is. */
  private introduce(a: Member, aAt: Endpoint, b: Member): void {
    const c = this.core;
    if (!b.direct || !b.rec || !a.rec) return;
    c.messenger.send(
      { type: 'intro', record: a.rec, seenAt: endpointText(aAt), introducedHard: a.hard },
      b.direct,
    );
    c.messenger.send(
      { type: 'intro', record: b.rec, seenAt: endpointText(b.direct), introducedHard: b.hard },
      aAt,
    );
  }

  /** An introducer tells us where a member is (it is probing us now). */
  intro(msg: MessageOf<'intro'>): void {
    const c = this.core;
    if (!msg.record || typeof msg.record !== 'object') return;
    c.records.ingest(msg.record, msg.sender);
    const m = c.members.get(msg.record.k);
    if (!m?.rec || m.rec.k !== msg.record.k) return;
    m.reachedBy = withKey(m.reachedBy, msg.sender);
    const seenAt = msg.seenAt ? parseEndpointText(msg.seenAt) : null;
    const at = seenAt && !c.isOverlay(seenAt.address) ? seenAt : null;
    const fresh = !!at && !m.extra.some((e) => sameEndpoint(e, at));
    if (fresh) m.extra = [at, ...m.extra].slice(0, MESH_MAX_EXTRA_ENDPOINTS);
    m.hard = msg.introducedHard;
    m.lastActive = c.now;
    c.hot.add(m); // it wants to talk to us
    // Probe now (the other side probes us at the same moment) — once per MESH_INTRO_PROBE_GAP at
    // most, as several introducers may answer the same request.
    if (!m.direct && c.now - m.lastIntroProbe >= MESH_INTRO_PROBE_GAP) {
      m.lastIntroProbe = c.now;
      if (!m.probingSince) this.startProbing(m);
      m.nextProbe = c.now;
      // The other side probes now too. An endpoint we had not tried gets a fresh fast series;
      // the same one again (introductions repeat every round) keeps the series spacing out.
      if (fresh) m.probes = 0;
      this.probe(m);
    }
  }
}
