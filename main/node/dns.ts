// Members' names over DNS (docs/dns.md): a small responder on this node's overlay address, answering
// NAME.NETWORK (A, AAAA) and PTR for overlay addresses, with the names the hosts file gets (hosts.ts
// memberNames: the same on every member). Everything a member can send reaches it, so the parser is
// strict and bounded: one question, no compression in it, labels of at most 63 bytes, a name of at
// most 255; anything else is dropped without an answer. An answer is never larger than the query for
// a name it does not know (NXDOMAIN, REFUSED): no amplification.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, existsSync, readFileSync } from 'node:fs';
import { formatIp, parseIp } from '../core/ip';
import type { HelperDnsSocket } from '../io/helper';
import type { Logger } from './log';

const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_AAAA = 28;
const TYPE_ANY = 255;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_REFUSED = 5;
/** Names change when members rename or go: answers are kept short-lived. */
const TTL = 30;
const MAX_QUERY = 512;

export interface DnsQuery {
  id: number;
  flags: number;
  /** The name, lower case, without the trailing dot. */
  name: string;
  type: number;
  cls: number;
  /** The question section's bytes (echoed in the answer). */
  question: Buffer;
}

/** A query's one question, or null: not a query we answer (dropped, no answer at all). */
export function parseQuery(b: Buffer): DnsQuery | null {
  if (b.length < 12 || b.length > MAX_QUERY) return null;
  const flags = b.readUInt16BE(2);
  if (flags & 0x8000) return null; // a response
  if ((flags >> 11) & 0xf) return null; // not a standard query
  if (b.readUInt16BE(4) !== 1 || b.readUInt16BE(6) !== 0 || b.readUInt16BE(8) !== 0 || b.readUInt16BE(10) > 1)
    return null;
  const labels: string[] = [];
  let off = 12;
  let total = 0;
  for (;;) {
    if (off >= b.length) return null;
    const len = b[off];
    if (len === 0) {
      off++;
      break;
    }
    if (len > 63) return null; // compression pointers (0xc0) or reserved bits: not in a question
    if (off + 1 + len > b.length) return null;
    total += len + 1;
    if (total > 255) return null;
    labels.push(b.toString('latin1', off + 1, off + 1 + len).toLowerCase());
    off += 1 + len;
  }
  if (off + 4 > b.length) return null;
  const type = b.readUInt16BE(off);
  const cls = b.readUInt16BE(off + 2);
  return {
    id: b.readUInt16BE(0),
    flags,
    name: labels.join('.'),
    type,
    cls,
    question: b.subarray(12, off + 4),
  };
}

