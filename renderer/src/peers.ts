// Sorting and filtering of the peer list (pure, so the list and its tests share them).
import type { PeerRow } from './api';
import { displayName, ipv4Number } from './format';

export type SortKey = 'name' | 'ipv4' | 'status' | 'rtt' | 'loss' | 'rx' | 'tx' | 'handshake';
export type SortDir = 'asc' | 'desc';
export interface PeerSort {
  key: SortKey;
  dir: SortDir;
}

const PATH_ORDER = { direct: 0, relayed: 1, none: 2 } as const;

/** The value a column sorts by; null sorts last in either direction. */
function sortValue(p: PeerRow, key: SortKey): string | number | null {
  switch (key) {
    case 'name':
      return displayName(p).toLowerCase();
    case 'ipv4': {
      const n = ipv4Number(p.ipv4);
      return Number.isNaN(n) ? null : n;
    }
    case 'status':
      // online and direct, online and relayed, online without a path yet, offline
      return p.online ? PATH_ORDER[p.path] : 3;
    case 'rtt':
      return p.rttMs;
    case 'loss':
      return p.loss;
    case 'rx':
      return p.rxBps;
    case 'tx':
      return p.txBps;
    case 'handshake':
      // most recent first when ascending: "2 s ago" before "5 min ago"
      return p.lastHandshake === null ? null : -p.lastHandshake;
  }
}

export function sortPeers(rows: readonly PeerRow[], sort: PeerSort): PeerRow[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  return rows
    .map((row) => ({ row, v: sortValue(row, sort.key) }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) {
        if (a.v === b.v) return tieBreak(a.row, b.row);
        return a.v === null ? 1 : -1;
      }
      const c =
        typeof a.v === 'string' && typeof b.v === 'string'
          ? a.v.localeCompare(b.v)
          : (a.v as number) - (b.v as number);
      return c === 0 ? tieBreak(a.row, b.row) : c * sign;
    })
    .map((x) => x.row);
}

function tieBreak(a: PeerRow, b: PeerRow): number {
  return displayName(a).localeCompare(displayName(b)) || a.key.localeCompare(b.key);
}

/** Rows whose name, alias, addresses, endpoint or relay contain every word of `text`. */
export function filterPeers(rows: readonly PeerRow[], text: string): readonly PeerRow[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return rows;
  return rows.filter((p) => {
    const hay = [p.name, p.alias, p.dnsName, p.ipv4, p.ipv6, p.endpoint, p.via, p.key]
      .filter((x): x is string => typeof x === 'string')
      .join(' ')
      .toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}
