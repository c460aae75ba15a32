// Invitations shared by the members (docs/mesh.md "Invitations", main/core/mesh/invitations.ts), in
// the in-process network: any member answers a code, uses and revocations converge, and facts that
// are forged, unsigned, signed by a non-member or a removed member, or over a bound are dropped and
// counted (never a crash).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { INVITE_MAX_USES } from '../../main/core/constants';
import { xeddsaSign } from '../../main/core/crypto/xeddsa';
import {
  decodeInviteCode,
  type InviteCode,
  Invites,
  inviteKey,
  JoinBudget,
  joinAttemptId,
  joinRequest,
  readJoinAnswer,
} from '../../main/core/invites';
import type { Core } from '../../main/core/mesh/core';
import { type InviteFact, MESH_MAX_INVITES_PER_MEMBER } from '../../main/core/mesh/invitations';
import { key, net0, secret } from '../lib/mesh-fixtures';
import { SimNet, type SimNode, seededRandom } from '../lib/sim';

const coreOf = (n: SimNode) => (n.mesh as unknown as { core: Core }).core;
const kb = (n: SimNode) => n.device.publicKeyB64;

/** n members joining in a chain, and an Invites front on each bound to its mesh (as node.ts does). */
function network(n: number): { net: SimNet; nodes: SimNode[]; inv: Invites[] } {
  const net = new SimNet();
  const nodes: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const node = net.add(`n${i}`, key(i + 1), 100 + i);
    node.joinMesh(net0, i === 0 ? [] : [nodes[i - 1].endpoint], 200 + i);
    nodes.push(node);
    net.advance(300);
  }
  net.advance(3000);
  const inv = nodes.map((node, i) => {
    const m = node.mesh!;
    const x = new Invites('home', secret, seededRandom(300 + i));
    x.shared = {
      create: (k, c, e, u) => m.createInvite(k, c, e, u),
      use: (id, a) => m.useInvite(id, a),
      revoke: (id) => m.revokeInvite(id),
      view: () => m.sharedInvites(),
    };
    return x;
  });
  return { net, nodes, inv };
}

const nowSec = (net: SimNet) => Math.floor(net.wall() / 1000);

/** One request of a joining machine for `code` (attempt `id`) to `inv`, `later` s on: the answer, opened. */
function once(inv: Invites, net: SimNet, code: InviteCode, id: string, later = 0) {
  const req = joinRequest(code, 'laptop', seededRandom(9), id);
  const r = inv.handle(req, net.wall() / 1000 + later, ['198.18.0.1:1']);
  return r ? { ...r, answer: readJoinAnswer(code, r.reply) } : null;
}

/** A joining machine asks `inv` as `peermesh join` does: again 0.3 s later while unanswered. */
function ask(inv: Invites, net: SimNet, code: InviteCode, id: string) {
  return once(inv, net, code, id) ?? once(inv, net, code, id, 0.3);
}

const attempt = (seed: number) => joinAttemptId(seededRandom(seed));

