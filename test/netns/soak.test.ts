// A short soak in every test run (test/lib/soak-scenario.ts; `npm run soak` runs the 10-minute one): two nodes
// under iperf3 load in both directions plus a six-node mesh with a member restarted every 20 s.
// Memory (node + helper) and open file descriptors of the loaded node stay flat, and its counters
// show no packet dropped for a bug.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { netnsSkipReason } from '../lib/netns';
import { assertDataPath } from '../lib/peermesh-proc';
import { formatSoak, runSoak } from '../lib/soak-scenario';

const skip = netnsSkipReason();
const SECS = Number(process.env.PEERMESH_SOAK_SECS) || 60;

describe('soak', { skip: skip ?? false }, () => {
  it(`${SECS} s of load and churn: RSS and fds stay flat, no drops for a bug`, async () => {
    const r = await runSoak(SECS);
    process.stdout.write(`# ${formatSoak(r).trimEnd().replace(/\n/g, '\n# ')}\n`);
    assertDataPath(r.path);
    assert.ok(r.transferredGB > 0.5, `only ${r.transferredGB} GB moved`);
    assert.ok(r.churnRestarts >= 2, `${r.churnRestarts} restarts`);
    // after warm-up, growth within noise of the allocator and the young generation
    assert.ok(
      r.rssEndKiB - r.rssStartKiB < 16 * 1024,
      `RSS grew ${((r.rssEndKiB - r.rssStartKiB) / 1024).toFixed(1)} MiB`,
    );
    assert.ok(Math.abs(r.fdsEnd - r.fdsStart) <= 2, `fds ${r.fdsStart} -> ${r.fdsEnd}`);
    // every one of these counters is in a node's status: a missing one fails (undefined is not 0)
    const c = r.counters;
    for (const k of ['invalid', 'replayed', 'wrongSource', 'stagedDropped'])
      assert.equal(c[k], 0, `${k}: ${c[k]}`);
  });
});
