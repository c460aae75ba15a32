// The network secret's epochs: after a removal the remover draws a new secret and every remaining
// member moves to it, so the removed machine cannot come back under a new key with the secret it
// holds (docs/mesh.md, "A new network secret after a removal").
//
// A rotation is a small object signed by the remover: the removed key, the new epoch number and a
// commitment to the new secret (its hash). The secret itself travels only in boxes sealed to one
// member's X25519 key (an ephemeral key, ChaCha20-Poly1305, the commitment as associated data), sent
// under the discovery key the member still uses. The remover sends one to every member it knows; a
// member that missed it gets one from any member that has moved on, the first time it hears from it
// under an old key (any member can seal the secret it holds; the commitment proves it is the
// remover's). The network's id (addresses, record signatures) never changes: only the discovery key.
//
// Two rotations of the same epoch (two removals at once): the earlier one (time, then signature)
// wins at every node; a node that moved to the loser moves again, and the loser's remover issues a
// new rotation in the next epoch, so its removed member gets no secret either.

import { MESH_OLD_EPOCH_KEYS, MESH_SECRET_CATCH_UP_INTERVAL, MESH_SECRET_RESENDS } from '../constants';
import { constantTimeEqual, openRaw, sealRaw, x25519, x25519Base } from '../crypto/aead';
import { xeddsaSign, xeddsaVerify } from '../crypto/xeddsa';
import type { Endpoint } from '../device';
import { networkKeys, parseEndpointText } from './addresses';
import { b64, type Core, hash } from './core';
import type { Member } from './members';
import { KEY_RE } from './records';
import type { Message, MessageOf } from './wire';

/** A new network secret, announced by the member that removed `k`. */
export interface Rotation {
  /** The removed member's key. */
  k: string;
  /** The remover's key (it signs). */
  rm: string;
  /** When (remover's wall clock, ms). */
  v: number;
  /** The new epoch (the network starts at 0). */
  ep: number;
  /** Commitment to the new secret: hash('peermesh secret commit v1', network id, secret), base64. */
  c: string;
  s: string;
}

/** What a node keeps of its epoch across restarts (in its mesh state file, mode 0600). */
export interface EpochState {
  n: number;
  /** The current secret, base64. */
  secret: string;
  rot?: Rotation;
  /** Discovery keys of earlier epochs (newest first): members still on them are helped to move. */
  old: { n: number; key: string }[];
  /** A removal whose rotation lost to another one: to be rotated again. */
  reissue?: string;
}

const SIG_RE = /^[A-Za-z0-9+/]{86}==$/;
const HASH_RE = /^[A-Za-z0-9+/]{43}=$/;
const BOX_RE = /^[A-Za-z0-9+/]{107}=$/; // 80 bytes: ephemeral key, sealed 32-byte secret, tag
const ZERO_NONCE = new Uint8Array(12);

function rotationBytes(networkId: string, r: Omit<Rotation, 's'>): Uint8Array {
  return Buffer.from(JSON.stringify(['peermesh rotation v1', networkId, r.k, r.rm, r.v, r.ep, r.c]));
}

export function validRotationShape(r: unknown): r is Rotation {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as Rotation;
  return (
    typeof x.k === 'string' &&
    KEY_RE.test(x.k) &&
    typeof x.rm === 'string' &&
    KEY_RE.test(x.rm) &&
    Number.isSafeInteger(x.v) &&
    x.v > 0 &&
    Number.isSafeInteger(x.ep) &&
    x.ep > 0 &&
    typeof x.c === 'string' &&
    HASH_RE.test(x.c) &&
    typeof x.s === 'string' &&
    SIG_RE.test(x.s)
  );
}

/** Of two rotations of one epoch, whether `a` wins: the earlier, then the smaller signature. */
export function rotationWins(a: Rotation, b: Rotation): boolean {
  return a.v < b.v || (a.v === b.v && a.s < b.s);
}

/** The secret sealed to one member's X25519 key: ephemeral public key ‖ ChaCha20-Poly1305. */
export function sealSecretBox(
  random: (n: number) => Uint8Array,
  recipient: Uint8Array,
  secret: Uint8Array,
  ad: Uint8Array,
): Uint8Array | null {
  const eph = random(32);
  const ephPub = x25519Base(eph);
  const shared = x25519(eph, recipient);
  if (!shared) return null;
  const key = hash('peermesh secret box v1', shared, ephPub, recipient);
  const out = new Uint8Array(32 + secret.length + 16);
  out.set(ephPub, 0);
  out.set(sealRaw(key, ZERO_NONCE, secret, ad), 32);
  return out;
}

export function openSecretBox(
  privateKey: Uint8Array,
  selfPublic: Uint8Array,
  box: Uint8Array,
  ad: Uint8Array,
): Uint8Array | null {
  if (box.length !== 80) return null;
  const ephPub = box.subarray(0, 32);
  const shared = x25519(privateKey, ephPub);
  if (!shared) return null;
  const key = hash('peermesh secret box v1', shared, ephPub, selfPublic);
  return openRaw(key, ZERO_NONCE, box.subarray(32), ad);
}

