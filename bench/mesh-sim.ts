// Mesh convergence and control traffic in the deterministic simulator, at 10, 100 and 1,000 nodes, with
// and without loss and churn: the scenario and what it reports are in test/lib/mesh-scenario.ts.
//   node dist/bench/mesh-sim.js [N ...] [--loss PCT] [--churn PCT] [--json]   (default: 10 100 1000)
import { type MeshSimOptions, type MeshSimResult, runMeshSim } from '../test/lib/mesh-scenario';

export function formatMeshSim(results: MeshSimResult[]): string {
  const s = (v: number | null) => (v === null ? 'not within limit' : `${v.toFixed(1)} s`);
  const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
  let out =
    '\nMesh simulator (1/3 public, 1/3 cone NAT, 1/3 symmetric NAT; 20 ms one-way; simulated time)\n' +
    '| nodes | loss | churn | all records | after churn | pairs delivered | first packet p50 / p90 / max | direct | messages sent per node until then: median / busiest | control traffic / node / s | wall |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|\n';
  for (const r of results)
    out +=
      `| ${r.nodes} | ${Math.round(r.loss * 100)} % | ${Math.round(r.churn * 100)} % | ${s(r.recordsS)} | ` +
      `${r.churn ? s(r.churnRecordsS) : '–'} | ${r.delivered}/${r.pairs} | ${ms(r.firstPacketP50Ms)} / ` +
      `${ms(r.firstPacketP90Ms)} / ${ms(r.firstPacketMaxMs)} | ${r.directPct} % | ${r.msgsMedian} / ${r.msgsBusiest} | ${r.steadyBytesPerNodePerS} B (${r.steadyMsgsPerNodePerS} msgs) | ${r.wallS} s |\n`;
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) / 100 : undefined;
  };
  const sizes = args.filter((a, i) => /^\d+$/.test(a) && !/^--/.test(args[i - 1] ?? '')).map(Number);
  const loss = opt('--loss');
  const churn = opt('--churn');
  const runs: [number, MeshSimOptions][] =
    sizes.length || loss !== undefined || churn !== undefined
      ? (sizes.length ? sizes : [100]).map((n) => [n, { loss, churn }])
      : [
          [10, {}],
          [100, {}],
          [1000, {}],
          [100, { loss: 0.1, churn: 0.1 }],
          [1000, { loss: 0.05, churn: 0.05 }],
        ];
  const results: MeshSimResult[] = [];
  for (const [n, o] of runs) {
    results.push(runMeshSim(n, o));
    if (!json) process.stderr.write(`mesh-sim: ${n} nodes done\n`);
  }
  process.stdout.write(json ? `${JSON.stringify(results, null, 2)}\n` : formatMeshSim(results));
}

if (require.main === module) main();
