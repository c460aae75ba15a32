// The native data plane's offload ladder, measured on this machine (root; two namespaces, a veth, real
// TUN devices, keys installed by hand): for each step (plain TUN + sendmmsg/recvmmsg; + vnet header
// TSO split + UDP GSO; + UDP GRO) iperf3 TCP both ways, the CPU the two data plane processes used
// (all their threads) per direction, ping p50/p99, RSS. The raw veth underlay is measured alongside.
//   node dist/bench/dataplane-bench.js [--secs 5] [--json]
import { DP_VARIANTS, DpPair } from '../test/lib/dataplane-lab';
import { iperfTransfer, NetnsLab, netnsSkipReason } from '../test/lib/netns';

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