export class Epochs {
  /** The current epoch (0: the secret the network was made with). */
  epoch = 0;
  /** The current discovery key. */
  key: Uint8Array;
  /** The current secret (null at epoch 0: the mesh is given only the keys derived from it). */
  secret: Uint8Array | null = null;
  /** The rotation that made the current epoch (null at 0, and after a join that did not carry it). */
  rotation: Rotation | null = null;
  /** Earlier epochs' discovery keys, newest first (at most MESH_OLD_EPOCH_KEYS). */
  old: { n: number; key: Uint8Array }[] = [];
  private reissue: string | null = null;
  private readonly networkId: string;
  /** When we last helped each member onto the current epoch (rate limit). */
  private readonly helped = new Map<string, number>();
  /**
   * Members not heard under the current key since we moved: those we have a direct path to are sent
   * the secret again (2, 4, 8 … s apart, MESH_SECRET_RESENDS times), since a quiet member may not
   * send us anything under the old key for a while.
   */
  private readonly unconfirmed = new Map<string, { next: number; tries: number }>();
  private nextResend = 0;

  constructor(private readonly core: Core) {
    this.key = core.opts.network.discoveryKey;
    this.networkId = b64(core.opts.network.id);
  }

  private get verify() {
    return this.core.opts.verify ?? xeddsaVerify;
  }

  private commitOf(secret: Uint8Array): string {
    return b64(hash('peermesh secret commit v1', this.networkId, secret));
  }

  /**
   * We removed `removed`: draw a new secret, move to it, and send it to every remaining member we
   * know, under the key they still use. False when `removed` is not removed here.
   */
  rotate(removed: string): boolean {
    const c = this.core;
    if (!c.members.get(removed)?.removed) return false;
    const secret = c.opts.random(32);
    const body = {
      k: removed,
      rm: c.selfKey,
      v: Math.floor(c.wallNow),
      ep: this.epoch + 1,
      c: this.commitOf(secret),
    };
    const sig = xeddsaSign(c.opts.privateKey, rotationBytes(this.networkId, body), c.opts.random(64));
    const oldKey = this.key;
    this.switchTo({ ...body, s: b64(sig) }, secret);
    for (const m of c.members.values()) if (m.rec && !m.removed) this.sendSecret(m, oldKey, null);
    for (const u of this.unconfirmed.values()) u.tries = 1;
    return true;
  }

  /** Send `m` the current secret in a box, under discovery key `key`, to `to` or where we reach it. */
  private sendSecret(m: Member, key: Uint8Array, to: Endpoint | null): void {
    const c = this.core;
    const rot = this.rotation;
    const removal = rot ? c.members.get(rot.k)?.removed : null;
    if (!rot || !removal || !this.secret) return;
    const box = sealSecretBox(c.opts.random, m.keyBytes, this.secret, Buffer.from(rot.c));
    if (!box) return;
    const targets: Endpoint[] = [];
    if (to) targets.push(to);
    else if (m.direct) targets.push(m.direct);
    else
      for (const e of m.rec?.e ?? []) {
        const ep = parseEndpointText(e);
        if (ep && !c.isOverlay(ep.address)) targets.push(ep);
      }
    for (const t of targets)
      c.messenger.send({ type: 'secret', rotation: rot, removal, box: b64(box) }, t, false, key);
    c.counters.secretsSent += targets.length ? 1 : 0;
  }

  /**
   * A message opened with an earlier epoch's key (`key`): its sender has not moved yet. A member
   * (a record, not removed) is sent the current secret (at most every
   * MESH_SECRET_CATCH_UP_INTERVAL); a rotation it carries is looked at (two at once). Nothing else in
   * it is taken.
   */
  stale(msg: Message, key: Uint8Array, from: Endpoint): void {
    const c = this.core;
    c.counters.staleEpoch++;
    if (msg.type === 'secret') this.take(msg);
    const m = c.members.get(msg.sender);
    if (!m?.rec || m.removed) return;
    const last = this.helped.get(m.key);
    if (last !== undefined && c.now - last < MESH_SECRET_CATCH_UP_INTERVAL) return;
    if (this.helped.size > 4096) this.helped.clear();
    this.helped.set(m.key, c.now);
    this.sendSecret(m, key, from);
  }

