// Losses the kernel counts and PeerMesh would not see otherwise (issue 18: under overload the TUN
// device's queue and the UDP socket's receive buffer drop packets before any of our code runs):
// the TUN interface's tx_dropped (packets for us that did not fit the device's queue: we read too
// slowly) and rx_dropped, and our UDP socket's drops (receive buffer full), per socket from
// /proc/net/udp{,6}. Read on demand (status, /metrics), a few small files.
import { readFileSync } from 'node:fs';

export interface KernelDrops {
  /** Packets for the tunnel the TUN device dropped (its queue to us was full). */
  tunTxDropped: number;
  /** Packets we wrote that the TUN device dropped. */
  tunRxDropped: number;
  /** Datagrams our UDP socket(s) dropped (receive buffer full). */
  udpRcvDropped: number;
}

function readCounter(path: string): number {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

/** Sum of the `drops` column of the sockets bound to `port` in /proc/net/udp-style text. */
export function udpDropsOf(text: string, port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let sum = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const local = f[1];
    if (local.slice(local.lastIndexOf(':') + 1) !== hexPort) continue;
    const drops = Number.parseInt(f[f.length - 1], 10);
    if (Number.isFinite(drops)) sum += drops;
  }
  return sum;
}

export function kernelDrops(ifname: string, udpPort: number): KernelDrops {
  const stat = (name: string) => readCounter(`/sys/class/net/${ifname}/statistics/${name}`);
  let udp = 0;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      udp += udpDropsOf(readFileSync(f, 'utf8'), udpPort);
    } catch {
      /* no IPv6 */
    }
  }
  return { tunTxDropped: stat('tx_dropped'), tunRxDropped: stat('rx_dropped'), udpRcvDropped: udp };
}
