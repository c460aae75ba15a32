// Invitations: a one-line join code that lets a new machine join a network without anyone copying
// the network secret by hand.
//
// The code carries the network name, a random 16-byte token, an expiry time and endpoints of the
// inviting node and of other members, plus a checksum so a damaged copy is recognised as such. The
// token never travels on the wire: the new node sends a join request sealed (XChaCha20-Poly1305)
// under a key derived from it, and a member holding that invitation answers with the network secret
// sealed under the same key. The derived key (never the token) is shared with the members in signed
// facts (mesh/invitations.ts), so any online member answers, not only the inviter. A sender without
// a valid code gets no answer at all (stealth, like every PeerMesh message), and a request is padded
// to be larger than its answer, so a replayed or spoofed request can never make a node send more
// than it received.
//
// An invitation admits one machine unless made for more (`uses`), and can be revoked. A joining
// machine names its attempt with a random id, the same in every retry: a retry (its answer was lost)
// is answered again without counting as another use, wherever it is answered (the uses the members
// share are attempt ids), and a second machine is refused once the uses are spent. (A stranger
// replaying a captured request gets an answer it cannot open.)
//
// Sans-IO: the caller passes time in and sends the returned datagram.

import { INVITE_MAX_USES, JOIN_WIRE_VERSION, MESH_MAX_MESSAGE, MSG_JOIN } from './constants';
import { Blake2s } from './crypto/blake2s';
import type { Endpoint } from './device';
import { formatIp, parseCidr } from './ip';
import { stripControl } from './names';
import { openJson, sealJson } from './sealed';

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Where join messages are decrypted (one buffer: they are read at once). */
const openScratch = new Uint8Array(MESH_MAX_MESSAGE);
/** Join requests are padded to this size; answers must be smaller. */
export const JOIN_REQUEST_SIZE = 1000;
const CODE_PREFIX = 'pm1-';
const TOKEN = 16;
/** Expired invitations are kept this long (s) so that their use gets a clear "expired" answer. */
const EXPIRED_KEPT = 7 * 86400;
/** A join attempt's id (base64 of 12 random bytes): retries of one attempt are one use. */
const JOIN_ID_RE = /^[A-Za-z0-9+/]{16}$/;
const INVITE_ID_RE = /^[0-9a-f]{8}$/;
/** Time (ms of each second) a node spends reading join datagrams at most (JoinBudget). */
export const JOIN_MS_PER_SECOND = 100;
/** A member other than the inviter answers a new attempt this long (s) after its first request. */
const DEFER_SECONDS = 0.25;
/** Attempts seen (defer) are remembered this long (s; a joiner tries for 8 s), this many at most. */
const ATTEMPT_KEPT = 60;
const ATTEMPTS_SEEN = 1024;

export class InviteCodeError extends Error {}

export interface InviteCode {
  network: string;
  token: Uint8Array;
  /** Unix time in seconds after which the invitation is refused. */
  expires: number;
  endpoints: Endpoint[];
}

