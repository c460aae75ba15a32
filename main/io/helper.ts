// Client of the native TUN helper (native/peermesh-helper.c and the files beside it; protocol in docs/helper.md).
// The helper is spawned with a unix stream socket as fd 3 (Node's 'pipe' stdio is a socketpair).
// Frames both ways: u16 big-endian length (of type + payload) | u8 type | payload.
// Receiving parses frames over each chunk with offsets (no allocation per packet); sending copies
// packets into a batch buffer that is written once per event-loop turn.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Cidr } from '../core/ip';
import type { DataplaneAddon } from './dataplane';

const FRAME_PACKET = 0x01;
const FRAME_CONTROL = 0x02;
const FRAME_ROUTE = 0x03;
const BATCH_SIZE = 256 * 1024;
/** Bytes we queue on the socket before dropping new packets (the helper is not keeping up). */
const MAX_QUEUED = 4 * 1024 * 1024;

export interface TunOptions {
  helperPath?: string;
  /**
   * A command that starts the helper with privileges, e.g. ['pkexec'] in the desktop app when the
   * helper has no CAP_NET_ADMIN of its own; the helper's path and arguments follow it.
   */
  launcher?: string[];
  name: string;
  mtu: number;
  addresses: string[];
  routes?: string[];
  /** Subnets this node offers: the helper turns forwarding on and masquerades into them. */
  forward?: string[];
  /** Routes through the device will be added and removed at runtime (setRoute). */
  dynamicRoutes?: boolean;
  /** This node is an exit node: the helper forwards and masquerades members' traffic to its uplink. */
  exit?: boolean;
  /**
   * Fd mode (the native data plane): the helper opens the device with IFF_VNET_HDR and hands its
   * descriptor over a unix seqpacket pair made by this addon (`tunFd` once started); it then only
   * serves route frames, and packets never cross the channel.
   */
  passFd?: DataplaneAddon;
  /**
   * With passFd: addresses (of `addresses`, without prefix) on which the helper binds UDP port 53 for
   * the DNS responder and hands the sockets over beside the device's (`dnsSockets` once started).
   */
  dns?: string[];
  /** Started as root: the user the helper switches to after setup (its default is `nobody`). */
  user?: string;
}

/** A DNS socket the helper bound (port 53 on one of the device's addresses), or why it could not. */
export interface HelperDnsSocket {
  address: string;
  /** The bound UDP socket, now owned by the caller; null when the helper could not bind it. */
  fd: number | null;
  error: string | null;
}

export interface TunInfo {
  ifname: string;
  ifindex: number;
  mtu: number;
}

export function defaultHelperPath(): string {
  return (
    process.env.PEERMESH_HELPER || join(__dirname, '..', '..', '..', 'native', 'build', 'peermesh-helper')
  );
}

/** One access rule as the janitor takes it (see setAccess). */
export interface AccessWireRule {
  allow: boolean;
  proto: 'any' | 'tcp' | 'udp' | 'icmp';
  /** First and last destination port (tcp/udp), or null: any. */
  ports: [number, number] | null;
  /** The member's overlay addresses (4 and 16 bytes), or null: any member. */
  from: { v4: Uint8Array; v6: Uint8Array } | null;
}

/**
 * The DNS sockets that follow the device's descriptor on the pass socket: one for each entry of the
 * ready frame's `dns` list whose error is null, in that order (docs/helper.md "Fd mode").
 */
function receiveDnsSockets(dp: DataplaneAddon, sock: number, list: unknown): HelperDnsSocket[] {
  if (!Array.isArray(list)) return [];
  return list.map((e: { address?: unknown; error?: unknown }) => {
    const address = String(e?.address);
    if (e?.error !== null) return { address, fd: null, error: String(e?.error) };
    try {
      return { address, fd: dp.recvFd(sock, 1000), error: null };
    } catch (err) {
      return { address, fd: null, error: (err as Error).message };
    }
  });
}

