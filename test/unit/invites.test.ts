// Join codes and the invitation exchange: encoding, damage detection, the answer to a valid request,
// silence for anything else, the "expired" answer, and never answering with more bytes than came in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeInviteCode,
  encodeInviteCode,
  InviteCodeError,
  Invites,
  joinAttemptId,
  joinRequest,
  readJoinAnswer,
} from '../../main/core/invites';
import { seededRandom } from '../lib/sim';

const secret = new TextEncoder().encode('correct horse battery staple');
const eps = [
  { address: '198.18.0.1', port: 51820 },
  { address: 'fd00::1', port: 4242 },
];

describe('join codes', () => {
  it('round-trip, and survive the line breaks and spaces of a copy-paste', () => {
    const c = { network: 'home', token: new Uint8Array(16).fill(7), expires: 1_900_000_000, endpoints: eps };
    const text = encodeInviteCode(c);
    assert.match(text, /^pm1-[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeInviteCode(text), c);
    const mangled = `  ${text.slice(0, 20)}\n${text.slice(20, 40)} \r\n${text.slice(40)}\n`;
    assert.deepEqual(decodeInviteCode(mangled), c);
  });

  it('a damaged or foreign code gets a clear error', () => {
    const text = encodeInviteCode({ network: 'home', token: new Uint8Array(16), expires: 1, endpoints: eps });
    const flipped = text.slice(0, 10) + (text[10] === 'A' ? 'B' : 'A') + text.slice(11);
    assert.throws(() => decodeInviteCode(flipped), /damaged/);
    assert.throws(() => decodeInviteCode(text.slice(0, -5)), /damaged/);
    assert.throws(() => decodeInviteCode('hello'), /not a PeerMesh join code/);
    assert.throws(() => decodeInviteCode('pm1-!!!'), InviteCodeError);
  });
});

describe('invitation exchange', () => {
  const now = 1_800_000_000;

  it('a valid request gets the network and secret; another code or garbage gets nothing', () => {
    const inv = new Invites('home', secret, seededRandom(1));
    const { code } = inv.create(3600, now, eps);
    const parsed = decodeInviteCode(code);
    const req = joinRequest(parsed, 'laptop', seededRandom(2));
    const r = inv.handle(req, now + 10, ['198.18.0.1:51820']);
    assert.ok(r?.accepted);
    assert.equal(r.name, 'laptop');
    assert.ok(r.reply.length <= req.length);
    const a = readJoinAnswer(parsed, r.reply);
    assert.ok(a?.ok);
    assert.equal(a.network, 'home');
    assert.deepEqual(Buffer.from(a.secret), Buffer.from(secret));
    assert.deepEqual(a.bootstrap, ['198.18.0.1:51820']);
    // another invitation's code, garbage, a truncated request: silence
    const other = new Invites('home', secret, seededRandom(3));
    const foreign = decodeInviteCode(other.create(3600, now, eps).code);
    assert.equal(inv.handle(joinRequest(foreign, 'x', seededRandom(4)), now, []), null);
    assert.equal(inv.handle(Buffer.alloc(1000, 0x53), now, []), null);
    assert.equal(inv.handle(req.subarray(0, 500), now, []), null);
    // the answer is readable only with the code
    assert.equal(readJoinAnswer(foreign, r.reply), null);
  });

  it('an expired invitation gets a sealed "expired" answer, also after a reload', () => {
    const inv = new Invites('home', secret, seededRandom(5));
    const parsed = decodeInviteCode(inv.create(60, now, eps).code);
    const reloaded = new Invites('home', secret, seededRandom(6));
    reloaded.load(JSON.parse(JSON.stringify(inv.stored)), now + 120);
    const r = reloaded.handle(joinRequest(parsed, 'late', seededRandom(7)), now + 120, []);
    assert.ok(r && !r.accepted);
    const a = readJoinAnswer(parsed, r.reply);
    assert.ok(a && !a.ok);
    assert.match(a.reason, /expired/);
  });

  it('the stored invitations hold no token (the code cannot be rebuilt from the state file)', () => {
    const inv = new Invites('home', secret, seededRandom(8));
    const parsed = decodeInviteCode(inv.create(600, now, eps).code);
    const stored = JSON.stringify(inv.stored);
    assert.ok(!stored.includes(Buffer.from(parsed.token).toString('base64')));
  });

  describe('uses and revocation', () => {
    const ask = (inv: Invites, code: string, id: string | undefined, at = now + 10) => {
      const parsed = decodeInviteCode(code);
      const r = inv.handle(joinRequest(parsed, 'm', seededRandom(at), id), at, ['198.18.0.1:51820']);
      assert.ok(r, 'no answer at all');
      const a = readJoinAnswer(parsed, r.reply);
      assert.ok(a);
      return { r, a };
    };
    const ids = Array.from({ length: 4 }, (_, i) => joinAttemptId(seededRandom(100 + i)));

    it('admits one machine by default: its retries are answered again, a second machine is refused', () => {
      const inv = new Invites('home', secret, seededRandom(20));
      const { code, id } = inv.create(3600, now, eps);
      const first = ask(inv, code, ids[0]);
      assert.ok(first.a.ok && first.r.counted);
      const retry = ask(inv, code, ids[0]); // the answer was lost: the same attempt asks again
      assert.ok(retry.a.ok && !retry.r.counted);
      const second = ask(inv, code, ids[1]);
      assert.ok(!second.a.ok && !second.r.accepted);
      assert.match(second.a.reason, /used already/);
      // A request without an attempt id (an older joiner) is a new machine every time.
      assert.ok(!ask(inv, code, undefined).a.ok);
      assert.deepEqual(
        inv.overview(now + 20).map((i) => [i.id, i.uses, i.maxUses, i.state]),
        [[id, 1, 1, 'used']],
      );
      // Also after the inviting node restarts.
      const reloaded = new Invites('home', secret, seededRandom(21));
      reloaded.load(JSON.parse(JSON.stringify(inv.stored)), now + 30);
      assert.ok(!ask(reloaded, code, ids[2], now + 30).a.ok);
      assert.ok(ask(reloaded, code, ids[0], now + 30).a.ok);
    });

    it('uses 2 admits two machines and refuses the third', () => {
      const inv = new Invites('home', secret, seededRandom(22));
      const { code } = inv.create(3600, now, eps, 2);
      assert.ok(ask(inv, code, ids[0]).a.ok);
      assert.ok(ask(inv, code, ids[1]).a.ok);
      const third = ask(inv, code, ids[2]);
      assert.ok(!third.a.ok);
      assert.match(third.a.reason, /used already/);
      assert.throws(() => inv.create(3600, now, eps, 0), RangeError);
      assert.throws(() => inv.create(3600, now, eps, 101), RangeError);
    });

    it('a revoked invitation is refused (also after a reload); unknown ids are not revoked', () => {
      const inv = new Invites('home', secret, seededRandom(23));
      const { code, id } = inv.create(3600, now, eps, 5);
      assert.match(id, /^[0-9a-f]{8}$/);
      assert.ok(ask(inv, code, ids[0]).a.ok);
      assert.equal(inv.revoke('00000000'), id === '00000000');
      assert.equal(inv.revoke('nope'), false);
      assert.ok(inv.revoke(id));
      const r = ask(inv, code, ids[1]);
      assert.ok(!r.a.ok);
      assert.match(r.a.reason, /revoked/);
      assert.ok(!ask(inv, code, ids[0]).a.ok, 'a revoked code is not answered even for an earlier attempt');
      const reloaded = new Invites('home', secret, seededRandom(24));
      reloaded.load(JSON.parse(JSON.stringify(inv.stored)), now + 30);
      assert.equal(reloaded.overview(now + 30)[0].state, 'revoked');
      assert.ok(!ask(reloaded, code, ids[1], now + 30).a.ok);
    });

    it('invitations saved before limits existed keep admitting any number until they expire', () => {
      const inv = new Invites('home', secret, seededRandom(25));
      const { code } = inv.create(3600, now, eps);
      const old = inv.stored.map(({ key, expires, created }) => ({ key, expires, created, uses: 3 }));
      const reloaded = new Invites('home', secret, seededRandom(26));
      reloaded.load(old, now);
      for (const id of ids) assert.ok(ask(reloaded, code, id).a.ok);
      assert.equal(reloaded.overview(now)[0].maxUses, 0);
    });
  });
});

describe('invitations after the network secret changed (a removal)', () => {
  const now = 1_800_000_000;

  it('answers carry the current secret; every open invitation is revoked at the change', () => {
    const inv = new Invites('home', secret, seededRandom(11));
    const open = decodeInviteCode(inv.create(3600, now, eps).code);
    const later = new Uint8Array(32).fill(9);
    // An answer before any change carries no epoch.
    const first = readJoinAnswer(open, inv.handle(joinRequest(open, 'a', seededRandom(12)), now, [])!.reply);
    assert.ok(first?.ok);
    assert.equal(first.epoch, undefined);
    const other = decodeInviteCode(inv.create(3600, now, eps).code);
    inv.setEpoch(2, later);
    assert.equal(inv.revokeOpen(now + 1), 1); // the first one admitted its one machine already
    const refused = readJoinAnswer(
      other,
      inv.handle(joinRequest(other, 'b', seededRandom(13)), now + 2, [])!.reply,
    );
    assert.deepEqual(refused, { ok: false, reason: 'this invitation was revoked' });
    // A code made after the change admits, with the new secret and its epoch (and fits the request).
    const fresh = decodeInviteCode(inv.create(3600, now + 3, eps).code);
    const req = joinRequest(fresh, 'c', seededRandom(14));
    const r = inv.handle(req, now + 4, Array(8).fill('[fd00:1234:5678:9abc::1]:51820'));
    assert.ok(r?.accepted && r.reply.length <= req.length);
    const a = readJoinAnswer(fresh, r.reply);
    assert.ok(a?.ok);
    assert.deepEqual(a.epoch, { n: 2, secret: Buffer.from(later).toString('base64') });
    assert.deepEqual(Buffer.from(a.secret), Buffer.from(secret));
  });
});
