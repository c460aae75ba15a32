// The discovery messages' codec: JSON with one- or two-letter keys inside the sealed envelope
// (../sealed.ts), mapped to and from readable names. This is the wire format of every PeerMesh
// version so far: changing a key or the order of keys changes the bytes (and sizes) members send.
// Golden tests: test/unit/mesh-wire.test.ts.
//
//   every message  t: type, ts: sender's wall clock (ms), key: sender's key, seen: where the sender
//                  sees the receiver ("" when broadcast), h: 1 when the sender is behind a symmetric NAT
//   hello   d: root digest, r: 1 (an answer), rec: the sender's record
//   dig     b: the 64 bucket digests (base64)
//   sum     p: listings [bucket, lo, hi, entries], r: 1 (an answer), np: 1 (no push), na: 1 (no ask)
//   sub     p: [bucket, part digests (base64)], np: 1 (no push)
//   recs    recs: records and removals (always the last key: written as text, see encodeMessage)
//   want    peer: the member the sender wants an introduction to
//   intro   rec: a member's record, at: where the introducer sees it, th: 1 when it is behind a
//           symmetric NAT
//   bye     (the sender is stopping)
//   sec     rot: a rotation (epochs.ts), rem: the removal it is for, box: the new secret sealed to
//           the receiver's key (base64)
//   ivd     d: digest of the sender's invitation facts (invitations.ts), r: 1 (an answer)
//   ivs     f: invitation facts (checked in full by Invitations.take)

import {
  MESH_BUCKETS,
  MESH_CLOCK_SKEW,
  MESH_MAX_RECS,
  MESH_SUB_DIGEST,
  MESH_SUB_PARTS,
  MESH_SUB_PER_MESSAGE,
  MESH_SUM_PARTS,
  MESH_SUM_PREFIX,
} from '../constants';
import type { Rotation } from './epochs';
import { KEY_RE, type MemberRecord, type Removal, recordText } from './records';

/** A listing of a bucket's keys in [lo, hi): entries are key prefixes with the version in base 36. */
export type SumPart = [bucket: number, lo: string, hi: string, entries: string[]];
/** A bucket's part digests (MESH_SUB_PARTS of MESH_SUB_DIGEST bytes), base64. */
export type SubPart = [bucket: number, digests: string];

/** What every message says about its sender. */
export interface Envelope {
  /** The sender's wall clock, ms (refused beyond MESH_CLOCK_SKEW from ours). */
  sentAt: number;
  /** The sender's public key, base64. */
  sender: string;
  /** Where the sender sees the receiver ("ip:port"), "" for a broadcast. */
  seenAs: string;
  /** The sender is behind a NAT that maps per destination (symmetric). */
  hard: boolean;
}

/**
 * Records inside received messages are as received: Records.ingest checks them (form, age,
 * signature) before anything uses them.
 */
export type Body =
  | { type: 'hello'; digest: string; reply?: boolean; record?: MemberRecord }
  | { type: 'dig'; buckets: string }
  | { type: 'sum'; parts: SumPart[]; reply?: boolean; noPush?: boolean; noAsk?: boolean }
  | { type: 'sub'; parts: SubPart[]; noPush?: boolean }
  | { type: 'recs'; records: readonly (MemberRecord | Removal)[] }
  | { type: 'want'; peer: string }
  | { type: 'intro'; record: MemberRecord; seenAt: string | null; introducedHard: boolean }
  | { type: 'bye' }
  | { type: 'secret'; rotation: Rotation; removal: Removal; box: string }
  | { type: 'invd'; digest: string; reply: boolean }
  | { type: 'invs'; facts: readonly unknown[] };

export type Message = Body & Envelope;
export type MessageOf<T extends Body['type']> = Extract<Body, { type: T }> & Envelope;

/** The JSON text of a message (keys in the wire's order: the body's, then the envelope's). */
export function encodeMessage(body: Body, env: Envelope): string {
  const tail = { ts: env.sentAt, key: env.sender, seen: env.seenAs, ...(env.hard ? { h: 1 } : {}) };
  switch (body.type) {
    case 'hello':
      return JSON.stringify({
        t: 'hello',
        d: body.digest,
        ...(body.reply ? { r: 1 } : {}),
        ...(body.record ? { rec: body.record } : {}),
        ...tail,
      });
    case 'dig':
      return JSON.stringify({ t: 'dig', b: body.buckets, ...tail });
    case 'sum':
      return JSON.stringify({
        t: 'sum',
        p: body.parts,
        ...(body.reply ? { r: 1 } : {}),
        ...(body.noPush ? { np: 1 } : {}),
        ...(body.noAsk ? { na: 1 } : {}),
        ...tail,
      });
    case 'sub':
      return JSON.stringify({ t: 'sub', p: body.parts, ...(body.noPush ? { np: 1 } : {}), ...tail });
    case 'recs': {
      // Records go in as the text made once for each (a node answering a join storm sends the same
      // records to every newcomer): the envelope's JSON, then the records as the last key.
      const head = JSON.stringify({ t: 'recs', ...tail });
      const texts: string[] = [];
      for (const r of body.records) texts.push(recordText(r).text);
      return `${head.slice(0, -1)},"recs":[${texts.join(',')}]}`;
    }
    case 'want':
      return JSON.stringify({ t: 'want', peer: body.peer, ...tail });
    case 'intro':
      return JSON.stringify({
        t: 'intro',
        rec: body.record,
        at: body.seenAt,
        th: body.introducedHard ? 1 : 0,
        ...tail,
      });
    case 'bye':
      return JSON.stringify({ t: 'bye', ...tail });
    case 'secret':
      return JSON.stringify({ t: 'sec', rot: body.rotation, rem: body.removal, box: body.box, ...tail });
    case 'invd':
      return JSON.stringify({ t: 'ivd', d: body.digest, ...(body.reply ? { r: 1 } : {}), ...tail });
    case 'invs':
      return JSON.stringify({ t: 'ivs', f: body.facts, ...tail });
  }
}

