// Serverless membership, discovery, NAT traversal and relaying (docs/mesh.md).
//
// A network is a name plus a secret. Discovery messages ride on the WireGuard UDP port with a type
// WireGuard does not use (0x50), sealed with XChaCha20-Poly1305 under a key derived from the name and
// secret: a sender without the secret gets no answer at all. Replays are refused (timestamp window
// plus a nonce cache).
//
// Every member publishes a record (key, name, endpoints, relay offer, routes) signed with its own
// X25519 key (XEdDSA) and versioned by time, so no member can forge another's record and stale
// information loses. Records spread by anti-entropy: hellos carry a digest of all records; when two
// members' digests differ they compare 64 bucket digests, then the listings of the buckets that
// differ, and push each other exactly the records the other lacks.
//
// Paths: a member probes every endpoint it knows of another (its record's local and public endpoints,
// and where an introducer sees it) and asks a member that reaches both to introduce it; the introduced
// member probes back at the same time, which opens a path through two endpoint-independent NATs.
// Until a probe gets through, WireGuard traffic goes through a member that offers relaying; it moves
// to the direct path as soon as one answers, without a new handshake.
//
// Small networks (up to MESH_EAGER_MAX members) keep a path to every member. Larger ones make paths on
// demand: a member keeps paths to its anchors (ring neighbours and home relays, which every member can
// compute for any other) and to members it has traffic with; a handshake towards an idle member
// starts probing and introductions through that member's anchors.
//
// Sans-IO like the Device: time is set by the caller, output goes through DeviceIO.send.

import { AllowedIps } from './allowed-ips';
import {
  MESH_ACTIVE_IDLE,
  MESH_BOOTSTRAP_REFRESH,
  MESH_BOOTSTRAP_RETRY,
  MESH_BUCKETS,
  MESH_CLOCK_SKEW,
  MESH_DIG_GAP,
  MESH_EAGER_MAX,
  MESH_HOME_RELAYS,
  MESH_IDLE_SCAN,
  MESH_LAN_INTERVAL,
  MESH_MAX_ENDPOINTS,
  MESH_MAX_MEMBERS,
  MESH_MAX_MESSAGE,
  MESH_MAX_ROUTES,
  MESH_NONCE_CACHE,
  MESH_PATH_KEEPALIVE,
  MESH_PATH_TIMEOUT,
  MESH_PEER_IDLE_DROP,
  MESH_PROBE_FAST,
  MESH_PROBE_FAST_FOR,
  MESH_PROBE_SLOW,
  MESH_RECORD_MAX_AGE,
  MESH_RECORD_REFRESH,
  MESH_RELAY_AFTER,
  MESH_RELAY_RETRY,
  MESH_RING_NEIGHBOURS,
  MESH_SCAN_INTERVAL,
  MESH_SYNC_INTERVAL,
  MSG_INITIATION,
  MSG_MESH,
  MSG_RELAY_FROM,
  MSG_RELAY_TO,
  MSG_TRANSPORT,
  RELAY_HEADER_SIZE,
} from './constants';
import { xopenInto, xsealInPlace } from './crypto/aead';
import { Blake2s } from './crypto/blake2s';
import { xeddsaSign, xeddsaVerify } from './crypto/xeddsa';
import { type Device, type DeviceIO, type Endpoint, sameEndpoint } from './device';
import { type Cidr, formatIp, isNattedAddress, parseCidr } from './ip';

const HEADER = 4;
const NONCE = 24;
const TAG = 16;

const enc = new TextEncoder();
/** Where discovery messages are decrypted, to be parsed at once (one buffer, not one per message). */
const openScratch = Buffer.allocUnsafeSlow(MESH_MAX_MESSAGE);

function hash(...parts: (string | Uint8Array)[]): Uint8Array {
  const h = new Blake2s(32);
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p) : p);
  return h.digest();
}

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');

export interface NetworkKeys {
  name: string;
  /** Key sealing discovery messages. */
  discoveryKey: Uint8Array;
  /** Public identifier of the network (hash), used for address derivation and record signatures. */
  id: Uint8Array;
}

export function networkKeys(name: string, secret: Uint8Array): NetworkKeys {
  return {
    name,
    discoveryKey: hash('peermesh discovery v1', name, secret),
    id: hash('peermesh network id v1', name, secret),
  };
}

/**
 * A member's stable overlay addresses, the same on every node: IPv4 in 100.64.0.0/10 and an IPv6
 * ULA whose /48 comes from the network. Two members whose first IPv4 choice collides (22 bits: about
 * 0.1 % of networks of 100 members) are told apart by Mesh.addressesOf: the member that joined first
 * keeps it, the other takes its next choice (`rank`).
 */
export function memberAddresses(
  net: NetworkKeys,
  publicKey: Uint8Array,
  rank = 0,
): { v4: string; v6: string } {
  const h = hash('peermesh address v1', net.id, publicKey);
  // rank > 0: the member lost a collision of its first choice (see Mesh.addressesOf); try the next.
  const hv = rank === 0 ? h : hash('peermesh address v1', net.id, publicKey, Uint8Array.of(rank & 0xff));
  let host = ((hv[0] << 16) | (hv[1] << 8) | hv[2]) & 0x3fffff;
  if (host === 0) host = 1;
  if (host === 0x3fffff) host = 0x3ffffe;
  const v4 = new Uint8Array([100, 64 | (host >>> 16), (host >>> 8) & 0xff, host & 0xff]);
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  v6.set(net.id.subarray(0, 5), 1); // ULA global ID (RFC 4193)
  v6.set(h.subarray(8, 16), 8); // interface ID from the key
  return { v4: formatIp(v4), v6: formatIp(v6) };
}

export const OVERLAY_V4_PREFIX = 10;
export const OVERLAY_V6_PREFIX = 48;

/** A member's self-description, signed by the member (XEdDSA with its WireGuard key). */
export interface MemberRecord {
  /** Public key, base64. */
  k: string;
  /** Version: the member's wall clock in ms when it signed; higher wins. */
  v: number;
  /** Name (host name by default). */
  n: string;
  /** Endpoints to try, "ip:port" / "[ip6]:port": local addresses first, then as members see it. */
  e: string[];
  /** 1 when the member relays traffic between members that cannot reach each other. */
  rl: 0 | 1;
  /** Subnet routes the member offers (CIDR). */
  rt: string[];
  /** When the member first joined (wall ms): the earlier member keeps an IPv4 address both want. */
  j: number;
  /** Home relays: relaying members it keeps live paths to (large networks), so others relay via them. */
  hr: string[];
  /** Signature, base64. */
  s: string;
}

/** A member's removal from the network, signed by the member that removed it. Final. */
export interface Removal {
  /** Removed member's key. */
  k: string;
  /** Remover's key. */
  rm: string;
  /** When (remover's wall clock, ms). */
  v: number;
  s: string;
}

/** What a node keeps across restarts (written by the caller, mode 0600). */
export interface MeshState {
  records: MemberRecord[];
  removals: Removal[];
  /** When this node first joined (its records' `j`). */
  joined?: number;
}

const REMOVED_VERSION = Number.MAX_SAFE_INTEGER;

/**
 * A listing of a bucket's keys in [lo, hi): [bucket, lo, hi, entries]. An entry is the first
 * SUM_PREFIX characters of the key's base64 (72 bits: an accidental clash among thousands of keys is
 * out of reach, and making one on purpose takes 2^72 work) followed by the version in base 36; the
 * bounds are such prefixes too. About 23 bytes an entry, against 63 for [key, version].
 */
type SumPart = [number, string, string, string[]];
const SUM_PREFIX = 12;
/**
 * Sub-buckets: a bucket holding more than SUB_MIN records is compared in 16 parts first (by the
 * second base64 character of the key, in ASCII order, four characters to a part), so that a few new
 * records in every bucket (a join storm) cost 16 small digests per bucket instead of its whole listing.
 */
const SUB_MIN = 8;
const SUB_PARTS = 16;
const SUB_DIGEST = 4;
const B64_ASCII = '+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Buckets per `sub` datagram (16 digests of 4 bytes each, in base64, per bucket). */
const SUB_PER_MESSAGE = 10;
/**
 * A record's or removal's JSON text and its size in bytes, made once per object (they never change):
 * a node answering a join storm sends the same records to every newcomer.
 */
const recordJson = new WeakMap<object, { text: string; bytes: number }>();

function recordText(r: MemberRecord | Removal): { text: string; bytes: number } {
  let j = recordJson.get(r);
  if (!j) {
    const text = JSON.stringify(r);
    j = { text, bytes: Buffer.byteLength(text) };
    recordJson.set(r, j);
  }
  return j;
}
/** Listing entries per datagram (~23 bytes each, 26 at most; parts add their bounds): under 1,400 bytes. */
const SUM_ENTRIES = 40;
const SUM_ENTRY_RE = /^[A-Za-z0-9+/]{12}[0-9a-z]{1,11}$/;

type Wire = (
  | { t: 'hello'; ts: number; key: string; seen: string; d: string; r?: 1; rec?: MemberRecord; h?: 1 }
  | { t: 'dig'; ts: number; key: string; seen: string; b: string }
  | { t: 'sum'; ts: number; key: string; seen: string; p: SumPart[]; r?: 1; np?: 1; na?: 1 }
  | { t: 'sub'; ts: number; key: string; seen: string; p: [number, string][]; np?: 1 }
  | { t: 'recs'; ts: number; key: string; seen: string; recs: (MemberRecord | Removal)[] }
  | { t: 'want'; ts: number; key: string; seen: string; peer: string }
  | { t: 'intro'; ts: number; key: string; seen: string; rec: MemberRecord; at: string | null; th?: 0 | 1 }
  /** The sender is stopping: drop its paths now instead of after MESH_PATH_TIMEOUT. */
  | { t: 'bye'; ts: number; key: string; seen: string }
) & { /** The sender is behind a symmetric NAT. */ h?: 1 };

export type PathKind = 'direct' | 'relayed' | 'none';

export type MeshEvent =
  | { type: 'member'; key: string; name: string }
  | { type: 'removed'; key: string; name: string; by: string }
  | { type: 'changed' }
  | { type: 'public-endpoint'; endpoint: string }
  /** A hello on a member's direct path was answered after `ms`. */
  | { type: 'rtt'; key: string; ms: number }
  /** A member's IPv4 changed because of a collision of first choices (key may be our own). */
  | { type: 'address'; key: string; v4: string; old: string }
  | { type: 'path'; key: string; name: string; kind: PathKind; endpoint: string | null; via: string | null };

