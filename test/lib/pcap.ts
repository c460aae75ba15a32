// The UDP payloads of a pcap file (as tcpdump -w writes it; Ethernet or Linux cooked capture,
// IPv4, unfragmented), with their source and destination, for tests that replay captured traffic.
import { readFileSync } from 'node:fs';

export interface CapturedDatagram {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export function readPcapUdp(file: string, max = 5000): CapturedDatagram[] {
  const out: CapturedDatagram[] = [];
  const b = readFileSync(file);
  if (b.length < 24) return out;
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (x: number) => (le ? b.readUInt32LE(x) : b.readUInt32BE(x));
  const link = u32(20);
  let off = 24;
  for (let n = 0; n < max && off + 16 <= b.length; n++) {
    const incl = u32(off + 8);
    off += 16;
    if (off + incl > b.length) break;
    const f = b.subarray(off, off + incl);
    off += incl;
    let ip = link === 1 ? 14 : link === 113 ? 16 : 0;
    if (link === 1 && f.length >= 14 && f.readUInt16BE(12) === 0x8100) ip += 4;
    if (f.length < ip + 28 || f[ip] >> 4 !== 4 || f[ip + 9] !== 17) continue;
    if ((f.readUInt16BE(ip + 6) & 0x3fff) !== 0) continue; // fragments
    const udp = ip + (f[ip] & 15) * 4;
    const end = Math.min(f.length, udp + f.readUInt16BE(udp + 4));
    if (end <= udp + 8) continue;
    out.push({
      src: [...f.subarray(ip + 12, ip + 16)].join('.'),
      dst: [...f.subarray(ip + 16, ip + 20)].join('.'),
      srcPort: f.readUInt16BE(udp),
      dstPort: f.readUInt16BE(udp + 2),
      payload: Buffer.from(f.subarray(udp + 8, end)),
    });
  }
  return out;
}
