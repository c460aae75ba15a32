// Mesh convergence and control traffic, in the deterministic simulator (the real Mesh and Device
// code, in one process, on a virtual clock): N nodes — a third public, a third behind cone NATs, a
// third behind symmetric NATs; a few public ones relay — join through one public node, 20 ms one-way
// latency. Reports the simulated time until every node holds every record, until every pair has a
// path (direct or relayed), how many pairs went direct, and the discovery traffic per node per
// second in the 11th minute (steady state). Pairs are checked exhaustively up to 200 nodes, sampled above.
//   node dist/bench/mesh-sim.js [N ...] [--json]       (default: 10 100)
import nacl from 'tweetnacl';
import { networkKeys } from '../main/core/mesh';
import { SimNet, type SimNode, seededRandom } from '../test/lib/sim';

export interface MeshSimResult {
  nodes: number;
  membershipS: number | null;
  pathsS: number | null;
  pairsChecked: number;
  directPct: number;
  steadyBytesPerNodePerS: number;
  steadyMsgsPerNodePerS: number;
  wallS: number;
}

export function runMeshSim(n: number, limitS = 60): MeshSimResult {
  const t0 = Date.now();
  const rnd = seededRandom(n * 7919);
  const net = new SimNet();
  net.latency = 20;
  const network = networkKeys('bench', new TextEncoder().encode('a secret for the simulator'));
  const nodes: SimNode[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i === 0 ? 'public' : (['public', 'cone', 'symmetric'] as const)[rnd(1)[0] % 3];
    const key = nacl.box.keyPair.fromSecretKey(rnd(32)).secretKey;
    const node = net.add(`n${i}`, key, i + 1, undefined, kind === 'public' ? {} : { nat: kind });
    nodes.push(node);
  }
  for (const [i, node] of nodes.entries()) {
    const isPublic = !node.nat;
    node.joinMesh(network, i === 0 ? [] : [nodes[0].endpoint], 10_000 + i, {
      relay: isPublic && i % 4 === 0,
    });
  }
  const start = net.now;
  const all = n - 1;
  const pairs: [SimNode, SimNode][] = [];
  if (n <= 200) {
    for (const a of nodes) for (const b of nodes) if (a !== b) pairs.push([a, b]);
  } else {
    for (let i = 0; i < 5000; i++) {
      const r = rnd(4);
      const a = nodes[((r[0] << 8) | r[1]) % n];
      const b = nodes[((r[2] << 8) | r[3]) % n];
      if (a !== b) pairs.push([a, b]);
    }
  }
  let membershipS: number | null = null;
  let pathsS: number | null = null;
  while (net.now - start < limitS * 1000 && pathsS === null) {
    net.advance(100, 20);
    const t = (net.now - start) / 1000;
    if (membershipS === null && nodes.every((x) => countRecords(x) === all)) membershipS = t;
    if (membershipS !== null && pairs.every(([a, b]) => hasPath(a, b))) pathsS = t;
  }
  const direct = pairs.filter(
    ([a, b]) => a.mesh!.members.get(b.device.publicKeyB64)?.path === 'direct',
  ).length;
  // steady state: the minute after ten simulated minutes
  net.advance(600_000, 200);
  const before = nodes.map((x) => ({ ...x.mesh!.counters }));
  net.advance(60_000, 100);
  let bytes = 0;
  let msgs = 0;
  for (const [i, x] of nodes.entries()) {
    bytes += x.mesh!.counters.sentBytes - before[i].sentBytes;
    msgs += x.mesh!.counters.sent - before[i].sent;
  }
  return {
    nodes: n,
    membershipS,
    pathsS,
    pairsChecked: pairs.length,
    directPct: Math.round((100 * direct) / pairs.length),
    steadyBytesPerNodePerS: Math.round(bytes / n / 60),
    steadyMsgsPerNodePerS: Math.round((msgs / n / 60) * 100) / 100,
    wallS: Math.round((Date.now() - t0) / 100) / 10,
  };
}

function countRecords(x: SimNode): number {
  let c = 0;
  for (const m of x.mesh!.members.values()) if (m.rec) c++;
  return c;
}

function hasPath(a: SimNode, b: SimNode): boolean {
  const p = a.mesh!.members.get(b.device.publicKeyB64)?.path;
  return p === 'direct' || p === 'relayed';
}

function main(): void {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const sizes = args.filter((a) => /^\d+$/.test(a)).map(Number);
  const results = (sizes.length ? sizes : [10, 100]).map((n) => runMeshSim(n));
  if (json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const f = (v: number | null) => (v === null ? 'not within limit' : `${v.toFixed(1)} s`);
  process.stdout.write(
    '\nMesh simulator (1/3 public, 1/3 cone NAT, 1/3 symmetric NAT; 20 ms one-way; simulated time)\n' +
      '| nodes | all records | all pairs have a path | pairs direct | control traffic / node / s | wall time |\n' +
      '|---|---|---|---|---|---|\n',
  );
  for (const r of results)
    process.stdout.write(
      `| ${r.nodes} | ${f(r.membershipS)} | ${f(r.pathsS)} (${r.pairsChecked} pairs) | ${r.directPct} % | ` +
        `${r.steadyBytesPerNodePerS} B (${r.steadyMsgsPerNodePerS} msgs) | ${r.wallS} s |\n`,
    );
}

if (require.main === module) main();
