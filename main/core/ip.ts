// IP address and CIDR parsing (IPv4 and IPv6) and the few IP header fields the core reads.
// Pure functions: used by config validation, allowed-IPs routing and the packet path.

export interface Cidr {
  family: 4 | 6;
  bytes: Uint8Array; // network address, masked to the prefix
  prefix: number;
}

export function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(Number.parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

export function parseIp(s: string): { family: 4 | 6; bytes: Uint8Array } | null {
  const v4 = parseIPv4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(s);
  return v6 ? { family: 6, bytes: v6 } : null;
}

/** Parse "addr/prefix" (prefix optional: a host route). `strict` rejects host bits set. */
export function parseCidr(s: string, opts: { strict?: boolean } = {}): Cidr | null {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIp(addr);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  const masked = maskBytes(ip.bytes, prefix);
  if (opts.strict && !bytesEqual(masked, ip.bytes)) return null;
  return { family: ip.family, bytes: masked, prefix };
}

export function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = bytes[i] & (bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // RFC 5952: compress the longest run (>= 2) of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefix}`;
}

/**
 * Length of the IP packet at buf[start, end) according to its own header, or -1 if it is not a
 * well-formed IPv4/IPv6 header that fits. Used to strip transport padding and reject garbage.
 */
export function ipPacketLength(buf: Uint8Array, start: number, end: number): number {
  const avail = end - start;
  if (avail < 1) return -1;
  const version = buf[start] >> 4;
  if (version === 4) {
    if (avail < 20) return -1;
    const len = (buf[start + 2] << 8) | buf[start + 3];
    return len >= 20 && len <= avail ? len : -1;
  }
  if (version === 6) {
    if (avail < 40) return -1;
    const len = 40 + ((buf[start + 4] << 8) | buf[start + 5]);
    return len <= avail ? len : -1;
  }
  return -1;
}

/** Whether two prefixes share any address (same family, equal under the shorter prefix). */
export function cidrOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  const x = maskBytes(a.bytes, p);
  const y = maskBytes(b.bytes, p);
  return x.every((v, i) => v === y[i]);
}

/**
 * Whether an address is one that NATs hide (RFC 1918, shared CGNAT space, link-local, IPv6 ULA and
 * link-local): a node that lists one among its endpoints probably sits behind a NAT.
 */
export function isNattedAddress(s: string): boolean {
  const ip = parseIp(s);
  if (!ip) return false;
  const b = ip.bytes;
  if (ip.family === 4)
    return (
      b[0] === 10 ||
      (b[0] === 172 && (b[1] & 0xf0) === 16) ||
      (b[0] === 192 && b[1] === 168) ||
      (b[0] === 100 && (b[1] & 0xc0) === 64) ||
      (b[0] === 169 && b[1] === 254)
    );
  return (b[0] & 0xfe) === 0xfc || (b[0] === 0xfe && (b[1] & 0xc0) === 0x80);
}
