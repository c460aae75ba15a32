// Cryptokey routing table (WireGuard's "allowed IPs"): longest-prefix match from an IP address to the
// peer that owns it. Used twice per packet: destination -> peer when sending, and "may this peer use
// this source address?" when receiving. Lookups read the address straight from the packet buffer and
// allocate nothing. An entry inserted for a new peer moves the prefix away from its old owner.
import { type Cidr, formatCidr } from './ip';

interface V6Entry<T> {
  words: Uint32Array; // masked network address as 4 big-endian words
  masks: Uint32Array;
  prefix: number;
  value: T;
}

const HOST_MASK = Uint32Array.of(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff);

export class AllowedIps<T> {
  // IPv4: one map per prefix length, tried from the longest.
  private readonly v4 = new Map<number, Map<number, T>>();
  private v4Lengths: number[] = [];
  // IPv6: /128 host entries by their last word (a mesh has one per member), the rest sorted by
  // prefix length, longest first (few per node).
  private readonly v6Hosts = new Map<number, V6Entry<T>[]>();
  private v6: V6Entry<T>[] = [];

  insert(c: Cidr, value: T): void {
    if (c.family === 4) {
      let m = this.v4.get(c.prefix);
      if (!m) {
        m = new Map();
        this.v4.set(c.prefix, m);
        this.v4Lengths = [...this.v4.keys()].sort((a, b) => b - a);
      }
      m.set(v4Key(c.bytes, 0), value);
    } else {
      const words = new Uint32Array(4);
      // Host entries (one per member in a mesh) share one all-ones mask.
      const masks = c.prefix === 128 ? HOST_MASK : new Uint32Array(4);
      for (let i = 0; i < 4; i++) {
        words[i] = readU32(c.bytes, i * 4);
        const bits = Math.max(0, Math.min(32, c.prefix - i * 32));
        if (masks !== HOST_MASK) masks[i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      }
      if (c.prefix === 128) {
        const list = (this.v6Hosts.get(words[3]) ?? []).filter((e) => !sameWords(e.words, words));
        list.push({ words, masks, prefix: 128, value });
        this.v6Hosts.set(words[3], list);
        return;
      }
      this.v6 = this.v6.filter((e) => !(e.prefix === c.prefix && sameWords(e.words, words)));
      this.v6.push({ words, masks, prefix: c.prefix, value });
      this.v6.sort((a, b) => b.prefix - a.prefix);
    }
  }

  /** Remove every prefix owned by `value`. */
  removeValue(value: T): void {
    for (const [len, m] of this.v4) {
      for (const [k, v] of m) if (v === value) m.delete(k);
      if (m.size === 0) this.v4.delete(len);
    }
    this.v4Lengths = [...this.v4.keys()].sort((a, b) => b - a);
    this.v6 = this.v6.filter((e) => e.value !== value);
    for (const [w, list] of this.v6Hosts) {
      const kept = list.filter((e) => e.value !== value);
      if (kept.length === 0) this.v6Hosts.delete(w);
      else if (kept.length !== list.length) this.v6Hosts.set(w, kept);
    }
  }

  /** Prefixes owned by `value`, formatted. */
  prefixesOf(value: T): string[] {
    const out: string[] = [];
    for (const [len, m] of this.v4) {
      for (const [k, v] of m) {
        if (v !== value) continue;
        out.push(
          formatCidr({ family: 4, prefix: len, bytes: new Uint8Array([k >>> 24, k >>> 16, k >>> 8, k]) }),
        );
      }
    }
    for (const e of [...this.v6Hosts.values()].flat().concat(this.v6)) {
      if (e.value !== value) continue;
      const bytes = new Uint8Array(16);
      for (let i = 0; i < 4; i++) {
        bytes[i * 4] = e.words[i] >>> 24;
        bytes[i * 4 + 1] = e.words[i] >>> 16;
        bytes[i * 4 + 2] = e.words[i] >>> 8;
        bytes[i * 4 + 3] = e.words[i];
      }
      out.push(formatCidr({ family: 6, prefix: e.prefix, bytes }));
    }
    return out;
  }

  /** Longest match for the IPv4 address at buf[off, off+4). */
  lookupV4(buf: Uint8Array, off: number): T | undefined {
    const addr = readU32(buf, off);
    for (const len of this.v4Lengths) {
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const v = this.v4.get(len)!.get((addr & mask) >>> 0);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Longest match for the IPv6 address at buf[off, off+16). */
  lookupV6(buf: Uint8Array, off: number): T | undefined {
    const a0 = readU32(buf, off);
    const a1 = readU32(buf, off + 4);
    const a2 = readU32(buf, off + 8);
    const a3 = readU32(buf, off + 12);
    const hosts = this.v6Hosts.get(a3);
    if (hosts) {
      for (const e of hosts) if (e.words[0] === a0 && e.words[1] === a1 && e.words[2] === a2) return e.value;
    }
    for (const e of this.v6) {
      const m = e.masks;
      const w = e.words;
      if (
        (a0 & m[0]) >>> 0 === w[0] &&
        (a1 & m[1]) >>> 0 === w[1] &&
        (a2 & m[2]) >>> 0 === w[2] &&
        (a3 & m[3]) >>> 0 === w[3]
      ) {
        return e.value;
      }
    }
    return undefined;
  }

  /** Owner of the packet's destination (IPv4 or IPv6 header at buf[start]). */
  lookupDestination(buf: Uint8Array, start: number): T | undefined {
    const v = buf[start] >> 4;
    if (v === 4) return this.lookupV4(buf, start + 16);
    if (v === 6) return this.lookupV6(buf, start + 24);
    return undefined;
  }

  /** Owner of the packet's source address. */
  lookupSource(buf: Uint8Array, start: number): T | undefined {
    const v = buf[start] >> 4;
    if (v === 4) return this.lookupV4(buf, start + 12);
    if (v === 6) return this.lookupV6(buf, start + 8);
    return undefined;
  }
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function v4Key(b: Uint8Array, o: number): number {
  return readU32(b, o);
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}
