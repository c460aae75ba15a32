// The native data plane's offload ladder, measured on this machine (root; two namespaces, a veth, real
// TUN devices, keys installed by hand): for each step (plain TUN + sendmmsg/recvmmsg; + vnet header
// TSO split + UDP GSO; + UDP GRO) iperf3 TCP both ways, the CPU the two data plane processes used
// (all their threads) per direction, ping p50/p99, RSS. The raw veth underlay and today's data path
// (`peermesh up`: helper <-> Node stream, TypeScript Device) are measured alongside, in the same run.
//   node dist/bench/dataplane-bench.js [--secs 5] [--json]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DP_VARIANTS, DpPair } from '../test/lib/dataplane-lab';
import { iperfTransfer, NetnsLab, netnsSkipReason } from '../test/lib/netns';
import { keygen, removeDir, startNode, stopNode, tempDir } from '../test/lib/peermesh-proc';

interface Result {
  step: string;
  abMbps: number;
  baMbps: number;
  /** CPU seconds of both data plane processes per Gbit moved, per direction. */
  cpuPerGbitAB: number | null;
  cpuPerGbitBA: number | null;
  rttP50Ms: number;
  rttP99Ms: number;
  rssMb: number | null;
  counters?: Record<string, number>;
}

function pingRtts(lab: NetnsLab, host: string, addr: string): { p50: number; p99: number } {
  const full = lab.exec(host, 'ping', ['-c', '200', '-i', '0.005', '-W', '1', addr], 60_000);
  const rtts = [...full.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  const at = (q: number) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Cumulative CPU ms of a process (utime + stime from /proc). */
function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ = 100
}

/** Two `peermesh up` nodes (the TypeScript data path of today), hosts t1/t2. */
async function typescriptPath(lab: NetnsLab, secs: number): Promise<Result> {
  const dir = tempDir('dp-bench');
  lab.addHost('t1');
  lab.addHost('t2');
  lab.link('t1', '198.18.50.1/24', 't2', '198.18.50.2/24');
  const pub1 = keygen(join(dir, '1.key'));
  const pub2 = keygen(join(dir, '2.key'));
  const args = (me: number, peer: string) => [
    '--interface',
    `pm${lab.id}${me}`,
    '--address',
    `100.64.50.${me}/24`,
    '--listen',
    '51820',
    '--private-key-file',
    join(dir, `${me}.key`),
    '--peer',
    `${peer}@198.18.50.${3 - me}:51820,100.64.50.${3 - me}/32`,
  ];
  const n1 = await startNode(lab, 't1', join(dir, 's1'), args(1, pub2));
  const n2 = await startNode(lab, 't2', join(dir, 's2'), args(2, pub1));
  try {
    // Both processes of each node: `ip netns exec` execs node in place; the helper is its child.
    const pids = () =>
      [n1.proc.pid!, n2.proc.pid!].flatMap((p) => [
        p,
        ...execFileSync('pgrep', ['-P', String(p)], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean)
          .map(Number),
      ]);
    const cpu = () => pids().reduce((n, p) => n + cpuMsOf(p), 0);
    const c0 = cpu();
    const ab = iperfTransfer(lab, 't2', '100.64.50.2', 't1', 5401, secs);
    const c1 = cpu();
    const ba = iperfTransfer(lab, 't1', '100.64.50.1', 't2', 5402, secs);
    const c2 = cpu();
    const ping = pingRtts(lab, 't1', '100.64.50.2');
    return {
      step: 'TypeScript data path today (peermesh up)',
      abMbps: (ab * 8) / secs / 1e6,
      baMbps: (ba * 8) / secs / 1e6,
      cpuPerGbitAB: (c1 - c0) / 1000 / ((ab * 8) / 1e9),
      cpuPerGbitBA: (c2 - c1) / 1000 / ((ba * 8) / 1e9),
      rttP50Ms: ping.p50,
      rttP99Ms: ping.p99,
      rssMb: null,
    };
  } finally {
    await stopNode(n1);
    await stopNode(n2);
    removeDir(dir);
  }
}

async function main(): Promise<void> {
  const skip = netnsSkipReason();
  if (skip) {
    console.error(`dataplane-bench ${skip}`);
    process.exit(1);
  }
  const args = process.argv.slice(2);
  const secs = Number(args[args.indexOf('--secs') + 1]) || 5;
  const json = args.includes('--json');
  const lab = new NetnsLab();
  const results: Result[] = [];
  try {
    // The underlay alone (veth, no tunnel), for scale.
    lab.addHost('u1');
    lab.addHost('u2');
    lab.link('u1', '198.18.100.1/24', 'u2', '198.18.100.2/24');
    const rawAB = iperfTransfer(lab, 'u2', '198.18.100.2', 'u1', 5301, secs);
    const rawBA = iperfTransfer(lab, 'u1', '198.18.100.1', 'u2', 5302, secs);
    const rawPing = pingRtts(lab, 'u1', '198.18.100.2');
    results.push({
      step: 'veth underlay (no tunnel)',
      abMbps: (rawAB * 8) / secs / 1e6,
      baMbps: (rawBA * 8) / secs / 1e6,
      cpuPerGbitAB: null,
      cpuPerGbitBA: null,
      rttP50Ms: rawPing.p50,
      rttP99Ms: rawPing.p99,
      rssMb: null,
    });
    results.push(await typescriptPath(lab, secs));
    for (const [i, v] of DP_VARIANTS.entries()) {
      const pair = new DpPair(lab, i + 1, v);
      await pair.start();
      const cpu = async () => (await pair.stats(pair.hostA)).cpuMs + (await pair.stats(pair.hostB)).cpuMs;
      const c0 = await cpu();
      const ab = iperfTransfer(lab, pair.hostB, pair.overlayB, pair.hostA, 5201, secs);
      const c1 = await cpu();
      const ba = iperfTransfer(lab, pair.hostA, pair.overlayA, pair.hostB, 5202, secs);
      const c2 = await cpu();
      const ping = pingRtts(lab, pair.hostA, pair.overlayB);
      const sa = await pair.stats(pair.hostA);
      const abMbps = (ab * 8) / secs / 1e6;
      const baMbps = (ba * 8) / secs / 1e6;
      results.push({
        step: v.name,
        abMbps,
        baMbps,
        cpuPerGbitAB: (c1 - c0) / 1000 / ((ab * 8) / 1e9),
        cpuPerGbitBA: (c2 - c1) / 1000 / ((ba * 8) / 1e9),
        rttP50Ms: ping.p50,
        rttP99Ms: ping.p99,
        rssMb: sa.rssMb,
        counters: sa.counters,
      });
      await pair.stop();
    }
  } finally {
    await lab.cleanup();
  }
  if (json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  const f = (n: number | null, d = 0) => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(d));
  console.log(`iperf3 ${secs} s per direction; CPU = seconds of both data plane processes per Gbit moved\n`);
  console.log(
    '| step | a→b Mbit/s | b→a Mbit/s | CPU s/Gbit a→b | CPU s/Gbit b→a | ping p50 ms | p99 ms | RSS MB |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.step} | ${f(r.abMbps)} | ${f(r.baMbps)} | ${f(r.cpuPerGbitAB, 2)} | ${f(r.cpuPerGbitBA, 2)} | ${f(r.rttP50Ms, 3)} | ${f(r.rttP99Ms, 3)} | ${f(r.rssMb)} |`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