export interface MeshOptions {
  network: NetworkKeys;
  name: string;
  bootstrap: Endpoint[];
  /** Our X25519 private key (signs our record). */
  privateKey: Uint8Array;
  random: (n: number) => Uint8Array;
  now: number;
  wallNow: number;
  /** Offer to relay traffic between members. */
  relay?: boolean;
  /** Subnet routes this node offers. */
  routes?: string[];
  /** Our local endpoints (interface addresses with the listen port), refreshed by the caller. */
  localEndpoints?: Endpoint[];
  /** When this node first joined the network (wall ms; default now, or what importState restores). */
  joined?: number;
  /**
   * Signature check of records and removals (default: xeddsaVerify). The simulator passes a memo so
   * that a thousand simulated members do not verify the same signature a thousand times.
   */
  verify?: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;
  /**
   * Called with every record accepted (valid, newer): returns the object to keep, which must be equal.
   * The simulator returns one shared copy per (key, version, signature), so that a thousand simulated
   * nodes do not each hold a thousand copies (records are never modified once received).
   */
  intern?: (record: MemberRecord) => MemberRecord;
}

export interface Member {
  key: string;
  keyBytes: Uint8Array;
  rec: MemberRecord | null;
  /** Set when the member was removed from the network: nothing from it is accepted again. */
  removed: Removal | null;
  /** Confirmed direct path (a discovery message from the member arrived from here). */
  direct: Endpoint | null;
  lastDirect: number;
  lastHelloSent: number;
  /** Relay member key while relayed. */
  relay: string | null;
  /** Members that told us they reach this one directly (introducers, relay candidates). */
  reachedBy: ReadonlySet<string>;
  /** Extra endpoints to probe (where an introducer sees the member). */
  extra: readonly Endpoint[];
  probingSince: number;
  nextProbe: number;
  /** Probes sent since probing started or the last introduction (spaces them out, see probe()). */
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
  wantTurn: number;
  /** Its digest differed while we were rate-limited: compare again soon. */
  syncPending: boolean;
  /** When our last unanswered hello to its direct path left (0: none pending): RTT on the answer. */
  pingAt: number;
  /** Last round-trip time of a hello on the direct path, ms. */
  rtt: number | null;
  /** When the current relay was chosen, and relays that did not get a handshake through. */
  relaySince: number;
  badRelays: ReadonlySet<string>;
  /** Position on the key ring (its first 32 bits). */
  pos: number;
  /** The version of its entry in our digests (-1: none), and what that entry added to them. */
  digV: number;
  digX: EntryDigest | null;
}

/**
 * The empty key set every member starts with (most never get any: a set each would cost a thousand-
 * member mesh a megabyte of empty hash tables). Read-only; withKey() makes a member its own set.
 */
const NO_KEYS: ReadonlySet<string> = new Set<string>();
const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

function withKey(set: ReadonlySet<string>, key: string): ReadonlySet<string> {
  const out = set === NO_KEYS ? new Set<string>() : (set as Set<string>);
  out.add(key);
  return out;
}

export function endpointText(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function parseEndpointText(s: string): Endpoint | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([0-9.]+):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  const ip = parseCidr(m[1]);
  if (port < 1 || port > 65535 || !ip) return null;
  return { address: formatIp(ip.bytes), port };
}

const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;
const SIG_RE = /^[A-Za-z0-9+/]{86}==$/;

function isStrArray(x: unknown, max: number, maxLen: number): x is string[] {
  return Array.isArray(x) && x.length <= max && x.every((s) => typeof s === 'string' && s.length <= maxLen);
}

function bucketOf(keyBytes: Uint8Array): number {
  return keyBytes[0] >> 2; // 64 buckets
}

const B64_STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Key range [lo, hi) of part g of bucket bk: the bucket is the key's first base64 character; the part,
 * four consecutive characters (in ASCII order, the order keys compare in) of the second one.
 */
/** A record in a bucket listing: key, version, the record (or removal), key bytes. */
type BucketEntry = [string, number, MemberRecord | Removal, Uint8Array];

const LABEL_ENTRY = enc.encode('peermesh digest entry v2');

/**
 * What an entry (key, version) adds to the digests: [16 bits for its bucket's digest, 32 more bits
 * for it, 32 other bits for its part's] of a hash of the key and the version (64-bit big-endian).
 */
function entryDigest(keyBytes: Uint8Array, v: number): EntryDigest {
  const buf = new Uint8Array(40);
  buf.set(keyBytes.subarray(0, 32));
  const view = new DataView(buf.buffer);
  view.setUint32(32, Math.floor(v / 0x100000000));
  view.setUint32(36, v >>> 0);
  const h = new DataView(new Blake2s(32).update(LABEL_ENTRY).update(buf).digest().buffer);
  return [h.getUint16(0), h.getUint32(2), h.getUint32(6)];
}

type EntryDigest = readonly [number, number, number];

/**
 * Entry digests by the record or removal they describe: computed once per record object (in a node,
 * once per version it takes in; in the simulator, where nodes share record objects, once in all).
 */
const entryDigests = new WeakMap<object, EntryDigest>();

function entryDigestOf(entry: object, keyBytes: Uint8Array, v: number): EntryDigest {
  let x = entryDigests.get(entry);
  if (!x) {
    x = entryDigest(keyBytes, v);
    entryDigests.set(entry, x);
  }
  return x;
}

/** Index of the first entry (sorted by key) whose key is at least `bound`. */
function firstAtLeast(entries: readonly BucketEntry[], bound: string): number {
  let a = 0;
  let b = entries.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (entries[mid][0] < bound) a = mid + 1;
    else b = mid;
  }
  return a;
}

function subRange(bk: number, g: number): [string, string] {
  const c1 = B64_STD[bk];
  const per = B64_ASCII.length / SUB_PARTS;
  const lo = c1 + B64_ASCII[g * per];
  const hi = c1 + (g === SUB_PARTS - 1 ? '~' : B64_ASCII[(g + 1) * per]);
  return [lo, hi];
}

export class Mesh {
  /** Every other member we know of (by record or by contact). */
  readonly members = new Map<string, Member>();
  readonly counters = {
    discoveryIn: 0,
    discoveryRejected: 0,
    replays: 0,
    recordsRejected: 0,
    sent: 0,
    sentBytes: 0,
    relayed: 0,
    relayDropped: 0,
    oversize: 0,
  };
  /** Our endpoint as members see it (public address behind NAT). */
  publicEndpoint: string | null = null;
  private now: number;
  private wallNow: number;
  private nonces = new Set<string>();
  private oldNonces = new Set<string>();
  private nextBootstrap: number;
  private selfRecord: MemberRecord;
  private readonly byEndpoint = new Map<string, string>(); // direct endpoint text -> member key
  private rootDigest = '';
  private localEndpoints: Endpoint[];
  private readonly seenBy = new Map<string, { seen: string; at: number }>();
  /** Until then we believe we sit behind a symmetric NAT. */
  private hardUntil = 0;
  private lastDig = Number.NEGATIVE_INFINITY;

  get hard(): boolean {
    return this.now < this.hardUntil;
  }