describe('shared invitations', () => {
  it('any member answers; uses converge; a retry anywhere is one use; a second machine is refused', () => {
    const { net, nodes, inv } = network(3);
    const { code, id } = inv[0].create(600, nowSec(net), [nodes[0].endpoint]);
    const c = decodeInviteCode(code);
    net.advance(500);
    // b and c hold it (not the token: the derived key only).
    for (const n of nodes.slice(1)) {
      const held = n.mesh!.sharedInvites();
      assert.deepEqual(
        held.map((x) => [x.id, x.by, x.maxUses]),
        [[id, kb(nodes[0]), 1]],
      );
      assert.equal(held[0].key, Buffer.from(inviteKey(c.token)).toString('base64'));
    }
    // a is stopped; b admits machine 1.
    nodes[0].down = true;
    const first = ask(inv[1], net, c, attempt(1));
    assert.equal(first?.accepted, true);
    assert.equal(first?.counted, true);
    assert.ok(first?.answer?.ok && Buffer.from(first.answer.secret).equals(Buffer.from(secret)));
    net.advance(500);
    // The use reached c: machine 1's retry at c is answered again without a use; machine 2 is refused.
    const retry = ask(inv[2], net, c, attempt(1));
    assert.equal(retry?.accepted, true);
    assert.equal(retry?.counted, false);
    const second = ask(inv[2], net, c, attempt(2));
    assert.equal(second?.accepted, false);
    assert.match(second?.reason ?? '', /used already/);
    assert.ok(second?.answer && !second.answer.ok && /used already/.test(second.answer.reason));
    assert.deepEqual(
      inv[2].overview(nowSec(net)).map((x) => [x.id, x.uses, x.state]),
      [[id, 1, 'used']],
    );
    // a comes back and learns the use from the members (the comparison of sets).
    nodes[0].down = false;
    net.advance(40_000);
    assert.deepEqual(
      inv[0].overview(nowSec(net)).map((x) => [x.uses, x.state]),
      [[1, 'used']],
    );
  });

  it('while the inviter answers, only it admits: two machines at once at two members get one use', () => {
    const { net, nodes, inv } = network(2);
    const { code } = inv[0].create(600, nowSec(net), [nodes[0].endpoint, nodes[1].endpoint]);
    const c = decodeInviteCode(code);
    net.advance(500);
    // First round: each machine's request reaches a (the inviter) and b at the same time.
    const a1 = once(inv[0], net, c, attempt(1));
    const a2 = once(inv[0], net, c, attempt(2));
    assert.equal(once(inv[1], net, c, attempt(1)), null, 'b lets the inviter answer a new attempt first');
    assert.equal(once(inv[1], net, c, attempt(2)), null);
    assert.equal(a1?.accepted, true);
    assert.match(a2?.reason ?? '', /used already/);
    // Machine 2 was answered (refused) and stops; had it gone on, b refuses it too once a's use came.
    net.advance(300);
    assert.match(once(inv[1], net, c, attempt(2), 0.3)?.reason ?? '', /used already/);
    assert.equal(once(inv[1], net, c, attempt(1), 0.3)?.counted, false, "machine 1's retry costs nothing");
    assert.deepEqual(
      inv[1].overview(nowSec(net)).map((x) => [x.uses, x.state]),
      [[1, 'used']],
    );
  });

  it('a revocation by any member is honoured by every member; a rotation after a removal voids open ones', () => {
    const { net, nodes, inv } = network(4);
    const one = inv[0].create(600, nowSec(net), [nodes[0].endpoint], 5);
    const two = inv[0].create(600, nowSec(net), [nodes[0].endpoint], 5);
    net.advance(500);
    assert.equal(inv[1].revoke(one.id), true);
    assert.equal(inv[1].revoke('ffffffff'), false);
    net.advance(500);
    const r = ask(inv[2], net, decodeInviteCode(one.code), attempt(3));
    assert.equal(r?.accepted, false);
    assert.match(r?.reason ?? '', /revoked/);
    assert.equal(ask(inv[2], net, decodeInviteCode(two.code), attempt(4))?.accepted, true);
    // b removes d: the network moves to epoch 1, and the code made in epoch 0 is refused everywhere.
    assert.ok(nodes[1].mesh!.remove(kb(nodes[3])));
    net.advance(3000);
    for (const i of [0, 1, 2]) {
      assert.equal(nodes[i].mesh!.epoch.n, 1);
      const x = ask(inv[i], net, decodeInviteCode(two.code), attempt(5));
      assert.match(x?.reason ?? '', /revoked/, `member ${i}`);
    }
  });

  it('facts are kept across restarts (state file)', () => {
    const { net, nodes, inv } = network(2);
    const { code } = inv[0].create(600, nowSec(net), [nodes[0].endpoint]);
    net.advance(500);
    const state = JSON.parse(JSON.stringify(nodes[1].mesh!.exportState()));
    assert.equal(state.invites.length, 1);
    const again = net.add('again', key(2), 150);
    const m = again.joinMesh(net0, [], 151);
    m.importState(state);
    const x = new Invites('home', secret, seededRandom(5));
    x.shared = {
      create: () => null,
      use: (id, a) => m.useInvite(id, a),
      revoke: (id) => m.revokeInvite(id),
      view: () => m.sharedInvites(),
    };
    assert.equal(ask(x, net, decodeInviteCode(code), attempt(6))?.accepted, true);
  });
});

