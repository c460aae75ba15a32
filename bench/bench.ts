// `npm run bench`: PeerMesh beside the raw underlay, wireguard-go, fastd and tinc (those installed),
// measured in one run by the
// shared namespace lab's method (../shared/lab/bench.sh: iperf3 TCP both ways, 300 pings, CPU,
// peak RSS). Prints a table and the targets, or JSON with --json.
//   npm run bench [-- --json] [-- --only peermesh] [-- --secs 10] [-- --save]
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '..', '..');
const LAB = process.env.PEERMESH_LAB ?? resolve(REPO, '..', 'shared', 'lab');

export interface Row {
  vpn: string;
  firstPingS: number | null;
  abMbps: number | null;
  baMbps: number | null;
  rttP50Ms: number | null;
  rttP99Ms: number | null;
  loss: string;
  cpuAB: string;
  cpuBA: string;
  rssAMiB: number | null;
  rssBMiB: number | null;
  pktsAtP: number | null;
}

const num = (s: string | undefined): number | null => {
  const v = Number.parseFloat(s ?? '');
  return Number.isFinite(v) ? v : null;
};

/** The cells of each body row of a markdown table the lab prints (at least `min` of them). */
function tableRows(text: string, min: number): string[][] {
  const out: string[][] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| VPN') || line.startsWith('|---')) continue;
    const c = line
      .split('|')
      .slice(1, -1)
      .map((x) => x.trim());
    if (c.length >= min) out.push(c);
  }
  return out;
}

/** Parse the lab's summary table (markdown) into rows. */
export function parseLabTable(text: string): Row[] {
  const rows: Row[] = [];
  for (const c of tableRows(text, 11)) {
    const [rssA, rssB] = c[9].split('/');
    rows.push({
      vpn: c[0],
      firstPingS: num(c[1]),
      abMbps: num(c[2]),
      baMbps: num(c[3]),
      rttP50Ms: num(c[4]),
      rttP99Ms: num(c[5]),
      loss: c[6],
      cpuAB: c[7],
      cpuBA: c[8],
      rssAMiB: num(rssA),
      rssBMiB: num(rssB),
      pktsAtP: num(c[10]),
    });
  }
  return rows;
}

/** One VPN's row of the lab's NAT check (natcheck.sh): the first A->B ping from the first spawn. */
export interface NatRow {
  vpn: string;
  nat: string;
  firstPingS: number | null;
  pathAtFirst: string;
  pathAfter: string;
}

/** Parse natcheck.sh's summary table (markdown) into rows. */
export function parseNatTable(text: string): NatRow[] {
  return tableRows(text, 7).map((c) => ({
    vpn: c[0],
    nat: c[1],
    firstPingS: num(c[3]),
    pathAtFirst: c[4],
    pathAfter: c[5],
  }));
}

/**
 * Issue 17's targets in the lab's NAT check (P public, A and B each behind its NAT, all three started
 * at once): first A->B ping < 0.2 s across cone NATs and < 0.5 s across symmetric ones, from the first
 * spawn; direct across cone NATs after the settle time.
 */
export function judgeNat(rows: NatRow[]): Target[] {
  const t: Target[] = [];
  for (const [nat, limit] of [
    ['cone', 0.2],
    ['symmetric', 0.5],
  ] as const) {
    const r = rows.find((x) => (x.vpn === 'lab-driver' || x.vpn === 'peermesh') && x.nat === nat);
    if (!r) continue;
    t.push({
      name: `first ping across ${nat} NATs < ${limit} s`,
      pass: r.firstPingS !== null && r.firstPingS < limit,
      detail: `${r.firstPingS ?? '-'} s (${r.pathAtFirst})`,
    });
    if (nat === 'cone')
      t.push({
        name: 'path across cone NATs direct after settling',
        pass: r.pathAfter === 'direct',
        detail: r.pathAfter,
      });
  }
  return t;
}

interface Target {
  name: string;
  pass: boolean;
  detail: string;
}

/** The VPNs the issue compares against (their lab drivers), and the binary each needs. */
export const PEERS: readonly { vpn: string; bin: string; apt: string }[] = [
  { vpn: 'wireguard-go', bin: 'wireguard-go', apt: 'wireguard-go wireguard-tools' },
  { vpn: 'fastd', bin: 'fastd', apt: 'fastd' },
  { vpn: 'tinc', bin: 'tincd', apt: 'tinc' },
];

/**
 * CPU seconds per Gbit/s moved: both hosts' VPN processes (node, helper and the addon's threads for
 * PeerMesh; the lab counts every thread of every process a driver spawned) over the throughput.
 */
export function cpuPerGbit(cpu: string, mbps: number | null): number | null {
  const [a, b] = cpu.split('/').map((x) => Number.parseFloat(x));
  if (!Number.isFinite(a) || !Number.isFinite(b) || !mbps) return null;
  return Math.round(((a + b) / 100 / (mbps / 1000)) * 100) / 100;
}

