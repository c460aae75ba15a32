// The first packet between every pair of a quiet 100-member network in the deterministic simulator
// (test/lib/mesh-scenario.ts: the real Mesh and Device code on a virtual clock; a third of the
// members public, a third behind cone NATs, a third behind symmetric NATs; 20 ms one way). A pair's
// first packet starts its path (on demand: the network is larger than MESH_EAGER_MAX) and its
// WireGuard handshake; it is sent again every second until it arrives, like a ping.
//
// Guards three causes of waits found in this very run (docs/mesh.md "Known limits"): a member that
// started sessions with more than 64 members within a second put itself "under load" with their
// answers and sent them cookie replies (35 pairs of n0 at 5.1 s); a handshake through a relay that
// had not yet confirmed the sender was sent again only after 5 s in a large network (24 pairs to one
// symmetric member at 5.2-5.4 s); a member probing one behind a symmetric NAT did not ping back the
// port that member's hello came from while its own probes to the wrong ports were out, in a large
// network (152 public -> symmetric pairs at 2.2-3.4 s, waiting for the relay). Before: p90 240 ms,
// max 6.2 s; now p90 160 ms, max 2.3 s (a few cone -> symmetric pairs, relayed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runMeshSim } from '../lib/mesh-scenario';

describe('first packets in a 100-member network (simulator)', () => {
  it('pairs without a symmetric NAT within 1 s, every pair within 3 s, nine in ten within 0.25 s', () => {
    const r = runMeshSim(100, { steady: false, limitS: 60 });
    process.stdout.write(`# ${JSON.stringify(r.byKind)}\n`);
    assert.equal(r.delivered, r.pairs, `${r.pairs - r.delivered} pairs never got a packet across`);
    for (const [kind, k] of Object.entries(r.byKind)) {
      if (kind.includes('symmetric')) continue;
      assert.ok(k.max >= 0 && k.max < 1000, `${kind}: slowest first packet ${k.max} ms`);
    }
    assert.ok(r.firstPacketMaxMs !== null && r.firstPacketMaxMs < 3000, `max ${r.firstPacketMaxMs} ms`);
    assert.ok(r.firstPacketP90Ms !== null && r.firstPacketP90Ms <= 250, `p90 ${r.firstPacketP90Ms} ms`);
  });
});
