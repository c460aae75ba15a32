// The first packet between every pair of a quiet 100-member network in the deterministic simulator
// (test/lib/mesh-scenario.ts: the real Mesh and Device code on a virtual clock; a third of the
// members public, a third behind cone NATs, a third behind symmetric NATs; 20 ms one way). A pair's
// first packet starts its path (on demand: the network is larger than MESH_EAGER_MAX) and its
// WireGuard handshake; it is sent again every second until it arrives, like a ping.
//
// Guards two causes of a 5 s wait (WireGuard's handshake retry) found in this very run: a member that
// started sessions with more than 64 members within a second put itself "under load" with their
// answers and sent them cookie replies (35 pairs of n0 at 5.1 s); a handshake through a relay that
// had not yet confirmed the sender was sent again only after 5 s in a large network (24 pairs to one
// symmetric member at 5.2-5.4 s; 39 pairs over 4 s then, 4 now). What is still slow involves
// symmetric NATs (docs/mesh.md "Known limits"), so the bound for those pairs is looser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runMeshSim } from '../lib/mesh-scenario';

describe('first packets in a 100-member network (simulator)', () => {
  it('pairs without a symmetric NAT within 1 s, at most 10 pairs over 4 s, nine in ten within 0.5 s', () => {
    const r = runMeshSim(100, { steady: false, limitS: 60 });
    process.stdout.write(`# ${JSON.stringify(r.byKind)}\n`);
    assert.equal(r.delivered, r.pairs, `${r.pairs - r.delivered} pairs never got a packet across`);
    for (const [kind, k] of Object.entries(r.byKind)) {
      if (kind.includes('symmetric')) continue;
      assert.ok(k.max >= 0 && k.max < 1000, `${kind}: slowest first packet ${k.max} ms`);
    }
    // 4 of 9,900 here (before the relayed retry in large networks: 39, at 4.5-5.4 s).
    const over4s = Object.values(r.byKind).reduce((n, k) => n + k.over4s, 0);
    assert.ok(over4s <= 10, `${over4s} pairs over 4 s`);
    assert.ok(r.firstPacketP90Ms !== null && r.firstPacketP90Ms <= 500, `p90 ${r.firstPacketP90Ms} ms`);
  });
});