  /** A rotation with our box: move to its epoch if it is newer than ours (or wins over ours). */
  take(msg: MessageOf<'secret'>): void {
    const c = this.core;
    const rot = msg.rotation;
    const rem = msg.removal;
    if (!validRotationShape(rot) || typeof rem !== 'object' || rem === null) return;
    if (rem.k !== rot.k || rem.rm !== rot.rm || typeof msg.box !== 'string' || !BOX_RE.test(msg.box)) return;
    const conflict = rot.ep === this.epoch;
    if (rot.ep < this.epoch) return;
    if (conflict && (!this.rotation || this.rotation.s === rot.s || !rotationWins(rot, this.rotation)))
      return;
    // The removal it is for must hold here (its remover a current member), and the remover signed it.
    c.records.ingest(rem, null);
    if (!c.members.get(rot.k)?.removed || rot.rm === c.selfKey) return;
    if (
      !this.verify(
        Buffer.from(rot.rm, 'base64'),
        rotationBytes(this.networkId, rot),
        Buffer.from(rot.s, 'base64'),
      )
    ) {
      c.counters.secretsRefused++;
      return;
    }
    const self = this.core.device.identity.publicKey;
    const secret = openSecretBox(c.opts.privateKey, self, Buffer.from(msg.box, 'base64'), Buffer.from(rot.c));
    if (secret?.length !== 32 || !constantTimeEqual(Buffer.from(this.commitOf(secret)), Buffer.from(rot.c))) {
      c.counters.secretsRefused++;
      return;
    }
    const lost = conflict ? this.rotation : null;
    this.switchTo(rot, secret);
    // Our own rotation lost: its removed member may have got the winner's secret. Rotate again.
    if (lost && lost.rm === c.selfKey && lost.k !== rot.k) this.reissue = lost.k;
  }

  private switchTo(rot: Rotation, secret: Uint8Array): void {
    const c = this.core;
    this.old.unshift({ n: this.epoch, key: this.key });
    this.old.length = Math.min(this.old.length, MESH_OLD_EPOCH_KEYS);
    this.epoch = rot.ep;
    this.key = networkKeys(c.opts.network.name, secret).discoveryKey;
    this.secret = secret;
    this.rotation = rot;
    this.helped.clear();
    this.unconfirmed.clear();
    for (const m of c.members.values())
      if (m.rec && !m.removed && m.key !== rot.k)
        this.unconfirmed.set(m.key, { next: c.now + 2000, tries: 0 });
    c.emit({ type: 'rotated', epoch: rot.ep, removed: rot.k, by: rot.rm });
  }

  /** A message from `key` under the current key: it has moved too. */
  heard(key: string): void {
    if (this.unconfirmed.size) this.unconfirmed.delete(key);
  }

  /**
   * Periodic: a rotation of ours that lost is issued again in the next epoch; members not heard
   * under the current key are sent the secret again on their direct paths.
   */
  tick(): void {
    const c = this.core;
    if (this.reissue) {
      const k = this.reissue;
      this.reissue = null;
      this.rotate(k);
    }
    if (!this.unconfirmed.size || c.now < this.nextResend || !this.old.length) return;
    this.nextResend = c.now + 1000;
    for (const [k, u] of this.unconfirmed) {
      if (c.now < u.next) continue;
      const m = c.members.get(k);
      if (!m?.rec || m.removed || u.tries >= MESH_SECRET_RESENDS) {
        this.unconfirmed.delete(k);
        continue;
      }
      u.next = c.now + 2000 * 2 ** u.tries;
      if (!m.direct) continue;
      u.tries++;
      this.sendSecret(m, this.old[0].key, null);
    }
  }

  export(): EpochState | undefined {
    if (this.epoch === 0 || !this.secret) return undefined;
    return {
      n: this.epoch,
      secret: b64(this.secret),
      ...(this.rotation ? { rot: this.rotation } : {}),
      old: this.old.map((o) => ({ n: o.n, key: b64(o.key) })),
      ...(this.reissue ? { reissue: this.reissue } : {}),
    };
  }

  /**
   * Take back what export() returned, or what a join answer gave (no rotation, no old keys): only a
   * later epoch than ours, of the right shape.
   */
  import(s: unknown): boolean {
    if (typeof s !== 'object' || s === null) return false;
    const x = s as EpochState;
    if (!Number.isSafeInteger(x.n) || x.n <= this.epoch || typeof x.secret !== 'string') return false;
    const secret = Buffer.from(x.secret, 'base64');
    if (secret.length !== 32) return false;
    const rot = x.rot !== undefined && validRotationShape(x.rot) && x.rot.ep === x.n ? x.rot : null;
    const old: { n: number; key: Uint8Array }[] = [{ n: this.epoch, key: this.key }];
    if (Array.isArray(x.old))
      for (const o of x.old) {
        const key = typeof o?.key === 'string' ? Buffer.from(o.key, 'base64') : null;
        if (key?.length === 32 && Number.isSafeInteger(o.n) && o.n < x.n && !old.some((y) => y.n === o.n))
          old.push({ n: o.n, key: new Uint8Array(key) });
      }
    old.sort((a, b) => b.n - a.n);
    this.old = old.slice(0, MESH_OLD_EPOCH_KEYS);
    this.epoch = x.n;
    this.secret = new Uint8Array(secret);
    this.key = networkKeys(this.core.opts.network.name, this.secret).discoveryKey;
    this.rotation = rot;
    this.reissue = typeof x.reissue === 'string' && KEY_RE.test(x.reissue) ? x.reissue : null;
    return true;
  }
}