describe('shared invitation facts: validation', () => {
  /** A valid invitation fact signed by `signer` (a node's private key), as Invitations signs one. */
  function signed(net: SimNet, signer: SimNode, over: Partial<InviteFact> = {}): InviteFact {
    const body = {
      t: 'inv' as const,
      by: kb(signer),
      k: Buffer.from(nacl.randomBytes(32)).toString('base64'),
      c: nowSec(net),
      x: nowSec(net) + 600,
      u: 1,
      ep: 0,
      ...over,
    } as Omit<InviteFact, 's'>;
    const id = Buffer.from(net0.id).toString('base64');
    const bytes = Buffer.from(
      JSON.stringify(['peermesh invite v1', id, body.by, body.k, body.c, body.x, body.u, body.ep]),
    );
    return {
      ...body,
      s: Buffer.from(xeddsaSign(signer.privateKey, bytes, nacl.randomBytes(64))).toString('base64'),
    };
  }
  const send = (from: SimNode, to: SimNode, facts: unknown[]) =>
    coreOf(from).messenger.send({ type: 'invs', facts }, to.endpoint);

  it('a valid fact from a member is taken (the control case)', () => {
    const { net, nodes } = network(2);
    send(nodes[0], nodes[1], [signed(net, nodes[0])]);
    net.run();
    assert.equal(nodes[1].mesh!.sharedInvites().length, 1);
    assert.equal(nodes[1].mesh!.invitesRejected, 0);
  });

  it('forged, unsigned, malformed, oversized, by a non-member or by a removed member: dropped and counted', () => {
    const { net, nodes } = network(4);
    const [a, b, c, d] = nodes;
    const good = signed(net, a);
    const bad: unknown[] = [
      { ...good, x: good.x + 3600 }, // forged: changed after signing
      { ...good, s: undefined }, // unsigned
      { ...good, s: `${'A'.repeat(86)}==` }, // a signature that is not a's
      { ...signed(net, a), extra: 'x' }, // an unknown field
      signed(net, a, { u: INVITE_MAX_USES + 1 }), // more uses than an invitation may have
      signed(net, a, { x: nowSec(net) + 400 * 86400 }), // valid for longer than 30 days
      signed(net, a, { k: 'short' }),
      null,
      42,
      'inv',
      [],
      { t: 'use', by: kb(a), i: 'zz', a: '', v: -1, s: '' },
      { t: 'nope' },
    ];
    for (const f of bad) send(c, b, [f]);
    net.run();
    assert.equal(b.mesh!.sharedInvites().length, 0);
    assert.equal(b.mesh!.invitesRejected, bad.length);
    // x holds the network secret (an old invitation's, say) but never joined: no record, refused.
    const x = net.add('x', key(40), 40);
    x.joinMesh(net0, [], 41);
    send(x, b, [signed(net, x)]);
    net.run();
    assert.equal(b.mesh!.sharedInvites().length, 0);
    assert.equal(b.mesh!.invitesRejected, bad.length + 1);
    // Nor does x get the invitations b holds (their keys admit a machine) by asking for a comparison.
    const held = signed(net, a);
    send(a, b, [held]);
    net.run();
    assert.equal(b.mesh!.sharedInvites().length, 1);
    let toX = 0;
    net.filter = (dg) => {
      if (dg.sender === b && dg.to.address === x.endpoint.address && dg.to.port === x.endpoint.port) toX++;
      return true;
    };
    coreOf(x).messenger.send({ type: 'invd', digest: 'differs', reply: false }, b.endpoint);
    net.run();
    net.filter = () => true;
    assert.equal(toX, 0, 'b answered a comparison from a key with no record');
    // d is removed by a; d's facts are refused from then on, also when a current member passes one on.
    assert.ok(a.mesh!.remove(kb(d)));
    net.advance(3000);
    assert.ok(b.mesh!.members.get(kb(d))?.removed);
    send(c, b, [signed(net, d, { ep: 1 })]);
    net.run();
    assert.deepEqual(
      b.mesh!.sharedInvites().map((i) => i.key),
      [held.k],
    );
    assert.equal(b.mesh!.invitesRejected, bad.length + 2);
    // more than 16 facts in one message: the whole message is dropped (a discovery message refused).
    const before = b.mesh!.counters.discoveryRejected;
    send(
      c,
      b,
      Array.from({ length: 17 }, () => ({})),
    );
    net.run();
    assert.equal(b.mesh!.counters.discoveryRejected, before + 1);
    assert.equal(b.mesh!.invitesRejected, bad.length + 2);
  });

  it('a member may have at most MESH_MAX_INVITES_PER_MEMBER open: more are dropped and counted', () => {
    const { net, nodes } = network(2);
    const [a, b] = nodes;
    for (let i = 0; i < MESH_MAX_INVITES_PER_MEMBER + 3; i++) send(a, b, [signed(net, a)]);
    net.run();
    assert.equal(b.mesh!.sharedInvites().length, MESH_MAX_INVITES_PER_MEMBER);
    assert.equal(b.mesh!.invitesRejected, 3);
    // a learned them back from b (the comparison of sets); a itself refuses to make more
    net.advance(1000);
    assert.equal(a.mesh!.sharedInvites().length, MESH_MAX_INVITES_PER_MEMBER);
    const inv = new Invites('home', secret, seededRandom(1));
    inv.shared = {
      create: (k, c, e, u) => a.mesh!.createInvite(k, c, e, u),
      use: () => {},
      revoke: () => false,
      view: () => a.mesh!.sharedInvites(),
    };
    assert.throws(
      () => inv.create(600, nowSec(net), [a.endpoint]),
      /too many invitations: a member may have 16 open/,
    );
    // a revoked one is no longer open: one more can be made
    assert.ok(a.mesh!.revokeInvite(a.mesh!.sharedInvites()[0].id));
    assert.match(inv.create(600, nowSec(net), [a.endpoint]).id, /^[0-9a-f]{8}$/);
    assert.equal(a.mesh!.sharedInvites().length, MESH_MAX_INVITES_PER_MEMBER + 1);
  });
});

describe('join budget', () => {
  it('beyond 100 ms of reading join datagrams in a second, the rest of that second is dropped unread', () => {
    const b = new JoinBudget();
    let read = 0;
    for (let t = 0; t < 1000; t += 1)
      if (b.allow(5000 + t)) {
        read++;
        b.spent(1); // each costs 1 ms (a flood at 64 invitations)
      }
    assert.equal(read, 100);
    assert.equal(b.dropped, 900);
    // the next second starts again; cheap datagrams (a normal joiner) are all read
    for (let t = 0; t < 1000; t += 10) {
      assert.ok(b.allow(6000 + t));
      b.spent(0.03);
    }
    assert.equal(b.dropped, 900);
  });
});
