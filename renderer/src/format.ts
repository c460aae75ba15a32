// How numbers read in the UI. Every formatter returns text of a stable shape (fixed decimals per range)
// so that columns with tabular figures do not jitter as values change.
import type { PeerRow } from './api';

export const NONE = '—';

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NONE;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** A 0..1 fraction as a percentage. */
export function formatLoss(loss: number | null | undefined): string {
  if (loss === null || loss === undefined || !Number.isFinite(loss)) return NONE;
  if (loss === 0) return '0 %';
  const pct = loss * 100;
  return pct < 10 ? `${pct.toFixed(1)} %` : `${Math.round(pct)} %`;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return NONE;
  let i = 0;
  let v = n;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  if (i === 0) return `${Math.round(v)} B`;
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ${UNITS[i]}`;
}

export function formatRate(bytesPerSecond: number): string {
  const b = formatBytes(bytesPerSecond);
  return b === NONE ? b : `${b}/s`;
}

/**
 * A peer's last handshake as the list shows it: sessions are made on demand, so an online peer with
 * no handshake yet has simply not exchanged traffic ("no session yet"), not a broken one.
 */
export function handshakeText(p: { lastHandshake: number | null; online: boolean }, now: number): string {
  if (p.lastHandshake === null) return p.online ? 'no session yet (idle)' : 'never';
  return formatAgo(p.lastHandshake, now);
}

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago"; "never" for null. */
export function formatAgo(at: number | null, now: number): string {
  if (at === null) return 'never';
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function formatClock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function displayName(p: Pick<PeerRow, 'alias' | 'name'>): string {
  return p.alias || p.name;
}

export function pathText(p: Pick<PeerRow, 'path' | 'via'>): string {
  if (p.path === 'direct') return 'direct';
  if (p.path === 'relayed') return p.via ? `relayed via ${p.via}` : 'relayed';
  return 'no path';
}

/** The node's hellos to a peer unanswered this long (PeerRow.unansweredMs): amber. */
export const NOT_RESPONDING_MS = 2000;

/**
 * A peer's state as a person reads it: 'direct', 'relayed via X', 'online' (path being made),
 * 'not responding' (online, but the node's hellos to it went unanswered for NOT_RESPONDING_MS: it
 * may be going away), or 'offline' with when it was last seen.
 */
export function peerState(
  p: Pick<PeerRow, 'online' | 'path' | 'via' | 'unansweredMs' | 'lastSeen'>,
  now: number,
): { kind: 'direct' | 'relayed' | 'online' | 'not-responding' | 'offline'; text: string } {
  if (!p.online)
    return {
      kind: 'offline',
      text: p.lastSeen ? `offline, last seen ${formatAgo(p.lastSeen, now)}` : 'offline',
    };
  if (p.path !== 'relayed' && p.unansweredMs !== null && p.unansweredMs >= NOT_RESPONDING_MS)
    return { kind: 'not-responding', text: `not responding (${Math.round(p.unansweredMs / 1000)} s)` };
  if (p.path === 'none') return { kind: 'online', text: 'online' };
  return { kind: p.path, text: pathText(p) };
}

/** An IPv4 address as a number, for sorting; NaN for anything else. */
export function ipv4Number(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) return Number.NaN;
  return parts.reduce((acc, x) => acc * 256 + Number(x), 0);
}

/** An IPv6 address short enough for the header: its first two and last two groups around "…". */
export function shortIpv6(ip: string): string {
  const groups = ip.split(':');
  if (ip.length <= 20 || groups.length < 6) return ip;
  return `${groups.slice(0, 2).join(':')}:…:${groups.slice(-2).join(':')}`;
}
