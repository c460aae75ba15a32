// Mesh membership in the in-process network: joining with only the network name, secret and one
// bootstrap address; a chain of joins becomes a full mesh; non-members and replays get nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { MSG_MESH } from '../../main/core/constants';
import { memberAddresses, networkKeys } from '../../main/core/mesh';
import { ipv4Packet, type SimDatagram, SimNet, type SimNode } from '../lib/sim';

const secret = new TextEncoder().encode('correct horse battery staple');
const net0 = networkKeys('home', secret);
const key = (i: number) => nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(i)).secretKey;

/** n nodes joining one after the other, each bootstrapping from the previous one only. */
function chain(net: SimNet, n: number): SimNode[] {
  const nodes: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const node = net.add(`n${i}`, key(i + 1), 100 + i);
    node.joinMesh(net0, i === 0 ? [] : [nodes[i - 1].endpoint], 200 + i);
    nodes.push(node);
    net.advance(300);
  }
  return nodes;
}

function v4(n: SimNode): string {
  return memberAddresses(net0, n.publicKey).v4;
}

describe('mesh membership', () => {
  it('derives stable addresses inside 100.64.0.0/10 and a per-network ULA', () => {
    const k = nacl.box.keyPair.fromSecretKey(key(1)).publicKey;
    const a = memberAddresses(net0, k);
    assert.deepEqual(memberAddresses(networkKeys('home', secret), k), a);
    assert.match(a.v4, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/);
    assert.match(a.v6, /^fd[0-9a-f]{2}:/);
    assert.notEqual(memberAddresses(networkKeys('work', secret), k).v6.slice(0, 14), a.v6.slice(0, 14));
  });

  it('six nodes joining in a chain (each knows only the previous one) form a full mesh', () => {
    const net = new SimNet();
    const nodes = chain(net, 6);
    net.advance(5000);
    for (const n of nodes) assert.equal(n.mesh!.members.size, 5, `${n.name} knows ${n.mesh!.members.size}`);
    // every pair carries data through a WireGuard session
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        a.send(ipv4Packet(v4(a), v4(b), `${a.name}->${b.name}`));
        net.run();
        assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), `${a.name}->${b.name}`);
      }
    }
  });

  it('the remaining members keep working when the first two nodes leave', () => {
    const net = new SimNet();
    const nodes = chain(net, 5);
    net.advance(3000);
    const gone = new Set([nodes[0].endpoint, nodes[1].endpoint]);
    net.filter = (d) => !gone.has(d.to) && !gone.has(d.from);
    net.advance(200_000, 1000); // sessions expire and are re-established among the survivors
    const rest = nodes.slice(2);
    for (const a of rest) {
      for (const b of rest) {
        if (a === b) continue;
        a.send(ipv4Packet(v4(a), v4(b), 'still here'));
        net.advance(200);
        assert.equal(b.tunOut.at(-1)?.subarray(28).toString(), 'still here');
      }
    }
  });

  it('a node with the wrong secret gets no reply at all, and learns nothing', () => {
    const net = new SimNet();
    const member = net.add('m', key(1), 1);
    member.joinMesh(net0, [], 1);
    const outsider = net.add('x', key(2), 2);
    outsider.joinMesh(networkKeys('home', new TextEncoder().encode('wrong')), [member.endpoint], 2);
    const toOutsider: SimDatagram[] = [];
    net.filter = (d) => {
      if (d.to === outsider.endpoint) toOutsider.push(d);
      return true;
    };
    net.advance(10_000);
    assert.equal(toOutsider.length, 0);
    assert.equal(member.mesh!.members.size, 0);
    assert.ok(member.mesh!.counters.discoveryRejected > 0);
  });

  it('refuses replayed discovery messages', () => {
    const net = new SimNet();
    const a = net.add('a', key(1), 1);
    a.joinMesh(net0, [], 1);
    const b = net.add('b', key(2), 2);
    b.joinMesh(net0, [a.endpoint], 2);
    let hello: SimDatagram | null = null;
    net.filter = (d) => {
      if (d.to === a.endpoint && d.bytes[0] === MSG_MESH && !hello) hello = d;
      return true;
    };
    net.advance(1000);
    assert.ok(hello);
    const replies = net.queue.length;
    net.deliver(hello); // replay from the same address
    net.deliver({ ...(hello as SimDatagram), from: { address: '198.18.0.77', port: 1 } }); // and spoofed
    assert.equal(net.queue.length, replies);
    assert.equal(a.mesh!.counters.replays, 2);
  });
});
