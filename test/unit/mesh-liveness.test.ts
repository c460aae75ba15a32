// What a node says about other members is true (issue 17), in the in-process network with a virtual
// clock: a member that stops answering goes offline within 30 s (and is never online at a node that
// joins later), a direct path that stops answering one way goes relayed within seconds while traffic
// flows and back to direct without a new handshake, a relayed member is online only while it answers
// through the relay, and no overlay address is ever an endpoint.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MESH_ONLINE_WINDOW } from '../../main/core/constants';
import { memberAddresses } from '../../main/core/mesh';
import { key, net0 } from '../lib/mesh-fixtures';
import { ipv4Packet, type SimDatagram, SimNet, type SimNode } from '../lib/sim';

const v4 = (n: SimNode) => memberAddresses(net0, n.publicKey).v4;
const k = (n: SimNode) => n.device.publicKeyB64;

/** Simulated ms until `cond` holds (stepping `step` ms), or -1 after `limit` ms. */
function timeUntil(net: SimNet, cond: () => boolean, limit: number, step = 10, each?: () => void): number {
  const start = net.now;
  while (net.now - start < limit) {
    if (cond()) return net.now - start;
    each?.();
    net.advance(step, Math.min(step, 10));
  }
  return -1;
}

/** n public nodes, each bootstrapping from the first; P (the first) relays. */
function lab(n: number): { net: SimNet; nodes: SimNode[] } {
  const net = new SimNet();
  net.latency = 5;
  net.tickInterval = 100;
  const nodes: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const node = net.add(`n${i}`, key(i + 1), 100 + i);
    node.joinMesh(net0, i === 0 ? [] : [nodes[0].endpoint], 200 + i, { relay: i === 0 });
    nodes.push(node);
  }
  net.advance(5_000, 10);
  return { net, nodes };
}

/** Two members behind NATs of `type` and a public relaying member P, all joined. */
function natLab(type: 'cone' | 'symmetric') {
  const net = new SimNet();
  net.latency = 10;
  net.tickInterval = 100;
  const p = net.add('p', key(1), 1);
  p.joinMesh(net0, [], 1, { relay: true });
  const a = net.add('a', key(2), 2, undefined, { nat: type });
  a.joinMesh(net0, [p.endpoint], 2);
  const b = net.add('b', key(3), 3, undefined, { nat: type });
  b.joinMesh(net0, [p.endpoint], 3);
  net.advance(5_000, 10);
  return { net, p, a, b };
}

