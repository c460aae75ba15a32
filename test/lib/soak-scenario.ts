// Soak: two nodes under iperf3 load (both directions in turn) plus a six-node mesh with churn (one
// member restarted every 20 s), for N seconds. Samples the loaded nodes' RSS (node + helper) and
// open file descriptors every 5 s, and reads the node's own counters at the end: memory and fds
// must stay flat, and no packet of a live session may be dropped for a bug.
// Run by test/netns/soak.test.ts (60 s) and by the benchmark bench/soak.ts (`npm run soak`).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLab, sleep, waitFor } from './netns';
import {
  type NodeStatus,
  nodeStatus,
  type RunningNode,
  removeDir,
  startNode,
  stopNode,
  tempDir,
} from './peermesh-proc';

export interface SoakSample {
  t: number;
  rssKiB: number;
  helperRssKiB: number;
  fds: number;
  /** The node's own view (status --json): V8 heap in use and memory outside the heap (buffers). */
  heapUsedKiB: number;
  externalKiB: number;
}

export interface SoakResult {
  secs: number;
  samples: SoakSample[];
  /** First sample after warm-up (30 s or a fifth of the run) and the last one. */
  rssStartKiB: number;
  rssEndKiB: number;
  rssMaxKiB: number;
  fdsStart: number;
  fdsEnd: number;
  transferredGB: number;
  churnRestarts: number;
  counters: Record<string, number>;
  /** The loaded node's data path at the end (status --json). */
  path: Pick<NodeStatus, 'dataPath' | 'dataPathReason' | 'dataPlane'>;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function helperPid(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  return kids.find((k) => k && readFileSync(`/proc/${k}/comm`, 'utf8').startsWith('peermesh-helper')) ?? 0;
}

export async function runSoak(secs: number): Promise<SoakResult> {
  const lab = new NetnsLab();
  const dir = tempDir('soak');
  const hosts = ['a', 'b', 'c', 'd', 'e', 'f'];
  const nodes: Record<string, RunningNode> = {};
  const args = (h: string, extra: string[] = []) => [
    '--interface',
    `pm${lab.id}${h}`,
    '--network',
    'soak',
    '--secret-file',
    join(dir, 'secret'),
    '--name',
    `node-${h}`,
    ...extra,
  ];
  try {
    for (const h of hosts) lab.addHost(h);
    lab.lan(hosts.map((h, i) => [h, `198.18.0.${i + 1}/24`] as [string, string]));
    writeFileSync(join(dir, 'secret'), 'soak it up for ten minutes\n', { mode: 0o600 });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a'));
    for (const h of hosts.slice(1))
      nodes[h] = await startNode(lab, h, join(dir, h), args(h, ['--bootstrap', '198.18.0.1:51820']));
    const addrOf = (h: string) => nodeStatus(lab, h, join(dir, h)).addresses[0].split('/')[0];
    const bAddr = addrOf('b');
    const aAddr = addrOf('a');
    await waitFor('a pings b', () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr]).ok, 20_000);

    const samples: SoakSample[] = [];
    const start = Date.now();
    const sample = () => {
      const pid = nodes.a.proc.pid!;
      let mem = { heapUsed: 0, external: 0 };
      try {
        mem = nodeStatus(lab, 'a', join(dir, 'a')).memory as typeof mem;
      } catch {
        /* counted as 0 */
      }
      samples.push({
        t: Math.round((Date.now() - start) / 1000),
        rssKiB: rssKiB(pid),
        helperRssKiB: rssKiB(helperPid(pid)),
        fds: readdirSync(`/proc/${pid}/fd`).length,
        heapUsedKiB: Math.round(mem.heapUsed / 1024),
        externalKiB: Math.round(mem.external / 1024),
      });
    };
    sample();
    const sampler = setInterval(sample, 5000);
    // iperf3 servers on both, clients alternate direction in 10 s runs
    const srvB = lab.spawnIn('b', 'iperf3', ['-s', '-B', bAddr, '-p', '5201']);
    const srvA = lab.spawnIn('a', 'iperf3', ['-s', '-B', aAddr, '-p', '5202']);
    let bytes = 0;
    let restarts = 0;
    let churnAt = Date.now() + 20_000;
    const churn = ['c', 'd', 'e', 'f'];
    let turn = 0;
    await sleep(500);
    while (Date.now() - start < secs * 1000) {
      const left = Math.max(1, Math.min(10, Math.floor((secs * 1000 - (Date.now() - start)) / 1000)));
      const [client, addr, port] = turn++ % 2 === 0 ? ['a', bAddr, '5201'] : ['b', aAddr, '5202'];
      const r = await new Promise<string>((resolve) => {
        const p = lab.spawnIn(client, 'iperf3', ['-c', addr, '-p', port, '-t', String(left), '-J']);
        let out = '';
        p.stdout?.on('data', (d) => {
          out += d;
        });
        p.once('exit', () => resolve(out));
      });
      try {
        bytes +=
          (JSON.parse(r) as { end?: { sum_received?: { bytes?: number } } }).end?.sum_received?.bytes ?? 0;
      } catch {
        /* a run that raced a restart: counted as nothing */
      }
      if (Date.now() >= churnAt) {
        const h = churn[restarts % churn.length];
        await stopNode(nodes[h]);
        nodes[h] = await startNode(lab, h, join(dir, h), args(h, ['--bootstrap', '198.18.0.1:51820']));
        restarts++;
        churnAt = Date.now() + 20_000;
      }
    }
    clearInterval(sampler);
    sample();
    srvA.kill('SIGKILL');
    srvB.kill('SIGKILL');
    const status = nodeStatus(lab, 'a', join(dir, 'a'));
    const warm = Math.min(30, Math.floor(secs / 5));
    const after = samples.filter((s) => s.t >= warm);
    const first = after[0] ?? samples[0];
    const last = samples[samples.length - 1];
    return {
      secs,
      samples,
      rssStartKiB: first.rssKiB + first.helperRssKiB,
      rssEndKiB: last.rssKiB + last.helperRssKiB,
      rssMaxKiB: Math.max(...samples.map((s) => s.rssKiB + s.helperRssKiB)),
      fdsStart: first.fds,
      fdsEnd: last.fds,
      transferredGB: Math.round(bytes / 1e7) / 100,
      churnRestarts: restarts,
      counters: status.counters,
      path: { dataPath: status.dataPath, dataPathReason: status.dataPathReason, dataPlane: status.dataPlane },
    };
  } finally {
    for (const n of Object.values(nodes)) await stopNode(n).catch(() => {});
    await lab.cleanup();
    removeDir(dir);
  }
}

export function formatSoak(r: SoakResult): string {
  const mib = (k: number) => (k / 1024).toFixed(1);
  const c = r.counters;
  return (
    `soak ${r.secs} s (${r.path.dataPath} data path): ${r.transferredGB} GB through iperf3, ` +
    `${r.churnRestarts} churn restarts\n` +
    `  RSS node+helper: ${mib(r.rssStartKiB)} MiB after warm-up -> ${mib(r.rssEndKiB)} MiB at the end ` +
    `(max ${mib(r.rssMaxKiB)} MiB); fds ${r.fdsStart} -> ${r.fdsEnd}\n` +
    `  counters: ${Object.entries(c)
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}\n`
  );
}
