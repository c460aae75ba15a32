// Two bare data plane processes (test/lib/dataplane-node.ts) in two namespaces joined by a veth, with
// one session installed by hand on both sides: the namespace test and the benchmark drive real TUN
// devices, ping and iperf3 through them.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { DpStats } from '../../main/io/dataplane';
import type { DataplaneNodeConfig } from './dataplane-node';
import { type NetnsLab, waitFor } from './netns';

export interface DpVariant {
  name: string;
  vnetHdr: boolean;
  gso: boolean;
  gro: boolean;
  coalesce: boolean;
}

export const DP_VARIANTS: DpVariant[] = [
  { name: 'plain TUN + sendmmsg/recvmmsg', vnetHdr: false, gso: false, gro: false, coalesce: false },
  { name: '+ vnet hdr TSO split + UDP GSO', vnetHdr: true, gso: true, gro: false, coalesce: false },
  { name: '+ UDP GRO', vnetHdr: true, gso: true, gro: true, coalesce: false },
  { name: '+ TCP coalescing into TUN writes', vnetHdr: true, gso: true, gro: true, coalesce: true },
];

export type DpNodeStats = DpStats & {
  items: Record<string, number>;
  /** onEvents calls so far, and every event bit they carried. */
  events: { calls: number; bits: number; routineOnly: number; polledBits: number };
  cpuMs: number;
  rssMb: number;
};

export class DpWorker {
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly lines: string[] = [];

  constructor(readonly proc: ChildProcess) {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
  }

  next(timeoutMs = 10_000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('data plane worker did not answer')), timeoutMs);
      this.waiting.push((line) => {
        clearTimeout(t);
        resolve(line);
      });
    });
  }

  async ask(line: string): Promise<string> {
    this.proc.stdin!.write(`${line}\n`);
    return this.next();
  }

  async stats(): Promise<DpNodeStats> {
    return JSON.parse(await this.ask('stats')) as DpNodeStats;
  }

  /** Send raw bytes through the data plane's socket (as JS sends handshakes); returns 0 or an errno. */
  async send(bytes: Buffer, address: string, port: number): Promise<number> {
    return (
      JSON.parse(await this.ask(`send ${bytes.toString('hex')} ${address} ${port}`)) as { sent: number }
    ).sent;
  }

  /** A credential change in the worker (its threads are interrupted, as by the privilege drop). */
  async setxid(): Promise<void> {
    await this.ask('setxid');
  }

  /** N configuration calls in the worker; the longest one's duration (ms). */
  async reconf(n: number): Promise<number> {
    return (JSON.parse(await this.ask(`reconf ${n}`)) as { maxMs: number }).maxMs;
  }

  /** Install a session for peer 1 (keys hex); remove one by index. */
  async session(s: {
    localIndex: number;
    remoteIndex: number;
    sendKey: string;
    recvKey: string;
    isInitiator: boolean;
    slot: 'current' | 'next' | 'previous';
  }): Promise<void> {
    await this.ask(`session ${JSON.stringify(s)}`);
  }

  /** Seal an IP packet without sending it: the transport message. */
  async seal(packet: Buffer): Promise<Buffer> {
    const r = JSON.parse(await this.ask(`seal ${packet.toString('hex')}`)) as { hex?: string };
    if (!r.hex) throw new Error(`not sealed: ${JSON.stringify(r)}`);
    return Buffer.from(r.hex, 'hex');
  }

  async inject(datagram: Buffer): Promise<number> {
    return (JSON.parse(await this.ask(`inject ${datagram.toString('hex')}`)) as { err: number }).err;
  }

  async unsession(index: number): Promise<boolean> {
    return (JSON.parse(await this.ask(`unsession ${index}`)) as { ok: boolean }).ok;
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGTERM');
    await waitFor(
      'data plane exit',
      () => this.proc.exitCode !== null || this.proc.signalCode !== null,
      5000,
    );
  }
}

/**
 * Start test/lib/dataplane-node.js in `host` with `cfg`, wait for "ready", give its TUN device
 * the `overlay` CIDRs (IPv6 ones without DAD), MTU 1420, up.
 */
