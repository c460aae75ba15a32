// Discovery messages in and out: encoded by the codec (wire.ts), sealed under the network's
// discovery key of the current epoch (epochs.ts; ../sealed.ts), counted; replays refused (the
// timestamp window of the codec plus a cache of the nonces seen). A message under an earlier epoch's
// key is opened too, and marked (`openedWith`): its sender has not moved to the current secret yet.

import { MESH_MAX_MESSAGE, MESH_NONCE_CACHE, MESH_WIRE_VERSION, MSG_MESH } from '../constants';
import type { Endpoint } from '../device';
import { openJson, SEALED_OVERHEAD, sealedNonce, sealJson } from '../sealed';
import { endpointText } from './addresses';
import { b64, type Core } from './core';
import { type MemberRecord, type Removal, recordText } from './records';
import { type Body, decodeMessage, type Envelope, encodeMessage, type Message } from './wire';

/** Where discovery messages are decrypted, to be parsed at once (one buffer, not one per message). */
const openScratch = Buffer.allocUnsafeSlow(MESH_MAX_MESSAGE);

export class Messenger {
  private nonces = new Set<string>();
  private oldNonces = new Set<string>();
  /** The earlier epoch's key the last opened message was sealed with; null: the current one. */
  openedWith: Uint8Array | null = null;

  constructor(private readonly core: Core) {}

  /** What our messages to `to` say about us. `broadcast`: "seen as" would be meaningless (left empty). */
  private envelope(to: Endpoint, broadcast: boolean): Envelope {
    const c = this.core;
    return {
      sentAt: c.wallNow,
      sender: c.selfKey,
      seenAs: broadcast ? '' : endpointText(to),
      hard: c.paths.hard,
    };
  }

  /** Seal and send; `key`: an earlier epoch's discovery key instead of the current one (epochs.ts). */
  send(body: Body, to: Endpoint, broadcast = false, key?: Uint8Array): void {
    const c = this.core;
    const out = sealJson(
      key ?? c.epochs.key,
      MSG_MESH,
      MESH_WIRE_VERSION,
      encodeMessage(body, this.envelope(to, broadcast)),
      c.opts.random,
      { max: MESH_MAX_MESSAGE },
    );
    if (!out) {
      c.counters.oversize++; // a bug if it happens: the receiver would drop it
      return;
    }
    c.counters.sent++;
    c.counters.sentBytes += out.length;
    c.io.send(out, 0, out.length, to);
  }

  /** A hello: our root digest, and our record if `withRecord`; `reply` to a hello. */
  sendHello(to: Endpoint, reply: boolean, withRecord: boolean, broadcast = false): void {
    const c = this.core;
    c.digests.compute();
    if (!reply && !broadcast) c.paths.helloSent(to);
    this.send(
      { type: 'hello', digest: c.digests.root, reply, ...(withRecord ? { record: c.records.self } : {}) },
      to,
      broadcast,
    );
  }

  /** Records and removals, as many to a datagram as fit under MESH_MAX_MESSAGE. */
  sendRecords(recs: readonly (MemberRecord | Removal)[], to: Endpoint): void {
    // What the message costs without records (its fields, the sealing), measured, not guessed: a
    // datagram over MESH_MAX_MESSAGE is dropped by the receiver.
    const room =
      MESH_MAX_MESSAGE -
      SEALED_OVERHEAD -
      Buffer.byteLength(encodeMessage({ type: 'recs', records: [] }, this.envelope(to, false)));
    let batch: (MemberRecord | Removal)[] = [];
    let size = 0;
    const flush = () => this.send({ type: 'recs', records: batch }, to);
    for (const r of recs) {
      const { bytes } = recordText(r);
      if (batch.length > 0 && size + bytes + 1 > room) {
        flush();
        batch = [];
        size = 0;
      }
      batch.push(r);
      size += bytes + 1;
    }
    if (batch.length) flush();
  }

  /** Open a discovery datagram: null when it is not sealed with our key, a replay, or malformed. */
  open(b: Uint8Array): Message | null {
    const c = this.core;
    const tryKey = (key: Uint8Array) =>
      openJson(key, MSG_MESH, MESH_WIRE_VERSION, b, MESH_MAX_MESSAGE, openScratch);
    this.openedWith = null;
    let n = tryKey(c.epochs.key);
    for (let i = 0; n < 0 && i < c.epochs.old.length; i++) {
      n = tryKey(c.epochs.old[i].key);
      if (n >= 0) this.openedWith = c.epochs.old[i].key;
    }
    if (n < 0) return null;
    const nonceKey = b64(sealedNonce(b));
    if (this.nonces.has(nonceKey) || this.oldNonces.has(nonceKey)) {
      c.counters.replays++;
      return null;
    }
    const msg = decodeMessage(openScratch.toString('utf8', 0, n), c.wallNow);
    if (!msg) return null;
    if (this.nonces.size >= MESH_NONCE_CACHE) {
      this.oldNonces = this.nonces;
      this.nonces = new Set();
    }
    this.nonces.add(nonceKey);
    return msg;
  }
}
