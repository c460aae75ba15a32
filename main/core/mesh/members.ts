// What a node knows of each other member: one `Member` per key, owned and changed only by the mesh
// (outside it, members are seen through the read-only `MemberView`).

import { MESH_ACTIVE_IDLE, MESH_PROBE_SLOW, MESH_SYNC_INTERVAL } from '../constants';
import type { Endpoint } from '../device';
import type { PathKind } from './path-kind';
import type { MemberRecord, Removal } from './records';

export type { PathKind } from './path-kind';

export interface Member {
  key: string;
  keyBytes: Uint8Array;
  rec: MemberRecord | null;
  /**
   * Its record's name with control characters stripped (names.ts stripControl): the only form of
   * the name that leaves the mesh (the node never sees `rec.n`, see MemberView).
   */
  name: string;
  /** Set when the member was removed from the network: nothing from it is accepted again. */
  removed: Removal | null;
  /** Confirmed direct path (a discovery message from the member arrived from here). */
  direct: Endpoint | null;
  lastDirect: number;
  /** When the current direct path was found (a pong on a path we did not have): 0 when none. */
  directSince: number;
  lastHelloSent: number;
  /** Relay member key while relayed. */
  relay: string | null;
  /** Members that told us they reach this one directly (introducers, relay candidates). */
  reachedBy: ReadonlySet<string>;
  /**
   * New members we could not introduce to this one yet (its path was not confirmed when they joined),
   * and when they joined: introduced when its path is (Paths.introduceNew, confirmDirect).
   */
  introLater: readonly IntroLater[];
  /** Extra endpoints to probe (where an introducer sees the member). */
  extra: readonly Endpoint[];
  probingSince: number;
  nextProbe: number;
  /** Probes sent since probing started or the last introduction (spaces them out, see Paths.probe). */
  probes: number;
  lastSync: number;
  lastWant: number;
  path: PathKind;
  /** Last time WireGuard traffic with the member moved (or a handshake towards it started). */
  lastActive: number;
  /** rx + tx packets of its WireGuard peer when last looked at (activity detection). */
  lastTraffic: number;
  /** Kept wanted until then (an anchor we need to introduce or relay an active member). */
  wantedUntil: number;
  /** It said it sits behind a NAT whose mapping varies per destination (symmetric, "hard"). */
  hard: boolean;
  lastIntroProbe: number;
  /** When we last checked a relayed path's far end with a handshake through the relay (relay.ts). */
  lastRelayCheck: number;
  wantTurn: number;
  /** Its digest differed while we were rate-limited: compare again soon. */
  syncPending: boolean;
  /** When our last hello expecting an answer (a ping) left (0: none pending): RTT on the answer. */
  pingAt: number;
  /** Pings sent since the last answer, and when the first of them left (0: none). */
  pingsOut: number;
  unansweredSince: number;
  /** Last answer to one of our hellos (a pong): proves the path works both ways. */
  lastPong: number;
  /** Last time the member answered us at all: a message from it, or its tunnel through a relay. */
  lastHeard: number;
  /** The endpoint its last discovery message came from (text; Core.byHeard maps it back). */
  heardFrom: string | null;
  /** When its direct path last died (hellos unanswered): take a relay at once. */
  directLostAt: number;
  /** Last round-trip time of a hello on the direct path, ms, and when it was measured. */
  rtt: number | null;
  rttAt: number;
  /** When the current relay was chosen, and relays that did not get a handshake through. */
  relaySince: number;
  badRelays: ReadonlySet<string>;
  /** Position on the key ring (its first 32 bits). */
  pos: number;
  /** The version of its entry in our digests (-1: none), and what that entry added to them (Digests). */
  digV: number;
  digX: EntryDigest | null;
}

/**
 * A member as the rest of the node sees it: read-only (only the mesh changes members), and its name
 * only as `name`, stripped of control characters (the record's own `n` is what the member signed,
 * kept as it is to pass the record on).
 */
export type MemberView = Readonly<Omit<Member, 'rec' | 'removed' | 'direct'>> & {
  readonly rec: Readonly<Omit<MemberRecord, 'n'>> | null;
  readonly removed: Readonly<Removal> | null;
  readonly direct: Readonly<Endpoint> | null;
};

/** What an entry (key, version) adds to the digests (see digests.ts). */
export type EntryDigest = readonly [number, number, number];

/**
 * The empty key set every member starts with (most never get any: a set each would cost a thousand-
 * member mesh a megabyte of empty hash tables). Read-only; withKey() makes a member its own set.
 */
export const NO_KEYS: ReadonlySet<string> = new Set<string>();

/** A new member to introduce to another once that one's path is confirmed: where it was seen, when. */
export interface IntroLater {
  readonly key: string;
  readonly seenAt: Endpoint;
  readonly at: number;
}
export const NO_INTROS: readonly IntroLater[] = [];
const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

export function withKey(set: ReadonlySet<string>, key: string): ReadonlySet<string> {
  const out = set === NO_KEYS ? new Set<string>() : (set as Set<string>);
  out.add(key);
  return out;
}

/** Position of a key on the ring: its first 32 bits (keys are uniformly random). */
export function ringPos(keyB64: string): number {
  const b = Buffer.from(keyB64.slice(0, 8), 'base64');
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

export function newMember(key: string, keyBytes: Uint8Array): Member {
  return {
    key,
    keyBytes,
    rec: null,
    name: '',
    removed: null,
    direct: null,
    lastDirect: 0,
    directSince: 0,
    lastHelloSent: 0,
    relay: null,
    reachedBy: NO_KEYS,
    introLater: NO_INTROS,
    extra: NO_ENDPOINTS,
    probingSince: 0,
    nextProbe: 0,
    probes: 0,
    lastSync: -MESH_SYNC_INTERVAL,
    lastWant: -MESH_PROBE_SLOW,
    path: 'none',
    lastActive: -MESH_ACTIVE_IDLE,
    lastTraffic: 0,
    wantedUntil: 0,
    hard: false,
    lastIntroProbe: Number.NEGATIVE_INFINITY,
    lastRelayCheck: Number.NEGATIVE_INFINITY,
    wantTurn: 0,
    syncPending: false,
    pingAt: 0,
    pingsOut: 0,
    unansweredSince: 0,
    lastPong: 0,
    lastHeard: 0,
    heardFrom: null,
    directLostAt: 0,
    rtt: null,
    rttAt: 0,
    relaySince: 0,
    badRelays: NO_KEYS,
    pos: ringPos(key),
    digV: -1,
    digX: null,
  };
}

/**
 * Member keys as bytes, 32 each in slabs of our own: a slice of Node's shared buffer pool would keep
 * a whole 8 KB slab (mostly datagrams long gone) alive per member, and a buffer each costs more than
 * the key.
 */
export class KeySlab {
  private slab = Buffer.alloc(0);
  private used = 0;

  bytesOf(key: string): Uint8Array {
    if (this.used + 32 > this.slab.length) {
      this.slab = Buffer.alloc(32 * 128);
      this.used = 0;
    }
    const at = this.used;
    if (this.slab.write(key, at, 32, 'base64') !== 32) return new Uint8Array(Buffer.from(key, 'base64'));
    this.used += 32;
    return this.slab.subarray(at, at + 32);
  }
}