export async function startDataplaneNode(
  lab: NetnsLab,
  host: string,
  cfg: DataplaneNodeConfig,
  overlay: string[],
): Promise<DpWorker> {
  const script = join(__dirname, 'dataplane-node.js');
  const proc = lab.spawnIn(host, process.execPath, [script, JSON.stringify(cfg)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const w = new DpWorker(proc);
  const first = await w.next(15_000).catch((e: Error) => e.message);
  if (first !== 'ready') throw new Error(`data plane in ${host} did not start: ${first} ${err}`);
  for (const o of overlay)
    lab.exec(host, 'ip', ['addr', 'add', o, 'dev', cfg.tun, ...(o.includes(':') ? ['nodad'] : [])]);
  lab.exec(host, 'ip', ['link', 'set', cfg.tun, 'mtu', '1420', 'up']);
  return w;
}

/**
 * A pair of data planes in hosts `a<n>` and `b<n>` (underlay 198.18.<n>.0/24, overlay 100.64.<n>.0/24
 * and fd00:6d:<n>::/64).
 */
export class DpPair {
  readonly hostA: string;
  readonly hostB: string;
  readonly overlayA: string;
  readonly overlayB: string;
  readonly overlay6A: string;
  readonly overlay6B: string;
  private readonly workers = new Map<string, DpWorker>();

  constructor(
    private readonly lab: NetnsLab,
    readonly n: number,
    readonly variant: DpVariant,
  ) {
    this.hostA = `a${n}`;
    this.hostB = `b${n}`;
    this.overlayA = `100.64.${n}.1`;
    this.overlayB = `100.64.${n}.2`;
    this.overlay6A = `fd00:6d:${n}::1`;
    this.overlay6B = `fd00:6d:${n}::2`;
  }

  tunOf(host: string): string {
    return `d${this.lab.id}${host}`.slice(0, 15);
  }

  async start(): Promise<void> {
    const { lab, n, hostA, hostB } = this;
    lab.addHost(hostA);
    lab.addHost(hostB);
    lab.link(hostA, `198.18.${n}.1/24`, hostB, `198.18.${n}.2/24`);
    const k1 = randomBytes(32).toString('hex');
    const k2 = randomBytes(32).toString('hex');
    const cfg = (self: 1 | 2): DataplaneNodeConfig => ({
      tun: this.tunOf(self === 1 ? hostA : hostB),
      vnetHdr: this.variant.vnetHdr,
      gso: this.variant.gso,
      gro: this.variant.gro,
      coalesce: this.variant.coalesce,
      port: 51820,
      peer: {
        endpoint: { address: `198.18.${n}.${3 - self}`, port: 51820 },
        allowedIps: [`100.64.${n}.${3 - self}/32`, `fd00:6d:${n}::${3 - self}/128`],
      },
      session: {
        localIndex: self === 1 ? 0x1111 : 0x2222,
        remoteIndex: self === 1 ? 0x2222 : 0x1111,
        sendKey: self === 1 ? k1 : k2,
        recvKey: self === 1 ? k2 : k1,
        isInitiator: self === 1,
      },
    });
    this.workers.set(
      hostA,
      await startDataplaneNode(lab, hostA, cfg(1), [`${this.overlayA}/24`, `${this.overlay6A}/64`]),
    );
    this.workers.set(
      hostB,
      await startDataplaneNode(lab, hostB, cfg(2), [`${this.overlayB}/24`, `${this.overlay6B}/64`]),
    );
    await waitFor(
      'a ping through the data planes',
      () => lab.tryExec(hostA, 'ping', ['-c', '1', '-W', '1', this.overlayB]).ok,
      10_000,
      100,
    );
  }

  async stats(host: string): Promise<DpNodeStats> {
    return this.workers.get(host)!.stats();
  }

  worker(host: string): DpWorker {
    return this.workers.get(host)!;
  }

  async reconf(host: string, n: number): Promise<number> {
    return this.workers.get(host)!.reconf(n);
  }

  async setxid(host: string): Promise<void> {
    await this.workers.get(host)!.setxid();
  }

  async send(host: string, bytes: Buffer, address: string, port: number): Promise<number> {
    return this.workers.get(host)!.send(bytes, address, port);
  }

  async stop(): Promise<void> {
    for (const w of this.workers.values()) await w.stop();
    this.workers.clear();
  }
}
