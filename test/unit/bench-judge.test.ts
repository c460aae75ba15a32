// `npm run bench` judges PeerMesh against the best of the VPNs in the same run (issue 18): the
// judgement itself, on rows as the lab prints them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuPerGbit, judge, judgeNat, parseLabTable, parseNatTable } from '../../bench/bench';

const TABLE = `## Summary

| VPN | first ping (s) | A→B Mbit/s | B→A Mbit/s | RTT p50 (ms) | RTT p99 (ms) | ping loss | CPU% A/B (A→B) | CPU% A/B (B→A) | peak RSS A/B MiB | pkts at P (A→B) |
|---|---|---|---|---|---|---|---|---|---|---|
| raw | 0.139 | 12091 | 12528 | 0.057 | 0.148 | 0% | -/- | -/- | - | 0 |
| wireguard-go | 0.390 | 357 | 374 | 0.650 | 1.690 | 0% | 81/77 | 80/80 | 49.5/36.3 | 0 |
| fastd | 0.275 | 497 | 473 | 0.456 | 0.630 | 0% | 80/66 | 67/83 | 3.8/3.8 | 0 |
| tinc | 0.218 | 433 | 434 | 0.462 | 0.809 | 0% | 89/72 | 72/90 | 6.1/6.1 | 0 |
| lab-driver | 0.318 | 1100 | 900 | 0.319 | 0.746 | 0% | 90/60 | 60/90 | 63.3/63.0 | 0 |
`;

describe('bench: the issue targets, judged on one run', () => {
  it('2x the best peer each way (fastd here), p50 against the best p50, CPU per Gbit/s for every row', () => {
    const rows = parseLabTable(TABLE);
    assert.equal(rows.length, 5);
    assert.equal(cpuPerGbit('80/66', 497), 2.94);
    assert.equal(cpuPerGbit('-/-', 12091), null);
    const t = Object.fromEntries(judge(rows).map((x) => [x.name, x]));
    const ab = t['throughput A→B >= 2x the best of wireguard-go, fastd, tinc'];
    assert.equal(ab.pass, true, ab.detail); // 1100 >= 2 x 497
    assert.match(ab.detail, /\(fastd\): 2\.21x/);
    const ba = t['throughput B→A >= 2x the best of wireguard-go, fastd, tinc'];
    assert.equal(ba.pass, false, ba.detail); // 900 < 2 x 473
    assert.equal(t['ping p50 <= the best of wireguard-go, fastd, tinc'].pass, true);
    // PeerMesh 1.36 CPU s/Gbit A→B against fastd's 2.94: lower than every peer's
    assert.equal(t["CPU s per Gbit/s A→B lower than every peer's"].pass, true);
    assert.equal(t['peak RSS per node < 100 MB (node + helper)'].pass, true);
  });

  it("without peers in the run only PeerMesh's own targets are judged", () => {
    const rows = parseLabTable(TABLE).filter((r) => r.vpn === 'lab-driver' || r.vpn === 'raw');
    assert.deepEqual(
      judge(rows).map((x) => x.name),
      ['ping p99 < 2 ms', 'peak RSS per node < 100 MB (node + helper)'],
    );
  });
});

// natcheck.sh's summary (issue 17's first-ping targets), as the lab prints it.
const NAT_CONE = `## Summary

| VPN | NAT | A reaches B | first ping (s) | path at first ping | path after 2s | pings ok |
|---|---|---|---|---|---|---|
| tinc | cone | yes | 0.061 | relayed via P | direct | 20/20 |
| lab-driver | cone | yes | 0.193 | mixed (ra↔rb 47, ra↔p 10 pkts) | direct | 20/20 |
`;
const NAT_SYM = `| VPN | NAT | A reaches B | first ping (s) | path at first ping | path after 2s | pings ok |
|---|---|---|---|---|---|---|
| lab-driver | symmetric | yes | 0.532 | relayed via P | relayed via P | 20/20 |
| n2n | symmetric | no | - | - | - | - |
`;

describe("bench: the NAT check's first-ping targets", () => {
  it('cone < 0.2 s and direct after settling, symmetric < 0.5 s; other VPNs are not judged', () => {
    const rows = [...parseNatTable(NAT_CONE), ...parseNatTable(NAT_SYM)];
    assert.equal(rows.length, 4);
    assert.equal(rows[3].firstPingS, null);
    const t = Object.fromEntries(judgeNat(rows).map((x) => [x.name, x]));
    assert.deepEqual(Object.keys(t), [
      'first ping across cone NATs < 0.2 s',
      'path across cone NATs direct after settling',
      'first ping across symmetric NATs < 0.5 s',
    ]);
    assert.equal(t['first ping across cone NATs < 0.2 s'].pass, true); // 0.193
    assert.equal(t['path across cone NATs direct after settling'].pass, true);
    assert.equal(t['first ping across symmetric NATs < 0.5 s'].pass, false); // 0.532
    assert.deepEqual(judgeNat(rows.filter((r) => r.vpn === 'tinc')), []);
  });
});
