// Mesh convergence and control traffic in the deterministic simulator (the real Mesh and Device code in
// one process, on a virtual clock). N nodes — a third public, a third behind cone NATs, a third behind
// symmetric NATs; every fourth public one relays — start 10 ms apart and join through the first node;
// 20 ms one-way latency;
// optional random loss on every datagram and churn (members leave, new ones join through a random member).
//
// Reported (simulated time):
// - records: from the start of the last node until every node holds the record of every member;
// - first packet: pairs of members send each other a packet over the overlay (every pair up to 100
//   nodes, a seeded sample above; the pairs start spread over 10 s); the time from the first send
//   (repeated every second, like a ping)
//   until the packet comes out of the other side's TUN (this includes making the path on demand and
//   the WireGuard handshake), its median and maximum, and how many pairs went direct;
// - control traffic per node per second in a quiet minute after ten simulated minutes.
// Run by test/sim/mesh-scale.test.ts and by the benchmark bench/mesh-sim.ts.
import nacl from 'tweetnacl';
import type { Endpoint } from '../../main/core/device';
import { networkKeys } from '../../main/core/mesh';
import { internRecords, ipv4Packet, memoVerify, SimNet, type SimNode, seededRandom } from './sim';

const JOIN_GAP_MS = 10;
const PAIR_SPREAD_MS = 10_000;

export interface MeshSimOptions {
  /** Random loss of every datagram, 0..1. */
  loss?: number;
  /** Share of members that leave after the first convergence, replaced by as many new ones. */
  churn?: number;
  /** Pairs to test above 100 nodes. */
  samplePairs?: number;
  limitS?: number;
  /** Measure steady control traffic (ten quiet simulated minutes more); default true. */
  steady?: boolean;
}

export interface MeshSimResult {
  nodes: number;
  loss: number;
  churn: number;
  recordsS: number | null;
  churnRecordsS: number | null;
  pairs: number;
  delivered: number;
  firstPacketP50Ms: number | null;
  firstPacketP90Ms: number | null;
  firstPacketMaxMs: number | null;
  /**
   * First packets by the two members' kinds and the path at the end ("public->cone direct"): pairs,
   * p50 and max ms (-1: never arrived), pairs over 2 s and over 4 s.
   */
  byKind: Record<string, { n: number; p50: number; max: number; over2s: number; over4s: number }>;
  directPct: number;
  steadyBytesPerNodePerS: number;
  steadyMsgsPerNodePerS: number;
  /** Discovery messages sent per node from the first start to the end of the first-packet phase. */
  msgsMedian: number;
  /** ... by the busiest node (the bootstrap node everyone joined through, typically). */
  msgsBusiest: number;
  wallS: number;
  /** Wall seconds per phase: joins, records, churn, first packets. */
  phaseWallS: { join: number; records: number; churn: number; pairs: number };
}

