// Soak: two nodes under iperf3 load plus a six-node mesh with churn, for N seconds; memory, file
// descriptors and drop counters (the scenario and what it reports are in test/lib/soak-scenario.ts).
//   node dist/bench/soak.js [--secs 600] [--json]     (as root; network namespaces)
import { formatSoak, runSoak } from '../test/lib/soak-scenario';

if (require.main === module) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--secs');
  runSoak(i >= 0 ? Number(args[i + 1]) || 600 : 600)
    .then((r) =>
      process.stdout.write(args.includes('--json') ? `${JSON.stringify(r, null, 2)}\n` : formatSoak(r)),
    )
    .catch((e) => {
      process.stderr.write(`soak: ${(e as Error).stack}\n`);
      process.exit(1);
    });
}