/** An answer: header, the question, then each record (pointing at the question's name). */
export function buildAnswer(q: DnsQuery, rcode: number, records: { type: number; data: Buffer }[]): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(q.id, 0);
  // QR, AA, the query's RD; RA 0 (no recursion here)
  head.writeUInt16BE(0x8000 | 0x0400 | (q.flags & 0x0100) | rcode, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(records.length, 6);
  const parts = [head, q.question];
  for (const r of records) {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(r.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(r.data.length, 10);
    parts.push(rr, r.data);
  }
  return Buffer.concat(parts);
}

/** A name in DNS wire form (labels), for PTR data. */
function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const l of name.split('.')) {
    const b = Buffer.from(l, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** The address of a reverse name (x.y.z.w.in-addr.arpa or the ip6.arpa nibbles), or null. */
export function reverseAddress(name: string): string | null {
  let m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (m) {
    const ip = parseIp(`${m[4]}.${m[3]}.${m[2]}.${m[1]}`);
    return ip ? formatIp(ip.bytes) : null;
  }
  m = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(name);
  if (!m) return null;
  const hex = m[1].split('.').filter(Boolean).reverse().join('');
  const ip = parseIp(hex.match(/.{4}/g)!.join(':'));
  return ip ? formatIp(ip.bytes) : null;
}

export interface NameEntry {
  /** NAME.NETWORK, lower case. */
  name: string;
  v4: string;
  v6: string;
}

/**
 * The answer to a query (null: drop it). `domain`: the network's (`home`); `entries`: the members'
 * names now (removed members are not in it).
 */
export function answer(q: DnsQuery, domain: string, entries: readonly NameEntry[]): Buffer {
  if (q.cls !== CLASS_IN) return buildAnswer(q, RCODE_REFUSED, []);
  const rev = reverseAddress(q.name);
  if (rev) {
    const e = entries.find((x) => x.v4 === rev || x.v6 === rev);
    if (!e) return buildAnswer(q, RCODE_NXDOMAIN, []);
    return buildAnswer(
      q,
      0,
      q.type === TYPE_PTR || q.type === TYPE_ANY ? [{ type: TYPE_PTR, data: encodeName(e.name) }] : [],
    );
  }
  if (q.name !== domain && !q.name.endsWith(`.${domain}`)) return buildAnswer(q, RCODE_REFUSED, []);
  const e = entries.find((x) => x.name === q.name);
  if (!e) return buildAnswer(q, RCODE_NXDOMAIN, []);
  const records: { type: number; data: Buffer }[] = [];
  if (q.type === TYPE_A || q.type === TYPE_ANY)
    records.push({ type: TYPE_A, data: Buffer.from(parseIp(e.v4)!.bytes) });
  if ((q.type === TYPE_AAAA || q.type === TYPE_ANY) && e.v6)
    records.push({ type: TYPE_AAAA, data: Buffer.from(parseIp(e.v6)!.bytes) });
  return buildAnswer(q, 0, records); // no records of that type: NOERROR, empty (NODATA)
}

/** The first `nameserver` of a resolv.conf text (IPv4), or null. */
export function firstNameserver(text: string): string | null {
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+([0-9.]+)\s*$/.exec(line);
    if (m && parseIp(m[1])) return m[1];
  }
  return null;
}

/** The machine's own resolver (the first nameserver of /etc/resolv.conf), or null. */
export function systemNameserver(): string | null {
  try {
    return firstNameserver(readFileSync('/etc/resolv.conf', 'utf8'));
  } catch {
    return null;
  }
}

/** Whether two address texts are the same address (the helper writes them as inet_ntop does). */
function sameAddress(x: string, y: string): boolean {
  const norm = (t: string) => {
    const ip = parseIp(t);
    return ip ? formatIp(ip.bytes) : t;
  };
  return norm(x) === norm(y);
}

/** Most queries an exit forwards at once; a query's answer is awaited this long. */
const FORWARD_MAX = 256;
const FORWARD_TIMEOUT_MS = 3000;

/** The responder on the overlay addresses, port 53. */
export class DnsResponder {
  private readonly socks: dgram.Socket[] = [];
  answered = 0;
  dropped = 0;
  forwarded = 0;
  /** An exit node forwards other names to its own resolver (for members using it: no DNS leak). */
  private fwd: dgram.Socket | null = null;
  private readonly pending = new Map<
    number,
    { id: number; port: number; address: string; sock: dgram.Socket }
  >();
  private nextId = Math.floor(Math.random() * 0x10000);

  constructor(
    private readonly domain: string,
    private readonly entries: () => readonly NameEntry[],
    private readonly log: Logger,
    /** Where an exit node forwards names that are not the network's (null: it answers REFUSED). */
    private readonly upstream: (() => string | null) | null = null,
  ) {}

  /**
   * Bind on each address (port 53), or take the socket the TUN helper bound there for us (`given`:
   * an unprivileged node cannot bind port 53, the helper can: docs/dns.md); resolves with the
   * addresses it serves on (none: a warning said why).
   */
  async start(addresses: string[], port = 53, given: readonly HelperDnsSocket[] = []): Promise<string[]> {
    const served: string[] = [];
    for (const g of given)
      if (g.fd !== null && !addresses.some((a) => sameAddress(a, g.address))) {
        closeSync(g.fd); // not ours any more (the address moved)
      }
    for (const a of addresses) {
      const fromHelper = given.find((g) => sameAddress(g.address, a));
      const s = dgram.createSocket({ type: a.includes(':') ? 'udp6' : 'udp4' });
      try {
        if (fromHelper && fromHelper.fd === null) throw new Error(`the helper: ${fromHelper.error}`);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          const done = () => {
            s.off('error', reject);
            resolve();
          };
          if (fromHelper) s.bind({ fd: fromHelper.fd!, exclusive: true }, done);
          else s.bind({ port, address: a, exclusive: true }, done);
        });
      } catch (e) {
        s.close();
        this.log.warn(
          `no DNS responder on ${a}:${port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): ` +
            'names stay in the hosts file only',
        );
        continue;
      }
      s.on('error', () => {});
      s.on('message', (msg, rinfo) => this.onQuery(s, msg, rinfo));
      this.socks.push(s);
      served.push(a);
    }
    return served;
  }

  private onQuery(s: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const q = parseQuery(msg);
    if (!q) {
      this.dropped++;
      return;
    }
    const entries = this.entries();
    if (this.upstream && !this.isOurs(q, entries) && this.forward(s, msg, rinfo)) return;
    const out = answer(q, this.domain, entries);
    this.answered++;
    s.send(out, rinfo.port, rinfo.address);
  }

  /** A name of the network, or the reverse name of a member's address. */
  private isOurs(q: DnsQuery, entries: readonly NameEntry[]): boolean {
    if (q.name === this.domain || q.name.endsWith(`.${this.domain}`)) return true;
    const rev = reverseAddress(q.name);
    return rev !== null && entries.some((e) => e.v4 === rev || e.v6 === rev);
  }

  /** Send a query on to the upstream resolver under a new id; its answer goes back under the old one. */
  private forward(s: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): boolean {
    const up = this.upstream?.();
    if (!up) return false;
    if (this.pending.size >= FORWARD_MAX) return true; // busy: dropped (the client retries)
    if (!this.fwd) {
      const f = dgram.createSocket('udp4');
      f.on('error', () => {});
      f.on('message', (m, from) => {
        if (m.length < 12 || !(m[2] & 0x80) || from.port !== 53) return;
        const p = this.pending.get(m.readUInt16BE(0));
        if (!p) return;
        this.pending.delete(m.readUInt16BE(0));
        const out = Buffer.from(m);
        out.writeUInt16BE(p.id, 0);
        p.sock.send(out, p.port, p.address);
      });
      this.fwd = f;
    }
    let id = this.nextId++ & 0xffff;
    while (this.pending.has(id)) id = this.nextId++ & 0xffff;
    this.pending.set(id, { id: msg.readUInt16BE(0), port: rinfo.port, address: rinfo.address, sock: s });
    setTimeout(() => this.pending.delete(id), FORWARD_TIMEOUT_MS).unref();
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    this.fwd.send(out, 53, up);
    this.forwarded++;
    return true;
  }

  close(): void {
    for (const s of this.socks.splice(0)) s.close();
    this.fwd?.close();
    this.fwd = null;
    this.pending.clear();
  }
}

/**
 * Where systemd-resolved runs, send the network's domain to our responder on the PeerMesh interface
 * (per-link DNS server and routing domain `~DOMAIN`, as `resolvectl` sets them; the link's settings
 * go with the interface). True when it took them; elsewhere the hosts file is the fallback.
 */
export async function registerResolved(
  ifname: string,
  servers: string[],
  domain: string,
  log: Logger,
): Promise<boolean> {
  if (!existsSync('/run/systemd/resolve/io.systemd.Resolve')) return false;
  const run = (args: string[]) =>
    new Promise<string | null>((resolve) =>
      execFile('resolvectl', args, { timeout: 5000 }, (e, _out, err) =>
        resolve(e ? err.trim() || e.message : null),
      ),
    );
  const e1 = await run(['dns', ifname, ...servers]);
  const e2 = e1 ?? (await run(['domain', ifname, `~${domain}`]));
  if (e1 ?? e2) {
    log.warn(
      `systemd-resolved did not take the ${domain} domain (${e1 ?? e2}); names stay in the hosts file`,
    );
    return false;
  }
  log.info(`systemd-resolved sends *.${domain} to this node's responder`);
  return true;
}