/** The targets, judged on one run's rows (every peer VPN in the run counts). */
export function judge(rows: Row[]): Target[] {
  const pm = rows.find((r) => r.vpn === 'lab-driver' || r.vpn === 'peermesh');
  if (!pm) return [{ name: 'PeerMesh measured', pass: false, detail: 'no PeerMesh row in the lab output' }];
  const peers = rows.filter((r) => PEERS.some((p) => p.vpn === r.vpn));
  const t: Target[] = [];
  if (peers.length) {
    const names = peers.map((r) => r.vpn).join(', ');
    for (const [dir, key] of [
      ['A→B', 'abMbps'],
      ['B→A', 'baMbps'],
    ] as const) {
      const best = peers.reduce<Row | null>((b, r) => ((r[key] ?? 0) > (b?.[key] ?? 0) ? r : b), null);
      const p = pm[key];
      const w = best?.[key] ?? null;
      t.push({
        name: `throughput ${dir} >= 2x the best of ${names}`,
        pass: p !== null && w !== null && p >= 2 * w,
        detail: `${p ?? '-'} vs ${w ?? '-'} Mbit/s (${best?.vpn ?? '-'}): ${p && w ? (p / w).toFixed(2) : '-'}x`,
      });
    }
    const p50s = peers.filter((r) => r.rttP50Ms !== null);
    const bestP50 = p50s.reduce<Row | null>((b, r) => (!b || r.rttP50Ms! < b.rttP50Ms! ? r : b), null);
    t.push({
      name: `ping p50 <= the best of ${names}`,
      pass: pm.rttP50Ms !== null && bestP50 !== null && pm.rttP50Ms <= bestP50.rttP50Ms!,
      detail: `${pm.rttP50Ms} vs ${bestP50?.rttP50Ms ?? '-'} ms (${bestP50?.vpn ?? '-'})`,
    });
    for (const [dir, cpu, key] of [
      ['A→B', 'cpuAB', 'abMbps'],
      ['B→A', 'cpuBA', 'baMbps'],
    ] as const) {
      const mine = cpuPerGbit(pm[cpu], pm[key]);
      const theirs = peers.map((r) => cpuPerGbit(r[cpu], r[key])).filter((x): x is number => x !== null);
      t.push({
        name: `CPU s per Gbit/s ${dir} lower than every peer's`,
        pass: mine !== null && theirs.length > 0 && theirs.every((x) => mine < x),
        detail: `${mine ?? '-'} vs ${theirs.length ? Math.min(...theirs) : '-'} (the lowest of the peers)`,
      });
    }
  }
  t.push({
    name: 'ping p99 < 2 ms',
    pass: pm.rttP99Ms !== null && pm.rttP99Ms < 2,
    detail: `${pm.rttP99Ms} ms`,
  });
  const rss = Math.max(pm.rssAMiB ?? Number.POSITIVE_INFINITY, pm.rssBMiB ?? 0);
  t.push({
    name: 'peak RSS per node < 100 MB (node + helper)',
    pass: rss * 1.048576 < 100,
    detail: `${rss} MiB`,
  });
  return t;
}

function usage(msg: string): never {
  process.stderr.write(
    `bench: ${msg}\nusage: npm run bench -- [--json] [--only peermesh] [--secs N] [--save] [--no-nat]\n`,
  );
  process.exit(2);
}

