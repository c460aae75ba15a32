// Test helpers for real network namespaces: unique per-run names, bounded waits, cleanup on failure.
// Every namespace, veth and process a test creates is recorded here and removed by `cleanup()`,
// which tests call from `after()` (and which also runs on process exit as a last resort).
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

/** Why namespace tests cannot run here, or null when they can (root and /dev/net/tun present). */
export function netnsSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'skipped: needs root';
  if (!existsSync('/dev/net/tun')) return 'skipped: needs /dev/net/tun';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'skipped: needs iproute2';
  }
  return null;
}

/** Like netnsSkipReason, and the test also builds NATs or drop rules with nftables. */
export function netnsNftSkipReason(): string | null {
  const r = netnsSkipReason();
  if (r) return r;
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'skipped: needs nftables (apt-get install nftables)';
  }
}

/** Run a command, throw with its stderr on failure, return stdout. */
export function sh(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 20_000,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Same as sh(), but returns { ok, out } instead of throwing. */
export function trySh(cmd: string, args: string[], timeoutMs = 20_000): { ok: boolean; out: string } {
  try {
    return { ok: true, out: sh(cmd, args, { timeoutMs }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message };
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `fn` every `everyMs` until it returns truthy or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/**
 * A lab of namespaces for one test file. Names are `pmt<run>-<host>`, unique per run, short enough
 * for interface names. Processes started with `spawnIn` are killed by their PID on cleanup.
 */
export class NetnsLab {
  readonly id = randomBytes(3).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly onExit = () => this.cleanupSync();

  constructor() {
    process.once('exit', this.onExit);
  }

  ns(host: string): string {
    return `pmt${this.id}-${host}`;
  }

  /**
   * The `peermesh up` arguments that make `host` a member of the mesh `network`: its own interface
   * (pm<run id><host>, unique per run), the shared secret file and the member name (node-<host>).
   */
  memberArgs(host: string, network: string, secretFile: string, name = `node-${host}`): string[] {
    return [
      '--interface',
      `pm${this.id}${host}`,
      '--network',
      network,
      '--secret-file',
      secretFile,
      '--name',
      name,
    ];
  }

  addHost(host: string): string {
    const name = this.ns(host);
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    // `ip netns exec` bind-mounts /etc/netns/NAME/hosts over /etc/hosts: each host gets its own, so a
    // node's names (docs/mesh.md) land there and never in this machine's /etc/hosts.
    mkdirSync(`/etc/netns/${name}`, { recursive: true });
    writeFileSync(`/etc/netns/${name}/hosts`, '127.0.0.1\tlocalhost\n::1\tlocalhost\n');
    this.exec(host, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  /** Connect two hosts with a veth pair; addresses are CIDRs (IPv4 or IPv6) or null. */
  link(
    a: string,
    aAddr: string | null,
    b: string,
    bAddr: string | null,
    opts: { ipv6?: boolean; aIf?: string; bIf?: string } = {},
  ): void {
    const ia = opts.aIf ?? `v${this.id}${a}`.slice(0, 15);
    const ib = opts.bIf ?? `v${this.id}${b}`.slice(0, 15);
    sh('ip', [
      'link',
      'add',
      ia,
      'netns',
      this.ns(a),
      'type',
      'veth',
      'peer',
      'name',
      ib,
      'netns',
      this.ns(b),
    ]);
    for (const [h, i, addr] of [
      [a, ia, aAddr],
      [b, ib, bAddr],
    ] as const) {
      if (opts.ipv6 === false) this.exec(h, 'sysctl', ['-q', '-w', `net.ipv6.conf.${i}.disable_ipv6=1`]);
      if (addr) this.exec(h, 'ip', ['addr', 'add', addr, 'dev', i]);
      this.exec(h, 'ip', ['link', 'set', i, 'up']);
    }
  }

  /** New hosts on one LAN, in order at 198.18.0.1/24, 198.18.0.2/24, ... */
  lanOf(hosts: string[]): void {
    for (const h of hosts) this.addHost(h);
    this.lan(hosts.map((h, i) => [h, `198.18.0.${i + 1}/24`]));
  }

  /** A LAN: a bridge in its own namespace ("sw") and one veth per host with the given address. */
  lan(hosts: [host: string, cidr: string][]): void {
    this.addHost('sw');
    this.exec('sw', 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    this.exec('sw', 'ip', ['link', 'set', 'br0', 'up']);
    for (const [h, cidr] of hosts) {
      const inHost = this.lanLink(h);
      const inSw = `s${this.id}${h}`.slice(0, 15);
      sh('ip', [
        'link',
        'add',
        inHost,
        'netns',
        this.ns(h),
        'type',
        'veth',
        'peer',
        'name',
        inSw,
        'netns',
        this.ns('sw'),
      ]);
      this.exec('sw', 'ip', ['link', 'set', inSw, 'master', 'br0']);
      this.exec('sw', 'ip', ['link', 'set', inSw, 'up']);
      this.exec(h, 'ip', ['addr', 'add', cidr, 'dev', inHost]);
      this.exec(h, 'ip', ['link', 'set', inHost, 'up']);
    }
  }

  /** The name of `h`'s end of its link to the LAN switch (lan()). */
  lanLink(h: string): string {
    return `v${this.id}${h}`.slice(0, 15);
  }

  /**
   * Make `router` a home router: forward, masquerade what leaves through `wanIf`, and let in from the
   * WAN only replies (conntrack). 'cone' is Linux's plain masquerade (it keeps the source port: one
   * mapping per inside socket, replies only from where we sent — a port-restricted cone NAT);
   * 'symmetric' is `masquerade fully-random` (a new random port for every destination).
   * Counters `to_<name>` / `from_<name>` count packets to and from each WAN address in `watch`.
   */
  natRouter(router: string, wanIf: string, type: 'cone' | 'symmetric', watch: Record<string, string>): void {
    this.exec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const masq = type === 'symmetric' ? 'masquerade fully-random' : 'masquerade';
    const counters = Object.keys(watch)
      .map((n) => `  counter to_${n} {}\n  counter from_${n} {}`)
      .join('\n');
    const post = Object.entries(watch)
      .map(([n, ip]) => `    oifname "${wanIf}" ip daddr ${ip} counter name to_${n}`)
      .join('\n');
    const pre = Object.entries(watch)
      .map(([n, ip]) => `    iifname "${wanIf}" ip saddr ${ip} counter name from_${n}`)
      .join('\n');
    const rules = `table ip pmnat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "${wanIf}" ${masq}
  }
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
    iifname "${wanIf}" drop
  }
  chain input_filter {
    type filter hook input priority 0; policy accept;
    ct state established,related accept
    iifname "${wanIf}" drop
  }
}
table ip pmcnt {
${counters}
  chain post {
    type filter hook postrouting priority 200;
${post}
  }
  chain pre {
    type filter hook prerouting priority -300;
${pre}
  }
}
`;
    sh('ip', ['netns', 'exec', this.ns(router), 'nft', '-f', '-'], { input: rules });
  }

  /** Packets counted so far by a named nftables counter of natRouter(). */
  natCounter(router: string, name: string): number {
    return this.natCounterBoth(router, name).packets;
  }

  /** Packets and bytes counted so far by a named nftables counter of natRouter(). */
  natCounterBoth(router: string, name: string): { packets: number; bytes: number } {
    const out = this.exec(router, 'nft', ['list', 'counter', 'ip', 'pmcnt', name]);
    const p = /packets (\d+)/.exec(out);
    const b = /bytes (\d+)/.exec(out);
    return { packets: p ? Number(p[1]) : 0, bytes: b ? Number(b[1]) : 0 };
  }

  /** Name of the veth end that `link(a, …, b, …)` put in host `a`. */
  vethName(host: string): string {
    return `v${this.id}${host}`.slice(0, 15);
  }

  exec(host: string, cmd: string, args: string[], timeoutMs = 20_000): string {
    return sh('ip', ['netns', 'exec', this.ns(host), cmd, ...args], { timeoutMs });
  }

  tryExec(host: string, cmd: string, args: string[], timeoutMs = 20_000): { ok: boolean; out: string } {
    return trySh('ip', ['netns', 'exec', this.ns(host), cmd, ...args], timeoutMs);
  }

  /** Start a long-running process inside a host's namespace; it is killed (by PID) on cleanup. */
  spawnIn(host: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(host), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    this.procs.push(child);
    return child;
  }

  /** Interfaces (name list) currently in a host's namespace. */
  links(host: string): string[] {
    const out = this.exec(host, 'ip', ['-o', 'link', 'show']);
    return out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(': ')[1].split('@')[0]);
  }

  /** Stop recorded processes by PID (TERM, then KILL after a grace period). */
  async stopAll(graceMs = 3000): Promise<void> {
    const live = this.procs.filter((p) => p.exitCode === null && p.signalCode === null && p.pid);
    for (const p of live) p.kill('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && live.some((p) => p.exitCode === null && p.signalCode === null))
      await sleep(50);
    for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }

  async cleanup(): Promise<void> {
    await this.stopAll();
    this.cleanupSync();
  }

  private cleanupSync(): void {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null && p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    for (const ns of this.namespaces.splice(0)) {
      trySh('ip', ['netns', 'del', ns]);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    process.removeListener('exit', this.onExit);
  }
}

/**
 * An iperf3 TCP transfer from `client` to `server`'s address (through whatever tunnel the test set
 * up). Retries while the tunnel comes up (bounded); returns the bytes the server received.
 */
export function iperfTransfer(
  lab: NetnsLab,
  server: string,
  address: string,
  client: string,
  port: number,
  seconds = 2,
): number {
  const srv = lab.spawnIn(server, 'iperf3', ['-s', '-B', address, '-p', String(port)]);
  try {
    let last = '';
    for (let i = 0; i < 20; i++) {
      const r = lab.tryExec(
        client,
        'iperf3',
        ['-c', address, '-p', String(port), '-t', String(seconds), '-J'],
        seconds * 1000 + 30_000,
      );
      // iperf3 can exit 0 with a JSON report that has no totals (it raced a server still starting):
      // such a run counts as a failed attempt, like a non-zero exit.
      if (r.ok) {
        let bytes: unknown;
        try {
          bytes = (JSON.parse(r.out) as { end?: { sum_received?: { bytes?: unknown } } }).end?.sum_received
            ?.bytes;
        } catch {
          bytes = undefined;
        }
        if (typeof bytes === 'number') return bytes;
      }
      last = r.out;
      execFileSync('sleep', ['0.2']);
    }
    throw new Error(`iperf3 ${client} -> ${server} failed: ${last.slice(0, 300)}`);
  } finally {
    srv.kill('SIGKILL');
  }
}