export class TunHelper {
  onPacket: (buf: Buffer, start: number, end: number) => void = () => {};
  onBatchEnd: () => void = () => {};
  onExit: (reason: string) => void = () => {};
  /** The helper's own log lines (setup and teardown only; never per packet). */
  onLog: (line: string) => void = () => {};
  readonly stats = { rxPackets: 0, txPackets: 0, txDropped: 0 };
  info: TunInfo = { ifname: '', ifindex: 0, mtu: 0 };
  /** Fd mode: the device's descriptor (IFF_VNET_HDR), now owned by the caller; else -1. */
  tunFd = -1;
  /** Fd mode with `dns`: the sockets the helper bound on port 53, until taken (takeDnsSockets). */
  private dnsSockets: HelperDnsSocket[] = [];
  private closeFd: (fd: number) => void = () => {};

  // Packets for the helper are appended to an arena; flush() hands the region filled since the last
  // flush to the socket (which keeps a reference until written) and appending continues after it.
  // A full arena is replaced by a fresh one, so queued memory stays close to queued data.
  private batch: Buffer = Buffer.allocUnsafe(BATCH_SIZE);
  private batchStart = 0;
  private batchLen = 0;
  private flushScheduled = false;
  private carry: Buffer | null = null; // a partial frame from the previous chunk
  private closed = false;
  private readonly exited: Promise<void>;
  private stderrTail = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly chan: Readable & Writable,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Spawn the helper and resolve once the device is up (the helper's ready frame). */
  static start(opts: TunOptions): Promise<TunHelper> {
    const path = opts.helperPath ?? defaultHelperPath();
    if (!existsSync(path)) {
      return Promise.reject(new Error(`TUN helper not found at ${path} (run: npm run build)`));
    }
    const args = ['--name', opts.name, '--mtu', String(opts.mtu)];
    for (const a of opts.addresses) args.push('--addr', a);
    for (const r of opts.routes ?? []) args.push('--route', r);
    for (const f of opts.forward ?? []) args.push('--forward', f);
    if (opts.dynamicRoutes) args.push('--dynamic-routes');
    if (opts.exit) args.push('--exit');
    if (opts.user) args.push('--user', opts.user);
    // Through a launcher (pkexec), descriptors above 2 do not survive: the channel is then the
    // helper's stdout (Node's end of a stdout pipe is a duplex unix socket, like fd 3's).
    const viaLauncher = !!opts.launcher?.length;
    const [cmd, ...pre] = viaLauncher ? [...opts.launcher!, path] : [path];
    if (viaLauncher) args.push('--fd', '1');
    // Fd mode: the helper's end of a seqpacket pair is its stdin behind a launcher, else fd 4.
    const pair = opts.passFd ? opts.passFd.socketpair() : null;
    if (pair) args.push('--pass-fd', viaLauncher ? '0' : '4');
    if (pair) for (const a of opts.dns ?? []) args.push('--dns', a);
    let child: ChildProcess;
    try {
      child = spawn(cmd, [...pre, ...args], {
        stdio: viaLauncher
          ? [pair ? pair[1] : 'ignore', 'pipe', 'pipe', 'ignore']
          : ['ignore', 'ignore', 'pipe', 'pipe', ...(pair ? [pair[1]] : [])],
      });
    } finally {
      if (pair) opts.passFd!.closeFd(pair[1]); // the child has its copy
    }
    const chan = child.stdio[viaLauncher ? 1 : 3] as Readable & Writable;
    const h = new TunHelper(child, chan);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      h.stderrTail = (h.stderrTail + d).slice(-2000);
      for (const line of d.split('\n')) if (line.trim()) h.onLog(line.replace(/^peermesh-helper: /, ''));
    });
    let pairOpen = !!pair;
    const closePair = () => {
      if (pairOpen) opts.passFd!.closeFd(pair![0]);
      pairOpen = false;
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail('the TUN helper did not report ready within 10 s'), 10_000);
      const fail = (msg: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        closePair();
        // Rejected once the helper is gone, so its device is too (a caller may start another).
        if (!child.pid || child.exitCode !== null || child.signalCode !== null) reject(new Error(msg));
        else {
          child.once('exit', () => reject(new Error(msg)));
          child.kill('SIGKILL');
        }
      };
      h.onControl = (msg) => {
        if (msg.type === 'ready' && !settled) {
          if (pair) {
            // The helper sent the descriptor before its ready frame: it is already queued.
            try {
              h.tunFd = opts.passFd!.recvFd(pair[0], 1000);
              h.dnsSockets = receiveDnsSockets(opts.passFd!, pair[0], msg.dns);
              h.closeFd = (fd) => opts.passFd!.closeFd(fd);
            } catch (e) {
              fail(`TUN helper: no device descriptor (${(e as Error).message}); is the helper current?`);
              return;
            } finally {
              closePair();
            }
          }
          settled = true;
          clearTimeout(timer);
          h.info = { ifname: String(msg.ifname), ifindex: Number(msg.ifindex), mtu: Number(msg.mtu) };
          resolve(h);
        } else if (msg.type === 'error') {
          fail(`TUN helper: ${String(msg.message)}`);
        } else if (msg.type === 'route') {
          h.onRoute(
            String(msg.op),
            String(msg.route),
            msg.error === null ? null : String(msg.error),
            Number(msg.count) || 0,
          );
        }
      };
      child.once('error', (e) => fail(`cannot start the TUN helper ${path}: ${e.message}`));
      child.once('exit', (code, signal) => {
        const reason = () => h.lastHelperLine() || `exit ${code ?? signal}`;
        // Before ready, wait for stdio to drain: the error frame and stderr line may still be unread.
        if (!settled) {
          child.once('close', () => fail(`TUN helper failed: ${reason()}`));
        } else if (!h.closed) h.onExit(reason());
      });
      chan.on('data', (chunk: Buffer) => h.receive(chunk));
      chan.on('error', () => {
        /* the exit handler reports */
      });
    });
  }

  private onControl: (msg: Record<string, unknown>) => void = () => {};
  /** The helper's answer to setRoute and the like (error null: done; count: access-count's). */
  onRoute: (op: string, route: string, error: string | null, count: number) => void = () => {};

  /**
   * Add or remove a route through the device, or an address of it (needs dynamicRoutes). The
   * helper's privileged janitor does it, for this device only; routes never wider than /8 (IPv4)
   * or /16 (IPv6).
   */
  setRoute(op: 'add' | 'delete' | 'add-address' | 'delete-address', cidr: Cidr): void {
    this.janitorOp((m) => {
      m[0] = { add: 1, delete: 2, 'add-address': 3, 'delete-address': 4 }[op];
      m[1] = cidr.family;
      m[2] = cidr.prefix;
      m.set(cidr.bytes, 3);
    });
  }

  /**
   * Route everything through the device (using an exit node) or stop (needs dynamicRoutes): policy
   * rules by the helper's janitor, the tunnel's own UDP from `port` kept on the main table, the
   * machine's LANs too with `allowLan`; with `dns` (the exit's overlay IPv4) every DNS query of the
   * machine goes to the exit's forwarder. Answered through onRoute ('exit-on' / 'exit-off').
   */
  setExitRouting(on: boolean, port: number, allowLan: boolean, dns: Uint8Array | null = null): void {
    this.janitorOp((m) => {
      m[0] = on ? 5 : 6;
      m[1] = allowLan ? 1 : 0;
      m.writeUInt16BE(port, 3);
      if (dns) m.set(dns.subarray(0, 4), 5); // the exit's overlay IPv4: every DNS query goes to it
    });
  }

  /**
   * This node is the gateway of devices (docs/devices.md): the helper's janitor turns on IPv4
   * forwarding for packets arriving on the device, back into the device only. Answered through
   * onRoute ('gateway').
   */
  enableGateway(): void {
    this.janitorOp((m) => {
      m[0] = 7;
    });
  }

  /** One fixed 19-byte request to the helper's janitor (a route frame): `fill` writes its fields. */
  private janitorOp(fill: (m: Buffer) => void): void {
    if (this.closed) return;
    const f = Buffer.alloc(2 + 20);
    f.writeUInt16BE(20, 0);
    f[2] = FRAME_ROUTE;
    fill(f.subarray(3));
    this.flush();
    this.chan.write(f);
  }

  /**
   * Replace this machine's access rules (docs/access.md) in one step: the janitor builds an nftables
   * table from these fields (input on the device; replies always pass; drops counted) and answers
   * 'access-commit' through onRoute. `v6Prefix`: the network's first 8 bytes of overlay IPv6.
   */
  setAccess(defaultDeny: boolean, v6Prefix: Uint8Array, rules: readonly AccessWireRule[]): void {
    this.janitorOp((m) => {
      m[0] = 8;
      m[1] = defaultDeny ? 1 : 0;
      m.set(v6Prefix.subarray(0, 8), 3);
    });
    for (const r of rules)
      this.janitorOp((m) => {
        m[0] = 9;
        m[1] = (r.allow ? 0x10 : 0x20) | { any: 0, tcp: 1, udp: 2, icmp: 3 }[r.proto];
        m.writeUInt16BE(r.ports?.[0] ?? 0, 2);
        m.writeUInt16BE(r.ports?.[1] ?? 0, 4);
        if (r.from) {
          m[6] = 1;
          m.set(r.from.v4.subarray(0, 4), 7);
          m.set(r.from.v6.subarray(8, 16), 11);
        }
      });
    this.janitorOp((m) => {
      m[0] = 10;
    });
  }

  /** No access rules (everyone may reach this machine); answered as 'access-off'. */
  clearAccess(): void {
    this.janitorOp((m) => {
      m[0] = 11;
    });
  }

  /** Ask how many packets the access rules dropped; answered as 'access-count' with the count. */
  askAccessDropped(): void {
    this.janitorOp((m) => {
      m[0] = 12;
    });
  }

  /** The DNS sockets the helper bound (fd mode, `dns`), handed over once: the caller owns them. */
  takeDnsSockets(): HelperDnsSocket[] {
    return this.dnsSockets.splice(0);
  }

  private lastHelperLine(): string {
    const lines = this.stderrTail.trim().split('\n');
    return (lines.at(-1) ?? '').replace(/^peermesh-helper: /, '');
  }

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const len = (buf[off] << 8) | buf[off + 1];
      if (len === 0 || n - off - 2 < len) break;
      const type = buf[off + 2];
      if (type === FRAME_PACKET) {
        this.stats.rxPackets++;
        this.onPacket(buf, off + 3, off + 2 + len);
      } else if (type === FRAME_CONTROL) {
        try {
          this.onControl(JSON.parse(buf.toString('utf8', off + 3, off + 2 + len)));
        } catch {
          /* malformed control message: ignore */
        }
      }
      off += 2 + len;
    }
    if (off < n) this.carry = Buffer.from(buf.subarray(off));
    this.onBatchEnd();
  }

  /** Queue one IP packet for the TUN device (copied; flushed once per event-loop turn). */
  writePacket(src: Buffer, start: number, end: number): void {
    const len = end - start;
    if (this.closed || len <= 0 || len > 65534) return;
    if (this.batchLen + len + 3 > this.batch.length) {
      this.flush();
      this.batch = Buffer.allocUnsafe(BATCH_SIZE);
      this.batchStart = this.batchLen = 0;
    }
    if (this.chan.writableLength > MAX_QUEUED) {
      this.stats.txDropped++;
      return;
    }
    const b = this.batch;
    const at = this.batchLen;
    b[at] = (len + 1) >> 8;
    b[at + 1] = (len + 1) & 0xff;
    b[at + 2] = FRAME_PACKET;
    src.copy(b, at + 3, start, end);
    this.batchLen = at + 3 + len;
    this.stats.txPackets++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private readonly flushNow = () => {
    this.flushScheduled = false;
    this.flush();
  };

  /** Hand the packets queued since the last flush to the socket, with one write. */
  flush(): void {
    if (this.batchLen === this.batchStart || this.closed) return;
    this.chan.write(this.batch.subarray(this.batchStart, this.batchLen));
    this.batchStart = this.batchLen;
  }

  /** Close the channel: the helper removes the device and exits. Resolves when it has exited. */
  async close(): Promise<void> {
    for (const d of this.takeDnsSockets()) if (d.fd !== null) this.closeFd(d.fd); // never taken
    if (this.closed) return this.exited;
    this.flush();
    this.closed = true;
    this.chan.end();
    this.chan.destroy();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}