describe('liveness: online means answered recently', () => {
  it('a killed member is offline at every other member within 30 s, and never online at a node that joins later', () => {
    const { net, nodes } = lab(4);
    const [p, a, b, victim] = nodes;
    for (const n of [p, a, b]) assert.ok(n.mesh!.isOnline(k(victim)), `${n.name}: victim online before`);
    victim.down = true; // kill -9: no goodbye
    const t = timeUntil(net, () => [p, a, b].every((n) => !n.mesh!.isOnline(k(victim))), 60_000, 100);
    assert.ok(t >= 0 && t <= 30_000, `offline everywhere after ${t} ms`);
    for (const n of [p, a, b]) assert.notEqual(n.mesh!.members.get(k(victim))?.path, 'direct');
    // A node joining now learns the victim's record, but never sees it online.
    const late = net.add('late', key(9), 109);
    late.joinMesh(net0, [p.endpoint], 209);
    let everOnline = false;
    timeUntil(
      net,
      () => false,
      60_000,
      100,
      () => {
        if (late.mesh!.isOnline(k(victim)) || late.mesh!.members.get(k(victim))?.path === 'direct')
          everOnline = true;
      },
    );
    assert.ok(late.mesh!.members.get(k(victim))?.rec, 'the late node has the victim record');
    assert.equal(everOnline, false, 'the late node showed the dead member online');
    assert.ok(late.mesh!.isOnline(k(a)), 'while the living members are online at it');
  });

  it('a member that says goodbye is offline at once', () => {
    const { net, nodes } = lab(3);
    const [p, a, b] = nodes;
    b.mesh!.leave();
    b.down = true;
    net.advance(200, 10);
    assert.equal(p.mesh!.isOnline(k(b)), false);
    assert.equal(a.mesh!.isOnline(k(b)), false);
  });

  it('a direct path blocked one way goes relayed within 10 s with traffic flowing, and back to direct without a new handshake', () => {
    const { net, a, b } = natLab('cone');
    const ab = () => a.mesh!.members.get(k(b))!;
    const ba = () => b.mesh!.members.get(k(a))!;
    assert.ok(timeUntil(net, () => ab().path === 'direct' && ba().path === 'direct', 10_000) >= 0);
    // Traffic both ways every 200 ms, like a ping.
    let seq = 0;
    const got = { a: 0, b: 0 };
    const ping = () => {
      seq++;
      a.send(ipv4Packet(v4(a), v4(b), `ping ${seq}`));
      b.send(ipv4Packet(v4(b), v4(a), `pong ${seq}`));
    };
    const countA = a.tunOut.length;
    const countB = b.tunOut.length;
    timeUntil(net, () => false, 2_000, 200, ping);
    assert.ok(b.tunOut.length > countB && a.tunOut.length > countA, 'traffic flows before the block');
    const handshakes = a.events.filter((e) => e.type === 'handshake').length;
    // A firewall at B's side drops everything from A's NAT: A still hears B, B hears nothing of A.
    let block = true;
    const blocked = (d: SimDatagram) => block && d.sender === a && d.to.address === b.nat!.publicAddress;
    net.filter = (d) => !blocked(d);
    const t = timeUntil(net, () => ab().path === 'relayed' && ba().path === 'relayed', 20_000, 200, ping);
    assert.ok(t >= 0 && t <= 10_000, `relayed after ${t} ms`);
    // Pings flow through the relay.
    got.a = a.tunOut.length;
    got.b = b.tunOut.length;
    timeUntil(net, () => false, 2_000, 200, ping);
    // (10 each way in 2 s: all of them, also those right after the switch, when the side that still
    // hears the other directly must not be pulled back onto the dead way.)
    assert.ok(b.tunOut.length - got.b >= 9, `B got ${b.tunOut.length - got.b} pings through the relay`);
    assert.ok(a.tunOut.length - got.a >= 9, `A got ${a.tunOut.length - got.a} pongs through the relay`);
    assert.ok(a.mesh!.isOnline(k(b)) && b.mesh!.isOnline(k(a)), 'online while relayed');
    block = false;
    const back = timeUntil(net, () => ab().path === 'direct' && ba().path === 'direct', 60_000, 200, ping);
    assert.ok(back >= 0, 'never back to direct');
    got.b = b.tunOut.length;
    timeUntil(net, () => false, 1_000, 200, ping);
    assert.ok(b.tunOut.length > got.b, 'traffic flows on the direct path');
    assert.notEqual(a.device.getPeer(k(b))?.endpoint?.kind, 'relay');
    assert.equal(
      a.events.filter((e) => e.type === 'handshake').length,
      handshakes,
      'the session was rebuilt (a relay move must keep it)',
    );
  });

  it('an idle direct path that stops answering is dead within 30 s', () => {
    const { net, a, b } = natLab('cone');
    const ab = () => a.mesh!.members.get(k(b))!;
    assert.ok(timeUntil(net, () => ab().path === 'direct', 10_000) >= 0);
    net.filter = (d) => !(d.sender === a && d.to.address === b.nat!.publicAddress);
    const t = timeUntil(net, () => ab().path !== 'direct', 60_000, 100);
    assert.ok(t >= 0 && t <= 30_000, `direct path dead after ${t} ms`);
  });

  it('a relayed member that stops is offline within 30 s (a relayed path is only as alive as its answers)', () => {
    const { net, p, a, b } = natLab('symmetric');
    const ab = () => a.mesh!.members.get(k(b))!;
    assert.ok(timeUntil(net, () => ab().path === 'relayed', 10_000) >= 0, 'not relayed');
    a.send(ipv4Packet(v4(a), v4(b), 'hello through the relay'));
    net.advance(500, 10);
    assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'hello through the relay');
    assert.ok(a.mesh!.isOnline(k(b)), 'B answered through the relay: online');
    b.mesh!.leave();
    b.down = true;
    net.advance(200, 10);
    assert.equal(p.mesh!.isOnline(k(b)), false, 'the relay saw it leave');
    const t = timeUntil(net, () => !a.mesh!.isOnline(k(b)), 60_000, 100);
    assert.ok(t >= 0 && t <= MESH_ONLINE_WINDOW, `offline at A after ${t} ms`);
  });

  it('never advertises, learns or probes an endpoint inside an overlay range', () => {
    const { net, nodes } = lab(3);
    const [p, a, c] = nodes;
    // C's machine has an address on a PeerMesh interface: not in its record.
    c.mesh!.setLocalEndpoints([
      c.endpoint,
      { address: v4(a), port: 51820 },
      { address: '100.100.1.2', port: 7000 },
    ]);
    net.advance(3_000, 10);
    const rec = p.mesh!.members.get(k(c))!.rec!;
    assert.ok(
      rec.e.every((e) => !e.startsWith('100.')),
      `C advertises ${rec.e.join(', ')}`,
    );
    // Everything C sends to A now arrives from an overlay address (through some tunnel).
    const sentToOverlay: string[] = [];
    net.filter = (d) => {
      if (d.sender === c && d.to.address === a.endpoint.address)
        d.from = { address: '100.70.0.5', port: 7000 };
      if (d.to.address.startsWith('100.')) sentToOverlay.push(`${d.sender?.name} -> ${d.to.address}`);
      return true;
    };
    net.advance(70_000, 50);
    const ac = a.mesh!.members.get(k(c))!;
    assert.ok(!ac.direct?.address.startsWith('100.'), `A: C direct at ${ac.direct?.address}`);
    assert.deepEqual(sentToOverlay, [], 'datagrams sent to overlay addresses');
  });
});