/** A message from its JSON text, or null: not JSON, a wrong shape, or a clock too far from ours. */
export function decodeMessage(text: string, wallNow: number): Message | null {
  let w: Wire;
  try {
    w = JSON.parse(text) as Wire;
  } catch {
    return null;
  }
  if (!validWire(w, wallNow)) return null;
  const env: Envelope = { sentAt: w.ts, sender: w.key, seenAs: w.seen, hard: w.h === 1 };
  switch (w.t) {
    case 'hello':
      return { type: 'hello', digest: w.d, reply: !!w.r, record: w.rec || undefined, ...env };
    case 'dig':
      return { type: 'dig', buckets: w.b, ...env };
    case 'sum':
      return { type: 'sum', parts: w.p, reply: !!w.r, noPush: !!w.np, noAsk: !!w.na, ...env };
    case 'sub':
      return { type: 'sub', parts: w.p, noPush: w.np === 1, ...env };
    case 'recs':
      return { type: 'recs', records: w.recs, ...env };
    case 'want':
      return { type: 'want', peer: w.peer, ...env };
    case 'intro':
      return { type: 'intro', record: w.rec, seenAt: w.at, introducedHard: w.th === 1, ...env };
    case 'bye':
      return { type: 'bye', ...env };
    case 'sec':
      return { type: 'secret', rotation: w.rot, removal: w.rem, box: w.box, ...env };
    case 'ivd':
      return { type: 'invd', digest: w.d, reply: w.r === 1, ...env };
    case 'ivs':
      return { type: 'invs', facts: w.f, ...env };
  }
}

/** The messages as they are on the wire (what JSON.parse gives, before the checks). */
type Wire = (
  | { t: 'hello'; d: string; r?: unknown; rec?: MemberRecord | null }
  | { t: 'dig'; b: string }
  | { t: 'sum'; p: SumPart[]; r?: unknown; np?: unknown; na?: unknown }
  | { t: 'sub'; p: SubPart[]; np?: unknown }
  | { t: 'recs'; recs: (MemberRecord | Removal)[] }
  | { t: 'want'; peer: string }
  | { t: 'intro'; rec: MemberRecord; at: string | null; th?: unknown }
  | { t: 'bye' }
  | { t: 'sec'; rot: Rotation; rem: Removal; box: string }
  | { t: 'ivd'; d: string; r?: unknown }
  | { t: 'ivs'; f: unknown[] }
) & { ts: number; key: string; seen: string; h?: unknown };

const SUM_ENTRY_RE = /^[A-Za-z0-9+/]{12}[0-9a-z]{1,11}$/;

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
        m.p.length <= MESH_SUM_PARTS &&
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
                Number.isSafeInteger(Number.parseInt(y.slice(MESH_SUM_PREFIX), 36)),
            ),
        )
      );
    case 'sub':
      return (
        Array.isArray(m.p) &&
        m.p.length <= MESH_SUB_PER_MESSAGE &&
        m.p.every(
          (x) =>
            Array.isArray(x) &&
            x.length === 2 &&
            isBucket(x[0]) &&
            typeof x[1] === 'string' &&
            x[1].length === ((MESH_SUB_PARTS * MESH_SUB_DIGEST + 2) / 3) * 4,
        )
      );
    case 'recs':
      return Array.isArray(m.recs) && m.recs.length <= MESH_MAX_RECS;
    case 'want':
      return typeof m.peer === 'string' && KEY_RE.test(m.peer);
    case 'intro':
      return typeof m.rec === 'object' && m.rec !== null && (m.at === null || typeof m.at === 'string');
    case 'bye':
      return true;
    case 'sec': // checked in full by Epochs.take
      return (
        typeof m.rot === 'object' &&
        m.rot !== null &&
        typeof m.rem === 'object' &&
        m.rem !== null &&
        typeof m.box === 'string'
      );
    case 'ivd':
      return typeof m.d === 'string' && m.d.length <= 44;
    case 'ivs': // each fact checked in full by Invitations.take
      return Array.isArray(m.f) && m.f.length <= 16;
    default:
      return false;
  }
}
