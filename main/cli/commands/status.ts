// Watching a running node through its control socket: `peermesh status` (interface, peers,
// handshakes, traffic), `peermesh peers` (the members, as the UI lists them), `peermesh ping PEER`.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerRow } from '../../control/api';
import type { NodeStatus } from '../../node/node';
import { intFlag, NODE_FLAGS, nodeDir, noPositionals, parse, UsageError } from '../args';
import { askNode, socketIn } from '../node-socket';

function ago(iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)} ${units[i]}`;
}

export function formatStatus(s: NodeStatus): string {
  const lines = [
    `interface: ${s.interface}`,
    `  public key: ${s.publicKey}`,
    `  listening port: ${s.listenPort}`,
    `  addresses: ${s.addresses.join(', ') || '(none)'}`,
    `  mtu: ${s.mtu}`,
    `  up: ${s.uptimeSeconds} s`,
  ];
  for (const p of s.peers) {
    lines.push(
      '',
      `peer: ${p.publicKey}`,
      `  endpoint: ${p.endpoint ?? '(none)'}`,
      `  allowed ips: ${p.allowedIps.join(', ') || '(none)'}`,
      `  latest handshake: ${ago(p.latestHandshake)}`,
      `  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`,
    );
    if (p.persistentKeepalive) lines.push(`  persistent keepalive: every ${p.persistentKeepalive} s`);
  }
  return `${lines.join('\n')}\n`;
}

export async function cmdStatus(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, ...NODE_FLAGS });
  noPositionals(positionals);
  const dir = nodeDir(values);
  // One node, or (no socket here, no --network) every network a multi-network `up` runs below it.
  let socks = [socketIn(dir)];
  if (!values.network && !existsSync(socks[0]) && existsSync(dir)) {
    const subs = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(socketIn(join(dir, d.name))))
      .map((d) => socketIn(join(dir, d.name)));
    if (subs.length) socks = subs;
  }
  const all: NodeStatus[] = [];
  for (const sock of socks) all.push(await askNode<NodeStatus>(sock, 'status'));
  if (values.json) process.stdout.write(`${JSON.stringify(all.length === 1 ? all[0] : all, null, 2)}\n`);
  else process.stdout.write(all.map(formatStatus).join('\n'));
}

/** `peermesh peers [--json]`: the peer list (the UI's rows) of the running node. */
export async function cmdPeers(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, ...NODE_FLAGS });
  noPositionals(positionals);
  const rows = await askNode<PeerRow[]>(socketIn(nodeDir(values)), 'peers');
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const table = [['NAME', 'IPV4', 'STATE', 'PATH', 'RTT', 'RX/TX', 'HANDSHAKE']];
  for (const r of rows.sort((a, b) => (a.alias ?? a.name).localeCompare(b.alias ?? b.name)))
    table.push([
      r.alias ? `${r.alias} (${r.name})` : r.name,
      r.ipv4,
      r.online ? 'online' : 'offline',
      r.path === 'relayed'
        ? `relayed via ${r.via}`
        : r.path === 'direct'
          ? `direct ${r.endpoint ?? ''}`.trim()
          : '-',
      r.rttMs === null ? '-' : `${r.rttMs.toFixed(1)} ms`,
      `${bytes(r.rxBps)}/s ${bytes(r.txBps)}/s`,
      // sessions are made on demand: an online member without one is idle, not broken
      r.lastHandshake
        ? ago(new Date(r.lastHandshake).toISOString())
        : r.online
          ? 'no session yet (idle)'
          : 'never',
    ]);
  printTable(table);
}

/** Print rows of cells as columns padded to their widest cell (the first row: the headings). */
export function printTable(table: string[][]): void {
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  process.stdout.write(
    `${table
      .map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n')}\n`,
  );
}

/** `peermesh ping PEER [-c N]`: one RTT probe a second through the running node, with the path. */
export async function cmdPing(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { count: { type: 'string', short: 'c' }, ...NODE_FLAGS });
  if (positionals.length !== 1) throw new UsageError('usage: peermesh ping PEER [-c COUNT]');
  const count =
    values.count === undefined ? Number.POSITIVE_INFINITY : intFlag(values.count as string, 'count')!;
  const sock = socketIn(nodeDir(values));
  let stop = false;
  process.on('SIGINT', () => {
    stop = true;
  });
  const rtts: number[] = [];
  let sent = 0;
  for (; sent < count && !stop; sent++) {
    const t0 = Date.now();
    const r = await askNode<{ name: string; rttMs: number | null; path: string; via: string | null }>(
      sock,
      'ping-peer',
      { peer: positionals[0] },
      5000,
    );
    const how =
      r.path === 'relayed' ? `relayed via ${r.via}` : r.path === 'direct' ? 'direct' : 'no path yet';
    if (r.rttMs === null) process.stdout.write(`${r.name}: no answer (${how})\n`);
    else {
      rtts.push(r.rttMs);
      process.stdout.write(`${r.name}: rtt ${r.rttMs.toFixed(2)} ms (${how})\n`);
    }
    const wait = 1000 - (Date.now() - t0);
    if (sent + 1 < count && !stop && wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  rtts.sort((a, b) => a - b);
  const loss = sent ? Math.round((100 * (sent - rtts.length)) / sent) : 0;
  process.stdout.write(
    `${sent} probes, ${rtts.length} answered, ${loss} % loss` +
      (rtts.length
        ? `, rtt min/median/max ${rtts[0].toFixed(2)}/${rtts[Math.floor((rtts.length - 1) / 2)].toFixed(2)}/${rtts[rtts.length - 1].toFixed(2)} ms`
        : '') +
      '\n',
  );
  if (rtts.length === 0) process.exit(1);
}