/** Run one of the lab's scripts; its output goes to stderr (not with --json). Resolves to its exit code. */
function runLab(script: string, args: string[], json: boolean): Promise<number> {
  return new Promise<number>((res) => {
    const p = spawn('bash', [join(LAB, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.on('exit', (c) => {
      if (!json) process.stderr.write(stdout);
      res(c ?? 1);
    });
  });
}

/** The lab's NAT check, cone then symmetric, for PeerMesh (and tinc, when installed, beside it). */
async function natCheck(withTinc: boolean, json: boolean): Promise<NatRow[]> {
  const rows: NatRow[] = [];
  for (const nat of ['cone', 'symmetric']) {
    const out = join(mkdtempSync(join(tmpdir(), 'pm-natcheck-')), 'nat.md');
    const vpns = [...(withTinc ? ['tinc'] : []), join(REPO, 'bench', 'lab-driver.sh')];
    const code = await runLab('natcheck.sh', ['--nat', nat, '--settle', '2', '--out', out, ...vpns], json);
    const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
    const got = parseNatTable(text.slice(text.indexOf('## Summary')));
    if (code !== 0 || got.length === 0)
      process.stderr.write(`bench: the NAT check (${nat}) failed; its log: ${out}\n`);
    rows.push(...got);
  }
  for (const r of rows) if (r.vpn === 'lab-driver') r.vpn = 'peermesh';
  return rows;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let json = false;
  let only = false;
  let save = false;
  let nat = true;
  let secs = 10;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--save') save = true;
    else if (a === '--no-nat') nat = false;
    else if (a === '--only' && args[i + 1] === 'peermesh') {
      only = true;
      i++;
    } else if (a === '--secs' && /^\d+$/.test(args[i + 1] ?? '')) secs = Number(args[++i]);
    else usage(`unknown argument "${a}"`);
  }
  if (process.getuid?.() !== 0) usage('needs root (network namespaces, TUN devices)');
  if (!existsSync(join(LAB, 'bench.sh'))) usage(`no lab at ${LAB} (set PEERMESH_LAB)`);
  const has = (t: string) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const missing = ['iperf3', 'ping', 'nft', 'ip', ...(only ? [] : ['wireguard-go', 'wg'])].filter(
    (t) => !has(t),
  );
  if (missing.length)
    usage(
      `missing tools: ${missing.join(' ')} (apt-get install iperf3 iputils-ping nftables wireguard-go wireguard-tools)`,
    );
  // fastd and tinc are compared when installed; the run says which were left out, and how to add them.
  const peers = only ? [] : PEERS.filter((p) => has(p.bin));
  for (const p of only ? [] : PEERS.filter((x) => !has(x.bin)))
    process.stderr.write(`bench: ${p.vpn} is not installed, left out (apt-get install ${p.apt})\n`);

  const out = join(mkdtempSync(join(tmpdir(), 'pm-bench-')), 'lab.md');
  const vpns = only
    ? [join(REPO, 'bench', 'lab-driver.sh')]
    : ['raw', ...peers.map((p) => p.vpn), join(REPO, 'bench', 'lab-driver.sh')];
  const code = await runLab('bench.sh', ['--out', out, '--secs', String(secs), ...vpns], json);
  const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const rows = parseLabTable(text.slice(text.indexOf('## Summary')));
  if (code !== 0 || rows.length === 0) {
    process.stderr.write(`bench: the lab run failed (exit ${code}); its log: ${out}\n`);
    process.exit(1);
  }
  for (const r of rows) if (r.vpn === 'lab-driver') r.vpn = 'peermesh';
  const natRows = nat ? await natCheck(!only && has('tincd'), json) : [];
  const targets = [...judge(rows), ...judgeNat(natRows)];
  if (save) {
    const dir = join(REPO, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    copyFileSync(out, join(dir, `${new Date().toISOString().slice(0, 10)}-tunnel.md`));
  }
  if (json) {
    const machine = { cores: cpus().length, kernel: release(), node: process.version };
    process.stdout.write(
      `${JSON.stringify({ date: new Date().toISOString(), machine, secs, rows, natRows, targets, log: out }, null, 2)}\n`,
    );
    return;
  }
  const cols = [
    'VPN',
    'first ping s',
    'A→B Mbit/s',
    'B→A Mbit/s',
    'p50 ms',
    'p99 ms',
    'loss',
    'CPU% A/B (A→B)',
    'CPU% A/B (B→A)',
    'peak RSS MiB A/B',
    'CPU s/Gbit A→B',
    'CPU s/Gbit B→A',
  ];
  const lines = rows.map((r) => [
    r.vpn,
    String(r.firstPingS ?? '-'),
    String(r.abMbps ?? '-'),
    String(r.baMbps ?? '-'),
    String(r.rttP50Ms ?? '-'),
    String(r.rttP99Ms ?? '-'),
    r.loss,
    r.cpuAB,
    r.cpuBA,
    r.rssAMiB === null ? '-' : `${r.rssAMiB}/${r.rssBMiB}`,
    String(cpuPerGbit(r.cpuAB, r.abMbps) ?? '-'),
    String(cpuPerGbit(r.cpuBA, r.baMbps) ?? '-'),
  ]);
  const w = cols.map((c, i) => Math.max(c.length, ...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(w[i])).join('  ');
  process.stdout.write(`\n${fmt(cols)}\n${fmt(w.map((n) => '-'.repeat(n)))}\n${lines.map(fmt).join('\n')}\n`);
  if (natRows.length) {
    process.stdout.write(
      '\nNAT check (P public, A and B behind their NATs, all started at once; from the first spawn):\n',
    );
    for (const r of natRows)
      process.stdout.write(
        `  ${r.vpn.padEnd(10)} ${r.nat.padEnd(10)} first ping ${r.firstPingS ?? '-'} s, ${r.pathAtFirst}; after 2 s: ${r.pathAfter}\n`,
      );
  }
  process.stdout.write('\nTargets:\n');
  for (const t of targets) process.stdout.write(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.detail}\n`);
  process.stdout.write(`\nlab log: ${out}\n`);
}

if (require.main === module) void main();