export function runMeshSim(n: number, o: MeshSimOptions = {}): MeshSimResult {
  const t0 = Date.now();
  const loss = o.loss ?? 0;
  const churn = o.churn ?? 0;
  const limitMs = (o.limitS ?? 60) * 1000;
  const rnd = seededRandom(n * 7919 + Math.round(loss * 1000) + Math.round(churn * 100_000));
  const u32 = () => {
    const r = rnd(4);
    return ((r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]) >>> 0;
  };
  const net = new SimNet();
  net.latency = 20;
  net.tickInterval = 100; // like the real node's timer
  if (loss > 0) net.filter = () => u32() / 0x100000000 >= loss;
  const network = networkKeys('bench', new TextEncoder().encode('a secret for the simulator'));
  const nodes: SimNode[] = [];
  const verify = memoVerify();
  const intern = internRecords();
  let made = 0;
  const addNode = (bootstrap: Endpoint[]): SimNode => {
    const i = made++;
    const kind = i === 0 ? 'public' : (['public', 'cone', 'symmetric'] as const)[u32() % 3];
    const key = nacl.box.keyPair.fromSecretKey(rnd(32)).secretKey;
    const node = net.add(`n${i}`, key, i + 1, undefined, kind === 'public' ? {} : { nat: kind });
    node.joinMesh(network, bootstrap, 10_000 + i, {
      relay: kind === 'public' && i % 4 === 0,
      verify,
      intern,
    });
    nodes.push(node);
    return node;
  };
  // Nodes start one after another (JOIN_GAP_MS apart, 10 s for a thousand), each through the first.
  addNode([]);
  for (let i = 1; i < n; i++) {
    net.advance(JOIN_GAP_MS, JOIN_GAP_MS);
    addNode([nodes[0].endpoint]);
  }

  const alive = () => nodes.filter((x) => !x.down);
  // Every node holds a record of every member that ever joined (records of members that left stay
  // until they age out, a week later): the count tells, checked fully once it matches.
  const recordsEverywhere = (set: SimNode[]) => {
    if (!set.every((x) => x.mesh!.memberCount === nodes.length - 1)) return false;
    const keys = nodes.map((x) => x.device.publicKeyB64);
    return set.every((x) => keys.every((k) => k === x.device.publicKeyB64 || x.mesh!.members.get(k)?.rec));
  };
  const until = (cond: () => boolean, step = 100): number | null => {
    const start = net.now;
    while (net.now - start < limitMs) {
      net.advance(step, 20);
      if (cond()) return (net.now - start) / 1000;
    }
    return null;
  };

  const phase: number[] = [Date.now()];
  const recordsS = until(() => recordsEverywhere(nodes));
  phase.push(Date.now());
  let churnRecordsS: number | null = null;
  if (churn > 0) {
    // Some members leave for good (not the first node, so the bootstrap stays findable for the
    // newcomers' first contact — they join through random running members anyway).
    const leaving = Math.round(n * churn);
    for (let k = 0; k < leaving; k++) {
      const live = alive().filter((x) => x !== nodes[0]);
      live[u32() % live.length].down = true;
    }
    for (let k = 0; k < leaving; k++) {
      const live = alive().filter((x) => !x.nat);
      addNode([live[u32() % live.length].endpoint]);
    }
    churnRecordsS = until(() => recordsEverywhere(alive()));
  }
  phase.push(Date.now());

  // First packets over the overlay between pairs of running members.
  const live = alive();
  const pairs: [SimNode, SimNode][] = [];
  if (live.length <= 100 && !o.samplePairs) {
    for (const a of live) for (const b of live) if (a !== b) pairs.push([a, b]);
  } else {
    const want = o.samplePairs ?? 2000;
    while (pairs.length < want) {
      const a = live[u32() % live.length];
      const b = live[u32() % live.length];
      if (a !== b) pairs.push([a, b]);
    }
  }
  // Like a ping (or a TCP SYN), a pair's packet is sent again every second until one arrives: with
  // loss, the packet itself may be lost after the path and session are up.
  const sentAt = new Map<string, number>();
  const arrived = new Map<string, number>();
  const tag = (i: number) => `pm-sim-pair-${i}`;
  const sendPair = (i: number) => {
    const [a, b] = pairs[i];
    const src = a.mesh!.addressesOf(a.device.publicKeyB64).v4;
    const dst = a.mesh!.addressesOf(b.device.publicKeyB64).v4;
    a.send(ipv4Packet(src, dst, tag(i), i & 0xffff));
  };
  // Pairs start spread over PAIR_SPREAD_MS (all at one instant, every node would get ~N handshakes
  // in the same second and WireGuard's cookie defence would rightly slow them down).
  const start = net.now;
  let started = 0;
  const startDue = () => {
    while (started < pairs.length && net.now >= start + (started * PAIR_SPREAD_MS) / pairs.length) {
      sendPair(started);
      sentAt.set(tag(started), net.now);
      started++;
    }
  };
  startDue();
  let lastResend = net.now;
  const seen = new Map<SimNode, number>();
  const collect = () => {
    for (const b of new Set(pairs.map((p) => p[1]))) {
      const from = seen.get(b) ?? 0;
      for (let j = from; j < b.tunOut.length; j++) {
        const text = b.tunOut[j].subarray(28).toString();
        if (sentAt.has(text) && !arrived.has(text)) arrived.set(text, net.now - sentAt.get(text)!);
      }
      seen.set(b, b.tunOut.length);
    }
    startDue();
    if (net.now - lastResend >= 1000) {
      lastResend = net.now;
      for (let i = 0; i < started; i++) if (!arrived.has(tag(i))) sendPair(i);
    }
    return arrived.size === pairs.length;
  };
  until(collect, 20);
  phase.push(Date.now());
  if (process.env.PM_SIM_SLOW) {
    for (const [i, [a, b]] of pairs.entries()) {
      const t = arrived.get(tag(i)) ?? 0;
      if (t < Number(process.env.PM_SIM_SLOW)) continue;
      const m = a.mesh!.members.get(b.device.publicKeyB64);
      process.stderr.write(
        `slow ${t} ms ${a.name}(${a.nat?.type ?? 'public'}) -> ${b.name}(${b.nat?.type ?? 'public'}) path=${m?.path} relay=${m?.relay?.slice(0, 6)} started=${sentAt.get(tag(i))! - start}\n`,
      );
    }
  }
  if (process.env.PM_SIM_DEBUG) {
    for (const [i, [a, b]] of pairs.entries()) {
      if (arrived.has(tag(i))) continue;
      const m = a.mesh!.members.get(b.device.publicKeyB64);
      const relay = m?.relay ? nodes.find((x) => x.device.publicKeyB64 === m.relay) : undefined;
      const peer = a.device.getPeer(b.device.publicKeyB64);
      process.stderr.write(
        `undelivered ${a.name}(${a.nat?.type ?? 'public'},hard=${a.mesh!.hard}) -> ${b.name}(${b.nat?.type ?? 'public'},hard=${b.mesh!.hard}) ` +
          `path=${m?.path} relay=${relay?.name} relayHasB=${!!relay?.mesh?.members.get(b.device.publicKeyB64)?.direct} ` +
          `bHr=${m?.rec?.hr.map((k) => nodes.find((x) => x.device.publicKeyB64 === k)?.name)} session=${!!peer?.current} ` +
          `bDown=${b.down} reverse=${b.mesh!.members.get(a.device.publicKeyB64)?.path} ` +
          `aDev=${JSON.stringify(a.device.counters)} bDev=${JSON.stringify(b.device.counters)} relayDropped=${relay?.mesh?.counters.relayDropped} relayed=${relay?.mesh?.counters.relayed} ` +
          `aPeerLastInit=${peer ? net.now - peer.lastInitiationSent : null} aStaged=${peer?.staged.length} bHasPeerA=${!!b.device.getPeer(a.device.publicKeyB64)}\n`,
      );
    }
  }
  const kind = (x: SimNode) => x.nat?.type ?? 'public';
  const hist = new Map<string, number[]>();
  for (const [i, [a, b]] of pairs.entries()) {
    const t = arrived.get(tag(i)) ?? -1;
    const k = `${kind(a)}->${kind(b)} ${a.mesh!.members.get(b.device.publicKeyB64)?.path}`;
    hist.set(k, [...(hist.get(k) ?? []), t]);
  }
  const byKind: MeshSimResult['byKind'] = {};
  for (const [k, ts] of [...hist].sort()) {
    ts.sort((x, y) => x - y);
    const never = ts.includes(-1);
    byKind[k] = {
      n: ts.length,
      p50: ts[Math.floor(ts.length / 2)],
      max: never ? -1 : ts[ts.length - 1],
      over2s: ts.filter((t) => t > 2000).length,
      over4s: ts.filter((t) => t > 4000).length,
    };
    if (process.env.PM_SIM_SLOW)
      process.stderr.write(
        `${k.padEnd(28)} n=${ts.length} p50=${byKind[k].p50} max=${byKind[k].max} slow>2s=${byKind[k].over2s}\n`,
      );
  }
  const times = [...arrived.values()].sort((x, y) => x - y);
  const direct = pairs.filter(
    ([a, b]) => a.mesh!.members.get(b.device.publicKeyB64)?.path === 'direct',
  ).length;

  const sent = nodes.map((x) => x.mesh!.counters.sent).sort((x, y) => x - y);
  const result = (bytesPerS: number, msgsPerS: number): MeshSimResult => ({
    nodes: n,
    loss,
    churn,
    recordsS,
    churnRecordsS,
    pairs: pairs.length,
    delivered: arrived.size,
    firstPacketP50Ms: times.length ? times[Math.floor((times.length - 1) / 2)] : null,
    firstPacketP90Ms: times.length ? times[Math.floor((times.length - 1) * 0.9)] : null,
    firstPacketMaxMs: times.length ? times[times.length - 1] : null,
    byKind,
    directPct: Math.round((100 * direct) / pairs.length),
    steadyBytesPerNodePerS: bytesPerS,
    steadyMsgsPerNodePerS: msgsPerS,
    msgsMedian: sent[Math.floor(sent.length / 2)],
    msgsBusiest: sent[sent.length - 1],
    wallS: Math.round((Date.now() - t0) / 100) / 10,
    phaseWallS: {
      join: Math.round((phase[0] - t0) / 100) / 10,
      records: Math.round((phase[1] - phase[0]) / 100) / 10,
      churn: Math.round((phase[2] - phase[1]) / 100) / 10,
      pairs: Math.round((phase[3] - phase[2]) / 100) / 10,
    },
  });
  if (o.steady === false) return result(Number.NaN, Number.NaN);
  // Steady state: the minute after ten quiet simulated minutes.
  net.advance(600_000, 1000);
  const running = alive();
  const before = running.map((x) => ({ ...x.mesh!.counters }));
  net.advance(60_000, 100);
  let bytes = 0;
  let msgs = 0;
  for (const [i, x] of running.entries()) {
    bytes += x.mesh!.counters.sentBytes - before[i].sentBytes;
    msgs += x.mesh!.counters.sent - before[i].sent;
  }
  return result(
    Math.round(bytes / running.length / 60),
    Math.round((msgs / running.length / 60) * 100) / 100,
  );
}