function blake(label: string, ...parts: Uint8Array[]): Uint8Array {
  const h = new Blake2s(32);
  h.update(enc.encode(label));
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The key join messages of an invitation are sealed with. */
export function inviteKey(token: Uint8Array): Uint8Array {
  return blake('peermesh invite v1', token);
}

function base64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function encodeInviteCode(c: InviteCode): string {
  const name = enc.encode(c.network);
  const parts: number[] = [1, ...c.token];
  parts.push(
    (c.expires >>> 24) & 0xff,
    (c.expires >>> 16) & 0xff,
    (c.expires >>> 8) & 0xff,
    c.expires & 0xff,
  );
  parts.push(name.length, ...name, Math.min(c.endpoints.length, 8));
  for (const e of c.endpoints.slice(0, 8)) {
    const ip = parseCidr(e.address)!;
    parts.push(ip.bytes.length === 4 ? 4 : 6, ...ip.bytes, e.port >> 8, e.port & 0xff);
  }
  const body = Uint8Array.from(parts);
  const sum = blake('peermesh code checksum', body).subarray(0, 4);
  const all = new Uint8Array(body.length + 4);
  all.set(body);
  all.set(sum, body.length);
  return CODE_PREFIX + base64url(all);
}

/** Decode a join code; surrounding whitespace and line breaks from copy-paste are ignored. */
export function decodeInviteCode(text: string): InviteCode {
  const s = text.replace(/\s+/g, '');
  if (!s.startsWith(CODE_PREFIX) || !/^[A-Za-z0-9_-]+$/.test(s.slice(CODE_PREFIX.length)))
    throw new InviteCodeError('this is not a PeerMesh join code (it should start with "pm1-")');
  const all = Buffer.from(s.slice(CODE_PREFIX.length).replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  const bad = () => new InviteCodeError('this join code is damaged (was it copied completely?)');
  if (all.length < 1 + TOKEN + 4 + 1 + 1 + 4) throw bad();
  const body = all.subarray(0, all.length - 4);
  const sum = blake('peermesh code checksum', body).subarray(0, 4);
  if (Buffer.compare(Buffer.from(sum), all.subarray(all.length - 4)) !== 0) throw bad();
  if (body[0] !== 1) throw new InviteCodeError('this join code is from a newer PeerMesh; update this one');
  let o = 1;
  const token = Uint8Array.from(body.subarray(o, o + TOKEN));
  o += TOKEN;
  const expires = body.readUInt32BE(o);
  o += 4;
  const nameLen = body[o++];
  if (o + nameLen + 1 > body.length) throw bad();
  const network = dec.decode(body.subarray(o, o + nameLen));
  o += nameLen;
  const count = body[o++];
  const endpoints: Endpoint[] = [];
  for (let i = 0; i < count; i++) {
    const fam = body[o++];
    const n = fam === 4 ? 4 : fam === 6 ? 16 : -1;
    if (n < 0 || o + n + 2 > body.length) throw bad();
    endpoints.push({ address: formatIp(body.subarray(o, o + n)), port: body.readUInt16BE(o + n) });
    o += n + 2;
  }
  if (o !== body.length) throw bad();
  return { network, token, expires, endpoints };
}

/** A join message: sealed JSON (sealed.ts) of type MSG_JOIN, version 1; a request padded to `padTo`. */
function sealMsg(key: Uint8Array, random: (n: number) => Uint8Array, obj: object, padTo = 0): Buffer {
  return sealJson(key, MSG_JOIN, JOIN_WIRE_VERSION, JSON.stringify(obj), random, { padTo })!;
}

function openMsg(key: Uint8Array, b: Uint8Array): Record<string, unknown> | null {
  const n = openJson(key, MSG_JOIN, JOIN_WIRE_VERSION, b, MESH_MAX_MESSAGE, openScratch);
  if (n < 0) return null;
  try {
    const v = JSON.parse(dec.decode(openScratch.subarray(0, n)));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/** A join attempt's id: the same in every retry of one attempt (see the header). */
export function joinAttemptId(random: (n: number) => Uint8Array): string {
  return Buffer.from(random(12)).toString('base64');
}

/** What the new node sends to the code's endpoints (`id`: its attempt, joinAttemptId()). */
export function joinRequest(
  code: InviteCode,
  name: string,
  random: (n: number) => Uint8Array,
  id?: string,
): Buffer {
  const body = { t: 'join', name: name.slice(0, 63), ...(id ? { id } : {}) };
  return sealMsg(inviteKey(code.token), random, body, JOIN_REQUEST_SIZE);
}

export type JoinAnswer =
  | {
      ok: true;
      network: string;
      secret: Uint8Array;
      bootstrap: string[];
      /** The secret the members use now, when the network moved on after removals (mesh/epochs.ts). */
      epoch?: { n: number; secret: string };
    }
  | { ok: false; reason: string };

/** Read a member's answer (null: not an answer to this code). */
export function readJoinAnswer(code: InviteCode, b: Uint8Array): JoinAnswer | null {
  const m = openMsg(inviteKey(code.token), b);
  if (!m) return null;
  if (m.t === 'refused' && typeof m.reason === 'string')
    return { ok: false, reason: stripControl(m.reason).slice(0, 200) };
  if (
    m.t === 'welcome' &&
    typeof m.network === 'string' &&
    typeof m.secret === 'string' &&
    Array.isArray(m.bootstrap) &&
    m.bootstrap.every((x) => typeof x === 'string')
  )
    return {
      ok: true,
      network: m.network,
      secret: Buffer.from(m.secret, 'base64'),
      bootstrap: (m.bootstrap as string[]).slice(0, 8).map(stripControl),
      ...(Number.isSafeInteger(m.ep) &&
      (m.ep as number) > 0 &&
      typeof m.cur === 'string' &&
      Buffer.from(m.cur, 'base64').length === 32
        ? { epoch: { n: m.ep as number, secret: m.cur } }
        : {}),
    };
  return null;
}

export interface StoredInvite {
  /** inviteKey(token), base64: what the node needs to answer; the token itself is not kept. */
  key: string;
  expires: number;
  created: number;
  /** Machines admitted so far. */
  uses: number;
  /** Machines it may admit; absent or 0: any number until it expires (invitations made before this existed). */
  maxUses?: number;
  /** The attempt ids (joinAttemptId) that were admitted: their retries are answered again. */
  usedBy?: string[];
  /** Revoked: refused from now on (kept until it would have expired, for a clear answer). */
  revoked?: boolean;
}

/** An invitation as `peermesh invite --list` and the Control API show it (no key, no token). */
export interface InviteInfo {
  /** Short public name of the invitation (from its key), for revoking it. */
  id: string;
  /** Unix seconds. */
  created: number;
  expires: number;
  uses: number;
  /** 0: any number. */
  maxUses: number;
  state: 'open' | 'used' | 'expired' | 'revoked';
}

/** The short public name of an invitation: 8 hex digits of a hash of its key (not of the token). */
export function inviteId(keyB64: string): string {
  return Buffer.from(blake('peermesh invite id v1', Buffer.from(keyB64, 'base64')))
    .toString('hex')
    .slice(0, 8);
}

/** An invitation the members share (mesh/invitations.ts), as answering it needs. */
export interface SharedInvite {
  id: string;
  key: string;
  /** The inviter's key. */
  by: string;
  /** Made by this node. */
  mine: boolean;
  created: number;
  expires: number;
  maxUses: number;
  /** Distinct attempt ids admitted, by any member. */
  usedBy: ReadonlySet<string>;
  /** Revoked by a member. */
  revoked: boolean;
  /** Made in an earlier epoch of the network secret, or its inviter was removed: refused as revoked. */
  void: boolean;
}

/** Where shared invitations live: the mesh (Mesh.createInvite and the rest). */
export interface SharedInvites {
  /** Publish an invitation; its id, or null when refused (too many open). */
  create(key: string, createdSec: number, expiresSec: number, maxUses: number): string | null;
  use(id: string, attempt: string): void;
  revoke(id: string): boolean;
  view(): SharedInvite[];
}

/** The answering side: invitations we hold, answering join requests. */
export class Invites {
  /** Our own invitations kept by this node only (those made before invitations were shared). */
  private list: StoredInvite[] = [];
  /** Invitations shared with the members (null: none, every invitation is local as before). */
  shared: SharedInvites | null = null;
  /** New join attempts for other members' invitations: when each was first seen (s), oldest first. */
  private readonly firstSeen = new Map<string, number>();
  /**
   * The network secret's current epoch after removals (mesh/epochs.ts): answers carry it, so a new
   * member starts on the secret the members use. Null at epoch 0.
   */
  private epoch: { n: number; secret: Uint8Array } | null = null;

  constructor(
    private readonly network: string,
    private readonly secret: Uint8Array,
    private readonly random: (n: number) => Uint8Array,
  ) {}

  /** Open invitations, for saving (mode 0600: each is as good as the secret until it expires). */
  get stored(): StoredInvite[] {
    return this.list;
  }

  load(list: unknown, nowSec: number): void {
    if (!Array.isArray(list)) return;
    this.list = list
      .filter(
        (x): x is StoredInvite =>
          typeof x === 'object' &&
          x !== null &&
          typeof x.key === 'string' &&
          Buffer.from(x.key, 'base64').length === 32 &&
          Number.isInteger(x.expires) &&
          x.expires > nowSec - EXPIRED_KEPT,
      )
      .map((x) => ({
        key: x.key,
        expires: x.expires,
        created: Number.isFinite(x.created) ? x.created : 0,
        uses: Number.isInteger(x.uses) && x.uses >= 0 ? x.uses : 0,
        // A malformed limit counts as spent (never as "any number").
        ...(x.maxUses === undefined
          ? {}
          : { maxUses: Number.isInteger(x.maxUses) && x.maxUses >= 0 ? x.maxUses : 1 }),
        usedBy: Array.isArray(x.usedBy)
          ? x.usedBy.filter((u) => typeof u === 'string' && JOIN_ID_RE.test(u)).slice(-INVITE_MAX_USES)
          : [],
        ...(x.revoked === true ? { revoked: true } : {}),
      }));
  }

  /** A new invitation valid for `seconds`, for `maxUses` machines; returns its code and id. */
  create(
    seconds: number,
    nowSec: number,
    endpoints: Endpoint[],
    maxUses = 1,
  ): { code: string; expires: number; id: string } {
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > INVITE_MAX_USES)
      throw new RangeError(`uses must be a whole number from 1 to ${INVITE_MAX_USES}`);
    const token = this.random(TOKEN);
    const expires = Math.floor(nowSec + seconds);
    this.list = this.list.filter((x) => x.expires > nowSec - EXPIRED_KEPT);
    const key = Buffer.from(inviteKey(token)).toString('base64');
    if (this.shared) {
      if (this.shared.create(key, Math.floor(nowSec), expires, maxUses) === null)
        throw new RangeError(
          'too many invitations: a member may have 16 open, and a network keeps 64 (used, revoked and expired ones too, until 7 days after they expire); revoke some of yours or wait',
        );
    } else {
      this.list.push({ key, expires, created: Math.floor(nowSec), uses: 0, maxUses, usedBy: [] });
    }
    return {
      code: encodeInviteCode({ network: this.network, token, expires, endpoints }),
      expires,
      id: inviteId(key),
    };
  }

  /** Every invitation still kept (open, used up, expired or revoked), oldest first. */
  overview(nowSec: number): InviteInfo[] {
    const local: InviteInfo[] = this.list.map((x) => ({
      id: inviteId(x.key),
      created: x.created,
      expires: x.expires,
      uses: x.uses,
      maxUses: x.maxUses ?? 0,
      state: x.revoked
        ? 'revoked'
        : x.expires <= nowSec
          ? 'expired'
          : x.maxUses && x.uses >= x.maxUses
            ? 'used'
            : 'open',
    }));
    const shared: InviteInfo[] = (this.shared?.view() ?? []).map((x) => ({
      id: x.id,
      created: x.created,
      expires: x.expires,
      uses: x.usedBy.size,
      maxUses: x.maxUses,
      state: x.revoked
        ? 'revoked'
        : x.expires <= nowSec
          ? 'expired'
          : x.usedBy.size >= x.maxUses
            ? 'used'
            : x.void
              ? 'revoked'
              : 'open',
    }));
    return [...local, ...shared].sort((a, b) => a.created - b.created);
  }

  /** The network moved to a new secret (epoch n): answers carry it from now on. */
  setEpoch(n: number, secret: Uint8Array | null): void {
    this.epoch = n > 0 && secret ? { n, secret } : null;
  }

  /**
   * Revoke every open invitation (the network secret changed after a removal: a code given out
   * before may be in the removed person's hands). Shared ones made in an earlier epoch are refused
   * by every member already (SharedInvite.void); ours of them are revoked explicitly too, so they
   * stay revoked in every listing. Returns how many were open.
   */
  revokeOpen(nowSec: number): number {
    let n = 0;
    for (const x of this.list)
      if (!x.revoked && x.expires > nowSec && !(x.maxUses && x.uses >= x.maxUses)) {
        x.revoked = true;
        n++;
      }
    for (const x of this.shared?.view() ?? [])
      if (
        x.mine &&
        !x.revoked &&
        x.expires > nowSec &&
        x.usedBy.size < x.maxUses &&
        this.shared!.revoke(x.id)
      )
        n++;
    return n;
  }

  /** Revoke an invitation by its id: refused from now on. False when no invitation has that id. */
  revoke(id: string): boolean {
    if (!INVITE_ID_RE.test(id)) return false;
    const inv = this.list.find((x) => inviteId(x.key) === id);
    if (!inv) return this.shared?.revoke(id) ?? false;
    inv.revoked = true;
    return true;
  }

  /**
   * Whether to stay silent to a new join attempt for another member's invitation: a member other
   * than the inviter admits a machine only from the attempt's second round of requests on
   * (DEFER_SECONDS after the first; the joiner sends every 300 ms to every endpoint of the code).
   * While the inviter answers, the joiner stops before that, so only the inviter counts uses (no
   * two members admit at once); when it is offline or unreachable, the others answer 0.3 s later.
   */
  private defer(attempt: string | null, nowSec: number): boolean {
    if (attempt === null) return false; // an older joiner: no rounds to tell apart
    const seen = this.firstSeen.get(attempt);
    if (seen === undefined || nowSec - seen > ATTEMPT_KEPT) {
      this.firstSeen.delete(attempt);
      if (this.firstSeen.size >= ATTEMPTS_SEEN) this.firstSeen.delete(this.firstSeen.keys().next().value!);
      this.firstSeen.set(attempt, nowSec);
      return true;
    }
    return nowSec - seen < DEFER_SECONDS;
  }

  /**
   * A datagram of the join type. Returns the answer to send back, or null (not sealed with any
   * invitation's key we hold: dropped without a word). Our own invitations from before they were
   * shared are tried first, then those shared by the members (ours included).
   */
  handle(
    buf: Uint8Array,
    nowSec: number,
    bootstrap: string[],
  ): { reply: Buffer; name: string; accepted: boolean; counted: boolean; reason?: string } | null {
    for (const inv of this.list) {
      inv.usedBy ??= [];
      const usedBy = inv.usedBy;
      const r = this.answer(buf, nowSec, bootstrap, {
        key: inv.key,
        revoked: !!inv.revoked,
        expires: inv.expires,
        full: !!inv.maxUses && inv.uses >= inv.maxUses,
        usedBy: (a) => usedBy.includes(a),
        count: (attempt) => {
          inv.uses++;
          if (attempt) usedBy.push(attempt);
          if (usedBy.length > INVITE_MAX_USES) usedBy.shift();
        },
      });
      if (r !== undefined) return r;
    }
    const shared = this.shared;
    for (const inv of shared?.view() ?? []) {
      const r = this.answer(buf, nowSec, bootstrap, {
        key: inv.key,
        revoked: inv.revoked || inv.void,
        expires: inv.expires,
        full: inv.usedBy.size >= inv.maxUses,
        usedBy: (a) => inv.usedBy.has(a),
        // A request without an attempt id (an older joiner) is one use of its own.
        count: (attempt) => shared!.use(inv.id, attempt ?? joinAttemptId(this.random)),
        // Another member's invitation: let its inviter answer a new attempt first (see defer).
        defer: inv.mine ? undefined : (attempt) => this.defer(attempt, nowSec),
      });
      if (r !== undefined) return r;
    }
    return null;
  }

  /** One invitation's answer to a datagram; undefined when it is not sealed with this invitation's key. */
  private answer(
    buf: Uint8Array,
    nowSec: number,
    bootstrap: string[],
    inv: {
      key: string;
      revoked: boolean;
      expires: number;
      full: boolean;
      usedBy: (attempt: string) => boolean;
      count: (attempt: string | null) => void;
      /** True: stay silent this time (the request would be admitted and counted). */
      defer?: (attempt: string | null) => boolean;
    },
  ):
    | { reply: Buffer; name: string; accepted: boolean; counted: boolean; reason?: string }
    | null
    | undefined {
    const key = Buffer.from(inv.key, 'base64');
    const m = openMsg(key, buf);
    if (m?.t !== 'join') return undefined;
    const name = typeof m.name === 'string' ? stripControl(m.name).slice(0, 63) : '';
    const attempt = typeof m.id === 'string' && JOIN_ID_RE.test(m.id) ? m.id : null;
    const retry = attempt !== null && inv.usedBy(attempt);
    const reason = inv.revoked
      ? 'this invitation was revoked'
      : inv.expires <= nowSec
        ? 'this invitation has expired'
        : !retry && inv.full
          ? 'this invitation has been used already (ask for a new one)'
          : null;
    if (!reason && !retry && inv.defer?.(attempt)) return null;
    let reply: Buffer;
    if (reason) {
      reply = sealMsg(key, this.random, { t: 'refused', reason });
    } else {
      reply = sealMsg(key, this.random, {
        t: 'welcome',
        network: this.network,
        secret: Buffer.from(this.secret).toString('base64'),
        bootstrap: bootstrap.slice(0, 8),
        ...(this.epoch ? { ep: this.epoch.n, cur: Buffer.from(this.epoch.secret).toString('base64') } : {}),
      });
    }
    if (reply.length > buf.length) return null; // never answer with more than we got
    const counted = !reason && !retry;
    if (counted) inv.count(attempt);
    return { reply, name, accepted: !reason, counted, ...(reason ? { reason } : {}) };
  }
}

/**
 * The time a node spends reading join datagrams, limited per second: reading one costs a decryption
 * attempt per invitation held (up to 64 shared ones, about 14 µs each here), so a stranger's flood
 * of join-typed datagrams could otherwise take the node's main thread. Beyond `msPerSecond` of one
 * second, join datagrams are dropped unread until the next (a joiner retries for 8 s; under such a
 * flood joining may fail, the node keeps working).
 */
export class JoinBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private used = 0;
  /** Join datagrams dropped unread. */
  dropped = 0;

  constructor(private readonly msPerSecond = JOIN_MS_PER_SECOND) {}

  /** Whether a join datagram may be read now (`nowMs`: a monotonic clock). */
  allow(nowMs: number): boolean {
    if (nowMs - this.windowStart >= 1000) {
      this.windowStart = nowMs;
      this.used = 0;
    }
    if (this.used < this.msPerSecond) return true;
    this.dropped++;
    return false;
  }

  /** Reading one took `ms`. */
  spent(ms: number): void {
    this.used += ms;
  }
}