  /** Members with a record (not removed). */
  private recordCount = 0;
  private anchors = new Set<string>();
  /** Every member's prefixes (overlay addresses, offered routes) -> member key. */
  private readonly index = new AllowedIps<string>();
  private anchorsDirty = true;
  private lastScan = Number.NEGATIVE_INFINITY;
  /**
   * Members that need attention each pass (a path, probing, a WireGuard peer, wanted); the others
   * (idle members of a large mesh) are looked at every MESH_IDLE_SCAN only.
   */
  private readonly hot = new Set<Member>();
  private lastFullScan = Number.NEGATIVE_INFINITY;
  /** Our records changed: tell the members we keep paths to (our new digest) within a second. */
  private announceDue = false;
  private lastAnnounce = Number.NEGATIVE_INFINITY;
  private anchorsAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly device: Device,
    private readonly io: DeviceIO,
    private readonly opts: MeshOptions,
    private readonly onEvent: (e: MeshEvent) => void = () => {},
  ) {
    this.now = opts.now;
    this.wallNow = opts.wallNow;
    this.nextBootstrap = opts.now;
    this.localEndpoints = opts.localEndpoints ?? [];
    this.joined = Math.floor(opts.joined ?? opts.wallNow);
    this.networkId = b64(opts.network.id);
    this.selfRecord = this.signRecord(0);
    this.groupAdd(this.selfKey, false);
    device.onHandshakeStart = (peer) => this.activate(peer.keyB64);
    device.onNoRoute = (buf, start) => this.peerForPacket(buf, start);
    device.onUnknownPeer = (key) => this.peerForKey(key);
  }

  /** Members with a record (not removed), ourselves not included. */
  get memberCount(): number {
    return this.recordCount;
  }

  /** Paths only on demand (the network is larger than MESH_EAGER_MAX). */
  get onDemand(): boolean {
    return this.recordCount > MESH_EAGER_MAX;
  }

  /** Records changed (of `key`, or any): digests (of its bucket), anchors and news are due. */
  private invalidate(key?: string): void {
    const bk = key ? B64_STD.indexOf(key[0]) : -1;
    if (bk >= 0) {
      this.redigest(key!);
      this.updateEntry(bk, key!);
    } else {
      this.digestAll = true;
      this.entryCache.fill(undefined);
    }
    this.anchorsDirty = true;
    this.anchorCache.clear();
    this.announceDue = true;
  }

  /** Keys (members and ourselves) per digest bucket. */
  private readonly bucketKeys: Set<string>[] = Array.from({ length: MESH_BUCKETS }, () => new Set());

  /**
   * Digests are XOR sets, kept up to date record by record: each entry (a key with a record or a
   * removal, ourselves included) contributes a hash of (key, version), and a bucket's digest is the
   * XOR of its entries' (48 bits), a part's of theirs (32 other bits). A change costs one hash, not a
   * re-hash of the bucket on every comparison a peer asks for (a join storm asks thousands). An
   * insider could make two different sets collide, as with any digest this short: it would only delay
   * the sync of a record that also travels by hellos and introductions.
   */
  /** Per bucket: [high 16 bits, low 32 bits] of its digest. */
  private readonly bucketX = new Uint32Array(MESH_BUCKETS * 2);
  /** Per bucket and part (SUB_PARTS each): the part's 32-bit digest. */
  private readonly subX = new Uint32Array(MESH_BUCKETS * SUB_PARTS);
  private digestAll = true;
  private digestChanged = true;
  /** The version of our record in the digests (-1: none yet), and what it added to them. */
  private selfDigV = -1;
  private selfDigX: EntryDigest | null = null;

  /** Bring the digests up to date with the entry of `key` (now: a record, a removal, or none). */
  private redigest(key: string): void {
    if (this.digestAll) return; // rebuilt from scratch on next use
    const self = key === this.selfKey;
    const m = self ? undefined : this.members.get(key);
    const kb = self ? this.device.identity.publicKey : m?.keyBytes;
    if (!kb) return; // gone: forget() took its entry out
    const oldV = m ? m.digV : this.selfDigV;
    const entry = this.entryOf(key);
    const newV = entry ? entry[1] : -1;
    if (oldV === newV) return;
    const oldX = m ? m.digX : this.selfDigX;
    if (oldX) this.xorEntry(kb, oldX);
    const newX = entry ? entryDigestOf(entry[2], kb, newV) : null;
    if (newX) this.xorEntry(kb, newX);
    if (m) {
      m.digV = newV;
      m.digX = newX;
    } else {
      this.selfDigV = newV;
      this.selfDigX = newX;
    }
  }

  /** Add or take out (the same: XOR) an entry's digest (of its key and version). */
  private xorEntry(keyBytes: Uint8Array, x: EntryDigest): void {
    const bk = keyBytes[0] >> 2;
    const g = Math.floor(
      B64_ASCII.indexOf(B64_STD[((keyBytes[0] & 3) << 4) | (keyBytes[1] >> 4)]) /
        (B64_ASCII.length / SUB_PARTS),
    );
    this.bucketX[bk * 2] ^= x[0];
    this.bucketX[bk * 2 + 1] ^= x[1];
    this.subX[bk * SUB_PARTS + g] ^= x[2];
    this.digestChanged = true;
  }

  /**
   * The anchors of a member: its MESH_RING_NEIGHBOURS closest members on each side on the key ring,
   * and its MESH_HOME_RELAYS relays by rendezvous hashing. Every member computes the same set from
   * the same records, so anyone can ask a member's anchors to introduce it or relay to it. O(N).
   */
  anchorsOf(key: string, relayCount = MESH_HOME_RELAYS): string[] {
    if (key === this.selfKey) return this.computeAnchors(key, relayCount);
    let a = this.anchorCache.get(key);
    if (!a || relayCount !== MESH_HOME_RELAYS) {
      a = this.computeAnchors(key, relayCount);
      if (relayCount === MESH_HOME_RELAYS) this.anchorCache.set(key, a);
    }
    return a;
  }

  /** anchorsOf() answers until records change (cleared by invalidate(): joins, leaves, new records). */
  private readonly anchorCache = new Map<string, string[]>();

  private computeAnchors(key: string, relayCount: number): string[] {
    const pos = key === this.selfKey ? this.selfPos : (this.members.get(key)?.pos ?? ringPos(key));
    const succ: [number, string][] = [];
    const pred: [number, string][] = [];
    const relays: [number, string][] = [];
    // A member's own record names the relays it really keeps paths to (live ones); use those.
    const published = key === this.selfKey ? null : this.members.get(key)?.rec?.hr;
    const consider = (k: string, p: number, rl: boolean) => {
      if (k === key) return;
      keepSmallest(succ, (p - pos) >>> 0 || 0x100000000, k, MESH_RING_NEIGHBOURS);
      keepSmallest(pred, (pos - p) >>> 0 || 0x100000000, k, MESH_RING_NEIGHBOURS);
      if (rl && !published?.length) keepSmallest(relays, mix32(pos ^ p), k, relayCount);
    };
    consider(this.selfKey, this.selfPos, !!this.opts.relay);
    for (const m of this.members.values()) if (m.rec && !m.removed) consider(m.key, m.pos, m.rec.rl === 1);
    const out = new Set<string>(published ?? []);
    for (const x of [...relays, ...succ, ...pred]) out.add(x[1]);
    if (key === this.selfKey) this.relayCandidates = relays.map((x) => x[1]);
    return [...out];
  }

  /** Our relay candidates in rendezvous order (the first live ones become our home relays). */
  private relayCandidates: string[] = [];
  private homeRelays: string[] = [];
  private lastHomeChange = Number.NEGATIVE_INFINITY;

  private refreshAnchors(): void {
    if (this.anchorsDirty && this.now - this.anchorsAt >= 1000) {
      this.anchorsDirty = false;
      this.anchorsAt = this.now;
      // Two spare relay candidates: if a home relay is gone, the next one already has a path.
      this.anchors = new Set(this.anchorsOf(this.selfKey, MESH_HOME_RELAYS + 2));
      for (const k of this.anchors) {
        const m = this.members.get(k);
        if (m) this.hot.add(m);
      }
    }
    // Home relays: the first candidates we have a live direct path to, published in our record (at
    // most every 10 s), so that members reach us through relays that really reach us.
    if (!this.onDemand || this.now - this.lastHomeChange < 10_000) return;
    const home = this.relayCandidates
      .filter((k) => {
        const m = this.members.get(k);
        return m?.direct && this.now - m.lastDirect < MESH_PATH_TIMEOUT;
      })
      .slice(0, MESH_HOME_RELAYS);
    if (home.length && home.join() !== this.homeRelays.join()) {
      this.homeRelays = home;
      this.lastHomeChange = this.now;
      this.resign();
    }
  }

  /** Whether we keep (probe, keep alive, relay) a path to this member. */
  private wanted(m: Member): boolean {
    return (
      !this.onDemand ||
      this.anchors.has(m.key) ||
      this.now - m.lastActive < MESH_ACTIVE_IDLE ||
      this.now < m.wantedUntil
    );
  }

  /**
   * Measure the round trip to a member now (a hello on its direct path; the answer comes as an
   * 'rtt' event). False when there is no direct path (relayed members are measured by the caller).
   */
  ping(key: string): boolean {
    const m = this.members.get(key);
    if (!m?.direct || m.removed) return false;
    m.pingAt = 0;
    this.sendHello(m.direct, false, false);
    return true;
  }

  /**
   * Traffic towards a member is about to start (the Device begins a handshake): make a path now if
   * there is none — probe it, and ask its anchors for an introduction (paths to them too on demand).
   */
  activate(key: string): void {
    const m = this.members.get(key);
    if (!m?.rec || m.removed) return;
    m.lastActive = this.now;
    this.hot.add(m);
    if (m.direct) return;
    if (this.onDemand) {
      for (const a of this.anchorsOf(key)) {
        const x = this.members.get(a);
        if (!x?.rec) continue;
        x.wantedUntil = this.now + MESH_ACTIVE_IDLE;
        this.hot.add(x);
        if (!x.direct && !x.probingSince) {
          this.startProbing(x);
          this.probe(x);
        }
      }
    }
    if (!m.probingSince || this.now - m.probingSince >= MESH_PROBE_FAST_FOR) {
      this.startProbing(m);
      m.lastWant = -MESH_PROBE_SLOW;
      this.probe(m);
    }
  }

  get selfKey(): string {
    return this.device.publicKeyB64;
  }

  private get selfPos(): number {
    return ringPos(this.selfKey);
  }

  get record(): MemberRecord {
    return this.selfRecord;
  }

  /**
   * Overlay addresses of a member (ourselves included), the same on every node: derived from its key;
   * when first IPv4 choices collide, the member that joined first (then the smaller key) keeps it and
   * the others take their next choices.
   */
  addressesOf(keyB64: string): { v4: string; v6: string } {
    const a = memberAddresses(this.opts.network, Buffer.from(keyB64, 'base64'));
    const v4 = this.assignedV4.get(keyB64);
    return v4 ? { v4, v6: a.v6 } : a;
  }

  /** When we first joined (signed into our record as `j`). */
  private joined: number;
  /** First IPv4 choice -> keys that have it (with a record; ourselves included). */
  private readonly byFirstV4 = new Map<string, string | string[]>(); // a key, or the keys of a collision
  /** IPv4 of members that lost a collision of first choices. */
  private readonly assignedV4 = new Map<string, string>();

  private firstV4(key: string): string {
    return memberAddresses(this.opts.network, Buffer.from(key, 'base64')).v4;
  }

  private joinedOf(key: string): number {
    return key === this.selfKey ? this.joined : (this.members.get(key)?.rec?.j ?? Number.MAX_SAFE_INTEGER);
  }

  private groupAdd(key: string, notify = true): void {
    const first = this.firstV4(key);
    const g = this.byFirstV4.get(first);
    if (g === undefined) {
      this.byFirstV4.set(first, key);
      return;
    }
    const list = typeof g === 'string' ? [g] : g;
    if (!list.includes(key)) list.push(key);
    this.byFirstV4.set(first, list);
    this.regroup(first, notify);
  }

  private groupRemove(key: string): void {
    const first = this.firstV4(key);
    const g = this.byFirstV4.get(first);
    if (g === undefined) return;
    const rest = (typeof g === 'string' ? [g] : g).filter((k) => k !== key);
    this.assignedV4.delete(key);
    if (rest.length) this.byFirstV4.set(first, rest.length === 1 ? rest[0] : rest);
    else this.byFirstV4.delete(first);
    if (rest.length) this.regroup(first, true);
  }

  /** Give each key of a first-choice group its address: first joined keeps it, the rest rank on. */
  private regroup(first: string, notify: boolean): void {
    const g = this.byFirstV4.get(first);
    if (g === undefined) return;
    const list = typeof g === 'string' ? [g] : g;
    list.sort((a, b) => this.joinedOf(a) - this.joinedOf(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const [i, key] of list.entries()) {
      const old = this.assignedV4.get(key) ?? first;
      const v4 = i === 0 ? first : memberAddresses(this.opts.network, Buffer.from(key, 'base64'), i).v4;
      if (i === 0) this.assignedV4.delete(key);
      else this.assignedV4.set(key, v4);
      if (v4 === old || !notify) continue;
      const m = this.members.get(key);
      if (m?.rec) this.ensurePeer(m, 'changed');
      this.onEvent({ type: 'address', key, v4, old });
    }
  }

  private setJoined(j: number): void {
    this.joined = j;
    this.resign();
    this.regroup(this.firstV4(this.selfKey), true);
  }

  setTime(now: number, wallNow: number): void {
    this.now = now;
    this.wallNow = wallNow;
  }

  /**
   * Broadcast addresses of the LANs we sit on (with the ports members listen on): a sealed hello
   * goes there every MESH_LAN_INTERVAL (and at once when the set changes), so members on one LAN
   * find each other without any bootstrap address and talk directly.
   */
  setLanTargets(eps: Endpoint[]): void {
    const before = this.lanTargets.map(endpointText).join(',');
    this.lanTargets = eps.slice(0, 8);
    if (this.lanTargets.map(endpointText).join(',') !== before) this.nextLan = this.now;
  }

  private lanTargets: Endpoint[] = [];
  private nextLan = 0;

  /** The node's interface addresses changed (roaming): publish them and re-probe every member. */
  setLocalEndpoints(eps: Endpoint[]): void {
    const before = this.localEndpoints.map(endpointText).join(',');
    if (eps.map(endpointText).join(',') === before) return;
    this.localEndpoints = eps;
    this.resign();
    this.nextBootstrap = this.now;
    for (const m of this.members.values()) {
      m.lastHelloSent = 0;
      if (m.direct) this.sendHello(m.direct, false, true);
    }
  }

  // ---- records -------------------------------------------------------------------------------

  /** The network's id in base64, as signed records and removals name it. */
  private readonly networkId: string;

  private recordBytes(r: Omit<MemberRecord, 's'>): Uint8Array {
    return Buffer.from(
      JSON.stringify(['peermesh record v1', this.networkId, r.k, r.v, r.n, r.e, r.rl, r.rt, r.j, r.hr]),
    );
  }

  private signRecord(minVersion: number): MemberRecord {
    const eps: string[] = [];
    for (const e of this.localEndpoints) eps.push(endpointText(e));
    if (this.publicEndpoint && !eps.includes(this.publicEndpoint)) eps.push(this.publicEndpoint);
    const body = {
      k: this.selfKey,
      v: Math.max(Math.floor(this.wallNow), minVersion + 1),
      n: this.opts.name.slice(0, 63),
      e: eps.slice(-MESH_MAX_ENDPOINTS),
      rl: (this.opts.relay ? 1 : 0) as 0 | 1,
      rt: (this.opts.routes ?? []).slice(0, MESH_MAX_ROUTES),
      j: this.joined,
      hr: this.homeRelays ?? [],
    };
    const sig = xeddsaSign(this.opts.privateKey, this.recordBytes(body), this.opts.random(64));
    return { ...body, s: b64(sig) };
  }

  private resign(): void {
    this.selfRecord = this.signRecord(this.selfRecord.v);
    this.invalidate(this.selfKey);
  }

  /** Check a record's form, age and signature. */
  private validRecord(r: unknown): r is MemberRecord {
    if (typeof r !== 'object' || r === null) return false;
    const x = r as MemberRecord;
    if (
      typeof x.k !== 'string' ||
      !KEY_RE.test(x.k) ||
      !Number.isSafeInteger(x.v) ||
      x.v <= 0 ||
      x.v > this.wallNow + 24 * 3600_000 ||
      x.v < this.wallNow - MESH_RECORD_MAX_AGE ||
      typeof x.n !== 'string' ||
      x.n.length > 63 ||
      !isStrArray(x.e, MESH_MAX_ENDPOINTS, 47) ||
      !x.e.every((e) => parseEndpointText(e) !== null) ||
      (x.rl !== 0 && x.rl !== 1) ||
      !isStrArray(x.rt, MESH_MAX_ROUTES, 43) ||
      !x.rt.every((c) => parseCidr(c) !== null) ||
      !isStrArray(x.hr, MESH_HOME_RELAYS, 44) ||
      !x.hr.every((k) => KEY_RE.test(k)) ||
      !Number.isSafeInteger(x.j) ||
      x.j <= 0 ||
      x.j > x.v ||
      typeof x.s !== 'string' ||
      !SIG_RE.test(x.s)
    )
      return false;
    return (this.opts.verify ?? xeddsaVerify)(
      Buffer.from(x.k, 'base64'),
      this.recordBytes(x),
      Buffer.from(x.s, 'base64'),
    );
  }

  /** Take a record we were sent; true when it was new information. */
  private ingest(r: unknown, from: string | null): boolean {
    if (typeof r !== 'object' || r === null) return false;
    if ('rm' in r) return this.ingestRemoval(r);
    const key = (r as MemberRecord).k;
    if (this.members.get(key)?.removed) return false;
    if (key === this.selfKey) {
      // Someone holds a version of our own record at least as new as ours (we restarted with a clock
      // behind, or a copy of our key runs elsewhere): publish one that wins.
      const v = (r as MemberRecord).v;
      if (Number.isSafeInteger(v) && v >= this.selfRecord.v && this.validRecord(r)) {
        this.selfRecord = this.signRecord(v);
        this.invalidate(this.selfKey);
      }
      // We joined earlier than we remember (state lost): keep the older join time, and its address.
      const j = (r as MemberRecord).j;
      if (Number.isSafeInteger(j) && j > 0 && j < this.joined && this.validRecord(r)) this.setJoined(j);
      return false;
    }
    const known = this.members.get(key);
    if (known?.rec && known.rec.v >= (r as MemberRecord).v) return false;
    if (!known && this.members.size >= MESH_MAX_MEMBERS) return false;
    if (!this.validRecord(r)) {
      this.counters.recordsRejected++;
      return false;
    }
    const m = known ?? this.member(key);
    const isNew = !m.rec;
    if (isNew) this.recordCount++;
    const oldRoutes = m.rec?.rt.join(',');
    const oldJoined = m.rec?.j;
    m.rec = this.opts.intern ? this.opts.intern(r) : r;
    if (isNew) this.groupAdd(key);
    else if (oldJoined !== r.j) this.regroup(this.firstV4(key), true);
    // In a small mesh whoever passes a record on has a path to its member; in a large one it came
    // through the record sync from anywhere (introductions say so on their own).
    if (from && from !== key && !this.onDemand) m.reachedBy = withKey(m.reachedBy, from);
    this.invalidate(key);
    this.ensurePeer(m, isNew ? 'new' : oldRoutes !== r.rt.join(',') ? 'changed' : 'same');
    this.onEvent({ type: 'changed' });
    if (isNew) {
      this.onEvent({ type: 'member', key, name: r.n });
      if (!m.direct && this.wanted(m)) this.startProbing(m);
    }
    return true;
  }

  /**
   * Member keys as bytes, 32 each in slabs of our own: a slice of Node's shared buffer pool would keep
   * a whole 8 KB slab (mostly datagrams long gone) alive per member, and a buffer each costs more than
   * the key.
   */
  private keyBytesOf(key: string): Uint8Array {
    if (this.keySlabUsed + 32 > this.keySlab.length) {
      this.keySlab = Buffer.alloc(32 * 128);
      this.keySlabUsed = 0;
    }
    const at = this.keySlabUsed;
    if (this.keySlab.write(key, at, 32, 'base64') !== 32) return new Uint8Array(Buffer.from(key, 'base64'));
    this.keySlabUsed += 32;
    return this.keySlab.subarray(at, at + 32);
  }

  private keySlab = Buffer.alloc(0);
  private keySlabUsed = 0;

  private member(key: string): Member {
    let m = this.members.get(key);
    if (!m) {
      m = {
        key,
        keyBytes: this.keyBytesOf(key),
        rec: null,
        removed: null,
        direct: null,
        lastDirect: 0,
        lastHelloSent: 0,
        relay: null,
        reachedBy: NO_KEYS,
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
        wantTurn: 0,
        syncPending: false,
        pingAt: 0,
        rtt: null,
        relaySince: 0,
        badRelays: NO_KEYS,
        pos: ringPos(key),
        digV: -1,
        digX: null,
      };
      this.members.set(key, m);
      this.bucketKeys[bucketOf(m.keyBytes)].add(key);
    }
    return m;
  }

  /** Prefixes a member owns: its overlay addresses and the routes its record offers. */
  private allowedOf(m: Member): Cidr[] {
    const addrs = this.addressesOf(m.key);
    const allowed = [parseCidr(`${addrs.v4}/32`)!, parseCidr(`${addrs.v6}/128`)!] as Cidr[];
    for (const rt of m.rec?.rt ?? []) {
      const c = parseCidr(rt);
      if (c) allowed.push(c);
    }
    return allowed;
  }

  /**
   * Keep the member's prefixes in the mesh's own routing index, and its WireGuard peer in the device:
   * always in a small network; in a large one only while it is wanted (the device asks for the rest
   * through onNoRoute / onUnknownPeer when traffic starts), so an idle member costs no session state.
   */
  private ensurePeer(m: Member, routes: 'new' | 'changed' | 'same'): void {
    if (!m.rec) return;
    const routesChanged = routes !== 'same';
    if (routes === 'changed') this.index.removeValue(m.key);
    if (routesChanged) for (const c of this.allowedOf(m)) this.index.insert(c, m.key);
    const peer = this.device.getPeer(m.key);
    if (peer) {
      if (routesChanged) this.device.setAllowedIps(peer, this.allowedOf(m));
      return;
    }
    if (this.onDemand && !this.wanted(m)) return;
    this.device.addPeer({ publicKey: m.keyBytes, endpoint: m.direct, allowedIps: this.allowedOf(m) });
  }

  /** The device has a packet for an address no peer owns: a member's, whose peer we add now. */
  private peerForPacket(buf: Buffer, start: number): boolean {
    const key = this.index.lookupDestination(buf, start);
    const m = key ? this.members.get(key) : undefined;
    if (!m?.rec || m.removed) return false;
    m.lastActive = this.now;
    this.hot.add(m);
    this.ensurePeer(m, 'same');
    return !!this.device.getPeer(m.key);
  }

  /** An initiation from a key the device does not know: fine if it is a member's. */
  private peerForKey(key: string): boolean {
    const m = this.members.get(key);
    if (!m?.rec || m.removed) return false;
    m.lastActive = this.now;
    this.hot.add(m);
    this.ensurePeer(m, 'same');
    return !!this.device.getPeer(key);
  }

  private computeDigests(): void {
    if (this.digestAll) {
      this.digestAll = false;
      this.bucketX.fill(0);
      this.subX.fill(0);
      this.selfDigV = -1;
      this.selfDigX = null;
      this.redigest(this.selfKey);
      for (const m of this.members.values()) {
        m.digV = -1;
        m.digX = null;
        this.redigest(m.key);
      }
      this.digestChanged = true;
    }
    if (!this.digestChanged) return;
    this.digestChanged = false;
    const packed = new Uint8Array(MESH_BUCKETS * 6);
    const view = new DataView(packed.buffer);
    for (let bk = 0; bk < MESH_BUCKETS; bk++) {
      view.setUint16(bk * 6, this.bucketX[bk * 2]);
      view.setUint32(bk * 6 + 2, this.bucketX[bk * 2 + 1]);
    }
    this.packedDigests = packed;
    this.rootDigest = b64(hash('root', packed).subarray(0, 9));
    this.digestsB64 = b64(packed);
  }

  /** The 64 bucket digests (6 bytes each), and as sent in a `dig`. */
  private packedDigests = new Uint8Array(MESH_BUCKETS * 6);
  private digestsB64 = '';

  /** The 16 part digests of a bucket, as sent in a `sub`. */
  private subDigests(bk: number): Uint8Array {
    this.computeDigests();
    const d = new Uint8Array(SUB_PARTS * SUB_DIGEST);
    const view = new DataView(d.buffer);
    for (let g = 0; g < SUB_PARTS; g++) view.setUint32(g * SUB_DIGEST, this.subX[bk * SUB_PARTS + g]);
    return d;
  }
  /** When we last answered a comparison with a listing that invites pushes. */
  private lastDigAnswer = Number.NEGATIVE_INFINITY;

  /** Records in a bucket with keys in [lo, hi), ours included, sorted by key. Do not modify. */
  private bucketEntries(bk: number, lo = '', hi = '~'): readonly BucketEntry[] {
    let all = this.entryCache[bk];
    if (!all) {
      const out: BucketEntry[] = [];
      if (bucketOf(this.device.identity.publicKey) === bk) out.push(this.entryOf(this.selfKey)!);
      for (const k of this.bucketKeys[bk]) {
        const e = this.entryOf(k);
        if (e) out.push(e);
      }
      out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      all = out;
      this.entryCache[bk] = all;
    }
    if (lo === '' && hi === '~') return all;
    return all.slice(firstAtLeast(all, lo), firstAtLeast(all, hi));
  }

  /**
   * Bring a cached listing up to date with the entry of `key` (now: a record, a removal, or none):
   * a new array (callers may still hold the old one), no re-sort.
   */
  private updateEntry(bk: number, key: string): void {
    const all = this.entryCache[bk];
    if (!all) return;
    const entry = this.entryOf(key);
    const i = firstAtLeast(all, key);
    const here = i < all.length && all[i][0] === key;
    if (!entry && !here) return;
    const next = all.slice();
    if (!entry) next.splice(i, 1);
    else if (here) next[i] = entry;
    else next.splice(i, 0, entry);
    this.entryCache[bk] = next;
  }

  /** The entry of `key` now (ourselves or a member): its record or removal, or null (none). */
  private entryOf(key: string): BucketEntry | null {
    if (key === this.selfKey)
      return [this.selfKey, this.selfRecord.v, this.selfRecord, this.device.identity.publicKey];
    const m = this.members.get(key);
    if (m?.removed) return [m.key, REMOVED_VERSION, m.removed, m.keyBytes];
    if (m?.rec) return [m.key, m.rec.v, m.rec, m.keyBytes];
    return null;
  }

  /** Sorted entries per bucket, kept up to date by updateEntry() (invalidate()). */
  private readonly entryCache: (BucketEntry[] | undefined)[] = new Array(MESH_BUCKETS);

  // ---- removal and persistence ---------------------------------------------------------------

  private removalBytes(r: Omit<Removal, 's'>): Uint8Array {
    return Buffer.from(JSON.stringify(['peermesh remove v1', this.networkId, r.k, r.rm, r.v]));
  }

  private ingestRemoval(r: object): boolean {
    const x = r as Removal;
    if (
      typeof x.k !== 'string' ||
      !KEY_RE.test(x.k) ||
      typeof x.rm !== 'string' ||
      !KEY_RE.test(x.rm) ||
      !Number.isSafeInteger(x.v) ||
      typeof x.s !== 'string' ||
      !SIG_RE.test(x.s)
    )
      return false;
    if (x.k === this.selfKey) {
      // We were removed. Stop taking part; members ignore us anyway.
      if (!this.removedSelf && this.validRemoval(x)) {
        this.removedSelf = x;
        this.onEvent({ type: 'removed', key: x.k, name: this.opts.name, by: x.rm });
      }
      return false;
    }
    const known = this.members.get(x.k);
    if (known?.removed) return false;
    if (!known && this.members.size >= MESH_MAX_MEMBERS) return false;
    if (this.members.get(x.rm)?.removed || !this.validRemoval(x)) {
      this.counters.recordsRejected++;
      return false;
    }
    const m = known ?? this.member(x.k);
    const name = m.rec?.n ?? '';
    if (m.rec) {
      this.recordCount--;
      m.rec = null;
      this.groupRemove(m.key);
    }
    m.removed = x;
    m.rec = null;
    if (m.direct) this.byEndpoint.delete(endpointText(m.direct));
    m.direct = null;
    m.path = 'none';
    this.device.removePeer(x.k);
    this.index.removeValue(x.k);
    this.invalidate(x.k);
    this.onEvent({ type: 'removed', key: x.k, name, by: x.rm });
    this.onEvent({ type: 'changed' });
    return true;
  }

  private validRemoval(x: Removal): boolean {
    return (this.opts.verify ?? xeddsaVerify)(
      Buffer.from(x.rm, 'base64'),
      this.removalBytes(x),
      Buffer.from(x.s, 'base64'),
    );
  }

  /** Set once a member removed us from the network. */
  removedSelf: Removal | null = null;

  /**
   * Remove a member from the network, for good: every member stops accepting anything from it and
   * the removal spreads like a record (it wins over any record of that key) and is kept across
   * restarts. Returns false when the key is malformed, ourselves, or already removed.
   */
  remove(key: string): boolean {
    if (key === this.selfKey || !KEY_RE.test(key)) return false;
    const body = { k: key, rm: this.selfKey, v: Math.floor(this.wallNow) };
    const sig = xeddsaSign(this.opts.privateKey, this.removalBytes(body), this.opts.random(64));
    const removal: Removal = { ...body, s: b64(sig) };
    if (!this.ingestRemoval(removal)) return false;
    for (const m of this.members.values()) if (m.direct && !m.removed) this.sendRecords([removal], m.direct);
    return true;
  }

  /** Records and removals to keep across restarts. */
  exportState(): MeshState {
    const records: MemberRecord[] = [];
    const removals: Removal[] = [];
    for (const m of this.members.values()) {
      if (m.removed) removals.push(m.removed);
      else if (m.rec) records.push(m.rec);
    }
    return { records, removals, joined: this.joined };
  }

  /** Take back what exportState() returned (each entry is checked like one from the network). */
  importState(state: unknown): number {
    if (typeof state !== 'object' || state === null) return 0;
    const { records, removals, joined } = state as Partial<MeshState>;
    if (Number.isSafeInteger(joined) && (joined as number) > 0 && (joined as number) < this.joined) {
      this.setJoined(joined as number);
    }
    let n = 0;
    if (Array.isArray(removals)) for (const r of removals) if (this.ingest(r, null)) n++;
    if (Array.isArray(records)) for (const r of records) if (this.ingest(r, null)) n++;
    return n;
  }

  // ---- incoming ------------------------------------------------------------------------------

  /** A datagram whose first byte is one of the mesh types. Anything not from a member is dropped silently. */
  handleDatagram(buf: Buffer, len: number, from: Endpoint): void {
    if (this.left) return; // stopping: a hello answered now would bring our path back on their side
    if (buf[0] === MSG_RELAY_TO || buf[0] === MSG_RELAY_FROM) {
      this.handleRelay(buf, len, from);
      return;
    }
    this.counters.discoveryIn++;
    const msg = this.open(buf.subarray(0, len));
    if (!msg) {
      this.counters.discoveryRejected++;
      return;
    }
    if (msg.key === this.selfKey) return;
    if (this.members.get(msg.key)?.removed) return;
    if (msg.t === 'bye') {
      const m = this.members.get(msg.key);
      if (m) this.lostMember(m);
      return;
    }
    const sender = this.member(msg.key);
    sender.hard = msg.h === 1;
    this.markDirect(sender, from);
    this.noteSeen(msg.seen, msg.key);
    switch (msg.t) {
      case 'hello':
        if (msg.r && sender.pingAt && this.now - sender.pingAt < 10_000) {
          sender.rtt = this.now - sender.pingAt;
          this.onEvent({ type: 'rtt', key: sender.key, ms: sender.rtt });
        }
        if (msg.r) sender.pingAt = 0;
        if (msg.rec) this.ingest(msg.rec, msg.key);
        if (!msg.r) this.sendHello(from, true, !!msg.rec);
        this.computeDigests();
        if (msg.d !== this.rootDigest) {
          // One comparison at a time (MESH_DIG_GAP): several members announcing the same news must
          // not each push us the same records; the others are compared again a moment later.
          if (this.now - sender.lastSync >= MESH_SYNC_INTERVAL && this.now - this.lastDig >= MESH_DIG_GAP) {
            this.lastDig = this.now;
            sender.lastSync = this.now;
            sender.syncPending = false;
            this.send({ t: 'dig', b: this.digestsB64 }, from);
          } else {
            sender.syncPending = true; // compare again once the interval has passed (tick)
            this.hot.add(sender);
          }
        }
        break;
      case 'dig': {
        this.computeDigests();
        const theirs = Buffer.from(msg.b, 'base64');
        if (theirs.length !== MESH_BUCKETS * 6) return;
        const differ: SumPart[] = [];
        for (let bk = 0; bk < MESH_BUCKETS; bk++) {
          if (
            Buffer.compare(
              theirs.subarray(bk * 6, bk * 6 + 6),
              this.packedDigests.subarray(bk * 6, bk * 6 + 6),
            ) !== 0
          )
            differ.push([bk, '', '~', []]);
        }
        // Members that heard our news compare with us at about the same time, and each would push
        // us the same records: only the first answer in MESH_DIG_GAP invites pushes; the others
        // say "no push" (they still take from us what they lack).
        const noPush = this.now - this.lastDigAnswer < MESH_DIG_GAP;
        if (!noPush) this.lastDigAnswer = this.now;
        const small = differ.filter(([bk]) => this.bucketKeys[bk].size + 1 <= SUB_MIN);
        const big = differ.filter(([bk]) => this.bucketKeys[bk].size + 1 > SUB_MIN).map(([bk]) => bk);
        this.sendSums(small, from, false, noPush);
        for (let i = 0; i < big.length; i += SUB_PER_MESSAGE)
          this.send(
            {
              t: 'sub',
              p: big.slice(i, i + SUB_PER_MESSAGE).map((bk) => [bk, b64(this.subDigests(bk))]),
              ...(noPush ? { np: 1 } : {}),
            },
            from,
          );
        break;
      }
      case 'sub': {
        // Their sub-bucket digests of buckets that differ: list ours of the parts that differ (they
        // push what we lack and ask for what they lack, as after a `dig`).
        const ranges: SumPart[] = [];
        for (const [bk, d] of msg.p) {
          const theirs = Buffer.from(d, 'base64');
          if (theirs.length !== SUB_PARTS * SUB_DIGEST) continue;
          const mine = this.subDigests(bk);
          for (let g = 0; g < SUB_PARTS; g++) {
            const at = g * SUB_DIGEST;
            if (
              Buffer.compare(theirs.subarray(at, at + SUB_DIGEST), mine.subarray(at, at + SUB_DIGEST)) !== 0
            )
              ranges.push([bk, ...subRange(bk, g), []]);
          }
        }
        this.sendSums(ranges, from, false, false, msg.np === 1);
        break;
      }
      case 'sum':
        this.handleSum(msg, from);
        break;
      case 'recs':
        for (const r of msg.recs) this.ingest(r, msg.key);
        break;
      case 'want': {
        // A member asks us to introduce it to `peer`: tell each where the other is.
        const target = this.members.get(msg.peer);
        if (!target?.direct || !target.rec || !sender.rec || target.key === msg.key) return;
        this.send(
          { t: 'intro', rec: sender.rec, at: endpointText(from), th: sender.hard ? 1 : 0 },
          target.direct,
        );
        this.send(
          { t: 'intro', rec: target.rec, at: endpointText(target.direct), th: target.hard ? 1 : 0 },
          from,
        );
        break;
      }
      case 'intro': {
        if (!msg.rec || typeof msg.rec !== 'object') return;
        this.ingest(msg.rec, msg.key);
        const m = this.members.get(msg.rec.k);
        if (!m?.rec || m.rec.k !== msg.rec.k) return;
        m.reachedBy = withKey(m.reachedBy, msg.key);
        const at = msg.at ? parseEndpointText(msg.at) : null;
        const fresh = !!at && !m.extra.some((e) => sameEndpoint(e, at));
        if (fresh) m.extra = [at, ...m.extra].slice(0, 4);
        m.hard = msg.th === 1;
        m.lastActive = this.now;
        this.hot.add(m); // it wants to talk to us
        // Probe now (the other side probes us at the same moment) — once per second at most, as
        // several introducers may answer the same request.
        if (!m.direct && this.now - m.lastIntroProbe >= 1000) {
          m.lastIntroProbe = this.now;
          if (!m.probingSince) this.startProbing(m);
          m.nextProbe = this.now;
          // The other side probes now too. An endpoint we had not tried gets a fresh fast series;
          // the same one again (introductions repeat every round) keeps the series spacing out.
          if (fresh) m.probes = 0;
          this.probe(m);
        }
        break;
      }
    }
  }

  /** Listings of (parts of) buckets: push what they lack, and list ours back where they have newer. */
  private handleSum(msg: Extract<Wire, { t: 'sum' }>, from: Endpoint): void {
    const push: (MemberRecord | Removal)[] = [];
    const back: SumPart[] = [];
    for (const [bk, lo, hi, e] of msg.p) {
      const theirs = new Map<string, number>();
      for (const x of e) theirs.set(x.slice(0, SUM_PREFIX), Number.parseInt(x.slice(SUM_PREFIX), 36));
      const mine = this.bucketEntries(bk, lo, hi);
      for (const [k, v, rec] of mine) {
        const tv = theirs.get(k.slice(0, SUM_PREFIX));
        if (tv === undefined || tv < v) push.push(rec);
      }
      const mineMap = new Map(mine.map(([k, v]) => [k.slice(0, SUM_PREFIX), v]));
      for (const [k, v] of theirs) {
        const mv = mineMap.get(k);
        if (mv === undefined || mv < v) {
          back.push([bk, lo, hi, []]);
          break;
        }
      }
    }
    if (!msg.np) this.sendRecords(push, from);
    if (back.length && !msg.r && !msg.na) this.sendSums(back, from, true);
  }

  /**
   * Send our listings ([key, version]) of the given bucket ranges, packed several buckets to a
   * datagram and a large bucket split into key ranges (SUM_ENTRIES entries per datagram at most).
   */
  /**
   * `noPush`: the receiver should not push us what we lack (others are about to); `noAsk`: it should
   * not ask for what it lacks (it said `np`: it expects them from others).
   */
  private sendSums(ranges: SumPart[], to: Endpoint, reply: boolean, noPush = false, noAsk = false): void {
    let parts: SumPart[] = [];
    let count = 0;
    const flush = () => {
      if (parts.length)
        this.send(
          {
            t: 'sum',
            p: parts,
            ...(reply ? { r: 1 } : {}),
            ...(noPush ? { np: 1 } : {}),
            ...(noAsk ? { na: 1 } : {}),
          },
          to,
        );
      parts = [];
      count = 0;
    };
    for (const [bk, lo, hi] of ranges) {
      const entries = this.bucketEntries(bk, lo, hi);
      for (let i = 0; i === 0 || i < entries.length; i += SUM_ENTRIES) {
        const chunk = entries.slice(i, i + SUM_ENTRIES);
        if (count + chunk.length > SUM_ENTRIES || parts.length >= 16) flush();
        const partLo = i === 0 ? lo : chunk[0][0].slice(0, SUM_PREFIX);
        const partHi =
          i + SUM_ENTRIES < entries.length ? entries[i + SUM_ENTRIES][0].slice(0, SUM_PREFIX) : hi;
        parts.push([bk, partLo, partHi, chunk.map(([k, v]) => k.slice(0, SUM_PREFIX) + v.toString(36))]);
        count += chunk.length + (partLo.length + partHi.length > 2 ? 2 : 1);
      }
    }
    flush();
  }

  private sendRecords(recs: (MemberRecord | Removal)[], to: Endpoint): void {
    // What the message costs without records (its fields, the sealing), measured, not guessed: a
    // datagram over MESH_MAX_MESSAGE is dropped by the receiver. Records go in as the text made once
    // for each (JSON.stringify of a message with them in would make it again for every receiver).
    const room =
      MESH_MAX_MESSAGE -
      HEADER -
      NONCE -
      TAG -
      Buffer.byteLength(JSON.stringify(this.envelope({ t: 'recs', recs: [] }, to, false)));
    let batch: string[] = [];
    let size = 0;
    const flush = () => this.send({ t: 'recs' }, to, false, `"recs":[${batch.join(',')}]`);
    for (const r of recs) {
      const { text, bytes } = recordText(r);
      if (batch.length > 0 && size + bytes + 1 > room) {
        flush();
        batch = [];
        size = 0;
      }
      batch.push(text);
      size += bytes + 1;
    }
    if (batch.length) flush();
  }

  /**
   * A member told us where it sees us. Adopt it as our public endpoint when every member that
   * reported in the last 30 s agrees: behind a symmetric NAT each member sees another port, and
   * publishing each would churn our record for nothing (nobody can reach us there anyway).
   */
  private noteSeen(seen: string, reporter: string): void {
    if (!seen || !parseEndpointText(seen)) return;
    this.seenBy.set(reporter, { seen, at: this.now });
    if (seen === this.publicEndpoint) return;
    for (const [k, r] of this.seenBy) {
      if (this.now - r.at > 30_000) this.seenBy.delete(k);
      else if (r.seen !== seen) {
        // Members see us at different endpoints: our NAT maps per destination (symmetric). Say so
        // in our messages, so that two such members go relayed at once instead of probing in vain.
        if (r.seen.split(':')[0] === seen.split(':')[0]) this.hardUntil = this.now + 600_000;
        return;
      }
    }
    this.publicEndpoint = seen;
    this.resign();
    this.onEvent({ type: 'public-endpoint', endpoint: seen });
  }

  /** A sealed message from `m` arrived from `from`: that is a working direct path. */
  private markDirect(m: Member, from: Endpoint): void {
    this.hot.add(m);
    m.lastDirect = this.now;
    if (!sameEndpoint(m.direct, from)) {
      if (m.direct) this.byEndpoint.delete(endpointText(m.direct));
      m.direct = { address: from.address, port: from.port };
      this.byEndpoint.set(endpointText(m.direct), m.key);
    }
    m.probingSince = 0;
    const peer = this.device.getPeer(m.key);
    if (peer) {
      peer.preferDirectUntil = this.now + MESH_PATH_TIMEOUT;
      this.device.setEndpoint(peer, m.direct!);
    }
    this.setPath(m, 'direct', null);
  }

  /** The member's direct path timed out, or it said goodbye: no path until it is heard again. */
  private lostMember(m: Member): void {
    if (m.direct) this.byEndpoint.delete(endpointText(m.direct));
    m.direct = null;
    m.lastDirect = 0;
    m.probingSince = 0;
    this.setPath(m, 'none', null);
  }

  /**
   * Tell every member we have a direct path to that this node is stopping (a clean disconnect shows
   * as offline on their side at once). Unauthenticated beyond the network key, like hellos: a
   * member could fake it, and the real node's next hello undoes it.
   */
  leave(): void {
    this.left = true;
    for (const m of this.members.values())
      if (m.direct && !m.removed && this.now - m.lastDirect <= MESH_PATH_TIMEOUT)
        this.send({ t: 'bye' }, m.direct);
  }

  private left = false;

  private setPath(m: Member, kind: PathKind, via: string | null): void {
    if (m.path === kind && m.relay === via) return;
    m.path = kind;
    m.relay = via;
    const ep = kind === 'direct' && m.direct ? endpointText(m.direct) : null;
    this.onEvent({ type: 'path', key: m.key, name: m.rec?.n ?? '', kind, endpoint: ep, via });
  }

  // ---- relaying ------------------------------------------------------------------------------

  /** Send a WireGuard datagram through the relay named in `to` (the Device's relayed endpoint). */
  sendRelayed(buf: Buffer, start: number, len: number, to: Endpoint): void {
    const out = Buffer.allocUnsafe(RELAY_HEADER_SIZE + len);
    out[0] = MSG_RELAY_TO;
    out[1] = out[2] = out[3] = 0;
    out.set(to.relayTo!, 4);
    buf.copy(out, RELAY_HEADER_SIZE, start, start + len);
    this.io.send(out, 0, out.length, { address: to.address, port: to.port });
  }

  private handleRelay(buf: Buffer, len: number, from: Endpoint): void {
    if (len < RELAY_HEADER_SIZE + 1) return;
    const inner = buf[RELAY_HEADER_SIZE];
    if (inner < MSG_INITIATION || inner > MSG_TRANSPORT) return; // only WireGuard messages travel relayed
    // The datagram must come from a member's confirmed direct endpoint.
    const senderKey = this.byEndpoint.get(endpointText(from));
    const sender = senderKey ? this.members.get(senderKey) : undefined;
    if (!sender?.rec || this.now - sender.lastDirect > MESH_PATH_TIMEOUT) {
      this.counters.relayDropped++;
      return;
    }
    const otherKey = b64(buf.subarray(4, RELAY_HEADER_SIZE));
    if (buf[0] === MSG_RELAY_TO) {
      const dst = this.members.get(otherKey);
      if (!this.opts.relay || !dst?.rec || !dst.direct || this.now - dst.lastDirect > MESH_PATH_TIMEOUT) {
        this.counters.relayDropped++;
        return;
      }
      const out = Buffer.allocUnsafe(len); // the receive buffer is reused; the send may be queued
      buf.copy(out, 0, 0, len);
      out[0] = MSG_RELAY_FROM;
      out.set(sender.keyBytes, 4);
      this.counters.relayed++;
      this.io.send(out, 0, len, dst.direct);
    } else {
      if (!sender.rec.rl) return;
      const src = this.members.get(otherKey);
      if (!src?.rec) return;
      const payload = buf.subarray(RELAY_HEADER_SIZE, len);
      this.device.handleDatagram(payload, payload.length, {
        address: from.address,
        port: from.port,
        relayTo: src.keyBytes,
      });
    }
  }

  // ---- periodic work -------------------------------------------------------------------------

  /** Periodic work: bootstrap, probes, keepalives, relay fallback, record refresh. */
  tick(): void {
    if (this.wallNow - this.selfRecord.v > MESH_RECORD_REFRESH) this.resign();
    this.refreshAnchors();
    if (this.lanTargets.length && this.now >= this.nextLan && !this.removedSelf) {
      this.nextLan = this.now + MESH_LAN_INTERVAL;
      for (const t of this.lanTargets) this.sendHello(t, false, true, true);
    }
    if (this.now >= this.nextBootstrap) {
      let direct = 0;
      for (const m of this.members.values()) if (m.direct && m.rec) direct++;
      this.nextBootstrap = this.now + (direct ? MESH_BOOTSTRAP_REFRESH : MESH_BOOTSTRAP_RETRY);
      // A large mesh that reaches several members needs no reminder of the bootstrap nodes (which
      // would otherwise hear from every member every minute).
      if (!(this.onDemand && direct >= 2))
        for (const b of this.opts.bootstrap) this.sendHello(b, false, true);
    }
    // The per-member pass (keepalives, timeouts, probes, relay fallback) runs every
    // MESH_SCAN_INTERVAL: finer timing buys nothing and a large mesh has thousands of members.
    if (this.now - this.lastScan < MESH_SCAN_INTERVAL) return;
    this.lastScan = this.now;
    // Push, not only pull: a change reaches our neighbours within a second (they ask for what they
    // lack), so news crosses a large mesh in a few hops instead of a few keepalive periods.
    const announce = this.announceDue && this.now - this.lastAnnounce >= MESH_SYNC_INTERVAL;
    if (announce) {
      this.announceDue = false;
      this.lastAnnounce = this.now;
    }
    const full = !this.onDemand || this.now - this.lastFullScan >= MESH_IDLE_SCAN;
    if (full) this.lastFullScan = this.now;
    for (const m of full ? this.members.values() : this.hot) {
      if (m.removed) {
        this.hot.delete(m);
        continue;
      }
      if (
        (m.rec && m.rec.v < this.wallNow - MESH_RECORD_MAX_AGE) ||
        (!m.rec && this.now - m.lastDirect > MESH_PATH_TIMEOUT)
      ) {
        this.forget(m);
        continue;
      }
      const peer = m.rec ? this.device.getPeer(m.key) : undefined;
      if (peer) {
        const traffic = peer.stats.rxPackets + peer.stats.txPackets;
        if (traffic !== m.lastTraffic) {
          m.lastTraffic = traffic;
          m.lastActive = this.now;
          this.hot.add(m);
        }
      }
      const wanted = this.wanted(m);
      if (m.direct && this.now - m.lastDirect > MESH_PATH_TIMEOUT) this.lostMember(m);
      if (
        m.direct &&
        m.syncPending &&
        this.now - m.lastSync >= MESH_SYNC_INTERVAL &&
        this.now - this.lastDig >= MESH_DIG_GAP
      ) {
        this.lastDig = this.now;
        m.syncPending = false;
        m.lastSync = this.now;
        this.computeDigests();
        this.send({ t: 'dig', b: this.digestsB64 }, m.direct);
      }
      if (m.direct) {
        // Keepalives for the paths we want; news (announce) to every member we have a path with.
        // (Measured at 1,000 nodes: news to only a few of them, or unanswered news, left records
        // unconverged for 19 s or over a minute instead of seconds: the answer carries the other
        // side's digest, so both sides compare.)
        if (announce || (wanted && this.now - Math.max(m.lastHelloSent, m.lastDirect) >= MESH_PATH_KEEPALIVE))
          this.sendHello(m.direct, false, false);
      } else if (m.rec && wanted) {
        if (!m.probingSince) this.startProbing(m);
        if (this.now >= m.nextProbe) this.probe(m);
        else if (!(this.hard && m.hard)) this.askIntroduction(m);
        if (m.path !== 'relayed' && (this.now - m.probingSince >= MESH_RELAY_AFTER || this.directUnlikely(m)))
          this.tryRelay(m);
        else if (m.path === 'relayed' && m.relay && peer && !peer.current && peer.staged.length > 0) {
          // Packets wait and no handshake got through this relay (gone, or it does not reach the
          // member): try the next one.
          if (this.now - m.relaySince >= MESH_RELAY_RETRY) {
            m.badRelays = withKey(m.badRelays, m.relay);
            this.tryRelay(m);
          }
        } else if (peer?.current) m.badRelays = NO_KEYS;
      } else if (m.rec && m.probingSince) {
        // Idle and not an anchor: stop probing (a relayed path stays usable; traffic wakes it up).
        m.probingSince = 0;
      }
      // A large mesh forgets the WireGuard state of members idle for long (it comes back on demand).
      if (peer && !wanted && this.now - m.lastActive > MESH_PEER_IDLE_DROP) {
        this.device.removePeer(m.key);
        if (m.path === 'relayed') this.setPath(m, 'none', null);
      }
      if (
        !m.direct &&
        !m.probingSince &&
        !wanted &&
        m.path === 'none' &&
        !m.syncPending &&
        !this.device.getPeer(m.key)
      )
        this.hot.delete(m);
      else this.hot.add(m);
    }
  }

  private forget(m: Member): void {
    this.hot.delete(m);
    if (m.rec) {
      this.recordCount--;
      this.groupRemove(m.key);
    }
    if (m.direct) this.byEndpoint.delete(endpointText(m.direct));
    if (m.digX && !this.digestAll) this.xorEntry(m.keyBytes, m.digX);
    m.digV = -1;
    m.digX = null;
    this.members.delete(m.key);
    this.bucketKeys[bucketOf(m.keyBytes)].delete(m.key);
    this.device.removePeer(m.key);
    this.index.removeValue(m.key);
    this.invalidate(m.key);
  }

  private startProbing(m: Member): void {
    this.hot.add(m);
    m.probingSince = this.now;
    m.nextProbe = this.now;
    m.probes = 0;
    m.wantTurn = 0;
  }

  /** Hello to every endpoint we know of `m`; ask members that reach it to introduce us. */
  private probe(m: Member): void {
    if (!m.rec) return;
    const age = this.now - m.probingSince;
    // Fast at first, then slower and slower (15 s, 30 s, ... 5 min): a pair behind symmetric NATs
    // stays relayed, and probing it often would only cost traffic.
    const slow = slowProbeGap(age);
    // Both behind symmetric NATs: no probe can open a path; try again rarely (networks change).
    const hopeless = this.hard && m.hard;
    // The fast series doubles its gap (0.5, 1, 2, 4 s): the first probes after an introduction meet
    // the other side's (a lost one is soon repeated), and a pair that did not open in the first
    // seconds will not open by probing ten times more.
    const fast = Math.min(MESH_PROBE_FAST * 2 ** m.probes, MESH_PROBE_FAST * 8);
    m.nextProbe = this.now + (hopeless ? 300_000 : age < MESH_PROBE_FAST_FOR ? fast : slow);
    const targets: Endpoint[] = [...m.extra];
    for (const t of m.rec.e) {
      const e = parseEndpointText(t);
      if (e && !targets.some((x) => sameEndpoint(x, e))) targets.push(e);
    }
    // Our record rides on the first two probes only (the member usually has it already, from an
    // introduction or the record sync; a probe that opens the path gets it answered anyway).
    for (const t of targets) this.sendHello(t, false, m.probes < 2);
    m.probes++;
    if (!hopeless) this.askIntroduction(m);
  }

  /**
   * Ask a member with a direct path to us that may reach `m` to introduce us (every 2 s while the
   * fast probes last, then as rarely as the slow ones). Called by probe() and by the scan, so that a
   * request that found no introducer goes out as soon as a path to one opens (activate() makes
   * paths to the target's anchors at the same time), not a whole round later.
   */
  private askIntroduction(m: Member): void {
    const age = this.now - m.probingSince;
    const gap = age < MESH_PROBE_FAST_FOR ? 2_000 : slowProbeGap(age);
    if (this.now - m.lastWant < gap) return;
    const vias = this.introducers(m);
    if (!vias.length) return;
    m.lastWant = this.now;
    // One introducer per round, taking turns among the first three (each answers both sides: two
    // intros per want); the first round asks two, so that one lost message costs no round.
    const n = Math.min(vias.length, 3);
    const first = m.wantTurn === 0;
    this.send({ t: 'want', peer: m.key }, vias[m.wantTurn++ % n].direct!);
    if (first && n > 1) this.send({ t: 'want', peer: m.key }, vias[m.wantTurn++ % n].direct!);
  }

  /** Members with a direct path to us that may reach `m`: those that said so first, then relays, then any. */
  private introducers(m: Member): Member[] {
    const out: Member[] = [];
    const add = (x: Member | undefined) => {
      if (x?.direct && x !== m && !out.includes(x)) out.push(x);
    };
    for (const k of m.reachedBy) add(this.members.get(k));
    if (this.onDemand) {
      // A large mesh: the member's anchors keep paths to it (activate() opens ours to them). Any
      // relay or the bootstrap node only when none answers within a second (they may not reach it).
      for (const k of this.anchorsOf(m.key)) add(this.members.get(k));
      if (out.length || this.now - m.probingSince < 1000) return out;
    }
    for (const x of this.members.values()) if (x.rec?.rl) add(x);
    for (const b of this.opts.bootstrap) add(this.members.get(this.byEndpoint.get(endpointText(b)) ?? ''));
    return out;
  }

  /**
   * No probe is likely to open a direct path soon: one side's NAT maps per destination and the other
   * side sits behind a NAT too (its filter drops the first side's probes from unannounced ports).
   * Such a pair takes the relay at once instead of after MESH_RELAY_AFTER; probing goes on, and a
   * direct path that opens anyway takes over without a new handshake.
   */
  private directUnlikely(m: Member): boolean {
    if (this.hard && m.hard) return true;
    if (m.hard)
      return (
        !this.publicEndpoint || !this.localEndpoints.some((e) => endpointText(e) === this.publicEndpoint)
      );
    if (this.hard) return !!m.rec?.e.some((t) => isNattedAddress(parseEndpointText(t)?.address ?? ''));
    return false;
  }

  private tryRelay(m: Member): void {
    const peer = this.device.getPeer(m.key);
    if (!peer) return;
    let best: Member | null = null;
    // Its home relays keep a path to it; then relays that said they reach it; then any relay.
    const candidates = this.onDemand ? [...this.anchorsOf(m.key), ...m.reachedBy] : m.reachedBy;
    const usable = (r: Member | undefined): r is Member =>
      !!r && r !== m && !!r.rec?.rl && !!r.direct && !m.badRelays.has(r.key);
    for (const k of candidates) {
      const r = this.members.get(k);
      if (usable(r)) {
        best = r;
        break;
      }
    }
    if (!best) {
      for (const r of this.members.values()) {
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
    m.relaySince = this.now;
    this.device.setEndpoint(peer, {
      address: best.direct.address,
      port: best.direct.port,
      relayTo: m.keyBytes,
    });
    this.setPath(m, 'relayed', best.key);
  }

  // ---- outgoing ------------------------------------------------------------------------------

  /** `broadcast`: to a LAN broadcast address, where "seen at" would be meaningless (left empty). */
  private sendHello(to: Endpoint, reply: boolean, withRecord: boolean, broadcast = false): void {
    this.computeDigests();
    const key = this.byEndpoint.get(endpointText(to));
    if (key) {
      const m = this.members.get(key);
      if (m) {
        m.lastHelloSent = this.now;
        if (!reply && !broadcast && (!m.pingAt || this.now - m.pingAt >= 10_000)) m.pingAt = this.now;
      }
    }
    this.send(
      {
        t: 'hello',
        d: this.rootDigest,
        ...(reply ? { r: 1 as const } : {}),
        ...(withRecord ? { rec: this.selfRecord } : {}),
      },
      to,
      broadcast,
    );
  }

  private envelope(body: Record<string, unknown>, to: Endpoint, broadcast: boolean): Record<string, unknown> {
    return {
      ...body,
      ts: this.wallNow,
      key: this.selfKey,
      seen: broadcast ? '' : endpointText(to),
      ...(this.hard ? { h: 1 } : {}),
    };
  }

  /** `member`: one more member of the message, as JSON text (`"name":value`). */
  private send(body: Record<string, unknown>, to: Endpoint, broadcast = false, member?: string): void {
    let json = JSON.stringify(this.envelope(body, to, broadcast));
    if (member) json = `${json.slice(0, -1)},${member}}`;
    // One buffer: header, nonce, the text (encrypted in place), the tag.
    const len = json.length <= MESH_MAX_MESSAGE ? Buffer.byteLength(json) : MESH_MAX_MESSAGE;
    const total = HEADER + NONCE + len + TAG;
    if (total > MESH_MAX_MESSAGE) {
      this.counters.oversize++; // a bug if it happens: the receiver would drop it
      return;
    }
    const out = Buffer.allocUnsafe(total);
    out[0] = MSG_MESH;
    out[1] = out[2] = 0;
    out[3] = 2;
    out.set(this.opts.random(NONCE), HEADER);
    out.write(json, HEADER + NONCE);
    xsealInPlace(
      this.opts.network.discoveryKey,
      out.subarray(HEADER, HEADER + NONCE),
      out,
      HEADER + NONCE,
      HEADER + NONCE + len,
      out.subarray(0, HEADER),
    );
    this.counters.sent++;
    this.counters.sentBytes += total;
    this.io.send(out, 0, total, to);
  }

  private open(b: Uint8Array): Wire | null {
    if (b.length < HEADER + NONCE + TAG || b.length > MESH_MAX_MESSAGE || b[0] !== MSG_MESH || b[3] !== 2)
      return null;
    const nonce = b.subarray(HEADER, HEADER + NONCE);
    const n = xopenInto(
      this.opts.network.discoveryKey,
      nonce,
      b.subarray(HEADER + NONCE),
      b.subarray(0, HEADER),
      openScratch,
    );
    if (n < 0) return null;
    const nonceKey = b64(nonce);
    if (this.nonces.has(nonceKey) || this.oldNonces.has(nonceKey)) {
      this.counters.replays++;
      return null;
    }
    let msg: Wire;
    try {
      msg = JSON.parse(openScratch.toString('utf8', 0, n)) as Wire;
    } catch {
      return null;
    }
    if (!validWire(msg, this.wallNow)) return null;
    if (this.nonces.size >= MESH_NONCE_CACHE) {
      this.oldNonces = this.nonces;
      this.nonces = new Set();
    }
    this.nonces.add(nonceKey);
    return msg;
  }
}

/** Probe gap after the fast series: MESH_PROBE_SLOW, doubling every minute, at most 5 minutes. */
function slowProbeGap(probingFor: number): number {
  return Math.min(
    MESH_PROBE_SLOW * 2 ** Math.floor(Math.max(0, probingFor - MESH_PROBE_FAST_FOR) / 60_000),
    300_000,
  );
}

/** Position of a key on the ring: its first 32 bits (keys are uniformly random). */
function ringPos(keyB64: string): number {
  const b = Buffer.from(keyB64.slice(0, 8), 'base64');
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

/** A 32-bit finaliser (MurmurHash3's fmix32): rendezvous scores that spread well. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Keep the `max` entries with the smallest scores (ties by key) in a small sorted array. */
function keepSmallest(list: [number, string][], score: number, key: string, max: number): void {
  if (list.length === max) {
    const last = list[max - 1];
    if (score > last[0] || (score === last[0] && key >= last[1])) return;
    list.pop();
  }
  let i = list.length;
  while (i > 0 && (list[i - 1][0] > score || (list[i - 1][0] === score && list[i - 1][1] > key))) i--;
  list.splice(i, 0, [score, key]);
}

function isBucket(x: unknown): boolean {
  return Number.isInteger(x) && (x as number) >= 0 && (x as number) < MESH_BUCKETS;
}

/** Shape checks of a decrypted discovery message (records are checked again, with signatures, on use). */
function validWire(m: Wire, wallNow: number): boolean {
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.ts !== 'number' ||
    Math.abs(m.ts - wallNow) > MESH_CLOCK_SKEW ||
    typeof m.key !== 'string' ||
    !KEY_RE.test(m.key) ||
    typeof m.seen !== 'string'
  )
    return false;
  switch (m.t) {
    case 'hello':
      return typeof m.d === 'string' && (m.rec === undefined || typeof m.rec === 'object');
    case 'dig':
      return typeof m.b === 'string' && m.b.length <= 512;
    case 'sum':
      return (
        Array.isArray(m.p) &&
        m.p.length <= 64 &&
        m.p.every(
          (x) =>
            Array.isArray(x) &&
            x.length === 4 &&
            isBucket(x[0]) &&
            typeof x[1] === 'string' &&
            x[1].length <= 44 &&
            typeof x[2] === 'string' &&
            x[2].length <= 44 &&
            Array.isArray(x[3]) &&
            x[3].length <= 64 &&
            x[3].every(
              (y) =>
                typeof y === 'string' &&
                SUM_ENTRY_RE.test(y) &&
                Number.isSafeInteger(Number.parseInt(y.slice(SUM_PREFIX), 36)),
            ),
        )
      );
    case 'sub':
      return (
        Array.isArray(m.p) &&
        m.p.length <= SUB_PER_MESSAGE &&
        m.p.every(
          (x) =>
            Array.isArray(x) &&
            x.length === 2 &&
            isBucket(x[0]) &&
            typeof x[1] === 'string' &&
            x[1].length === ((SUB_PARTS * SUB_DIGEST + 2) / 3) * 4,
        )
      );
    case 'recs':
      return Array.isArray(m.recs) && m.recs.length <= 16;
    case 'want':
      return typeof m.peer === 'string' && KEY_RE.test(m.peer);
    case 'intro':
      return typeof m.rec === 'object' && m.rec !== null && (m.at === null || typeof m.at === 'string');
    case 'bye':
      return true;
    default:
      return false;
  }
}
