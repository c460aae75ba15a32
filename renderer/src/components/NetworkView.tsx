import { useMemo } from 'react';
import type { PeerRow } from '../api';
import { useApp } from '../context';
import { displayName, formatMs, peerState } from '../format';
import { usePoll } from '../hooks';

const POLL_MS = 1000;
/** Members drawn at most (online ones first); the Peers list has them all. */
export const GRAPH_MAX = 48;
const W = 640;
const H = 440;

export type EdgeKind = 'direct' | 'relayed' | 'not-responding' | 'online';

export interface GraphNode {
  /** '' for this device. */
  key: string;
  name: string;
  kind: ReturnType<typeof peerState>['kind'] | 'self';
  x: number;
  y: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  /** What the edge says: an RTT measured by this device, "via …", or nothing. */
  label: string;
}

/**
 * The network as this device sees it: itself in the middle, the members on a ring (sorted by name,
 * so a member keeps its place), an edge to every member online — solid for a direct path with its
 * RTT, dashed from the relaying member for a relayed one (from this device when the relay is not
 * drawn), amber for a path whose probes go unanswered. Offline members are drawn without an edge.
 * Only what this device measured: members' paths among themselves are theirs to know.
 */
export function graphOf(
  selfName: string,
  peers: readonly PeerRow[],
  now: number,
): { nodes: GraphNode[]; edges: GraphEdge[]; hidden: number } {
  const ordered = [...peers].sort(
    (a, b) => Number(b.online) - Number(a.online) || displayName(a).localeCompare(displayName(b)),
  );
  const drawn = ordered.slice(0, GRAPH_MAX).sort((a, b) => displayName(a).localeCompare(displayName(b)));
  const cx = W / 2;
  const cy = H / 2;
  const r = Math.min(W, H) / 2 - 48;
  const nodes: GraphNode[] = [{ key: '', name: selfName, kind: 'self', x: cx, y: cy }];
  drawn.forEach((p, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / drawn.length;
    nodes.push({
      key: p.key,
      name: displayName(p),
      kind: peerState(p, now).kind,
      x: Math.round(cx + r * Math.cos(a)),
      y: Math.round(cy + r * Math.sin(a)),
    });
  });
  const byName = new Map(drawn.map((p) => [p.name, p.key]));
  const edges: GraphEdge[] = [];
  for (const p of drawn) {
    const state = peerState(p, now).kind;
    if (state === 'offline') continue;
    const rtt = state === 'not-responding' ? null : p.rttMs;
    if (p.path === 'relayed') {
      const relay = p.via ? byName.get(p.via) : undefined;
      const label = [p.via ? `via ${p.via}` : 'relayed', rtt !== null ? formatMs(rtt) : ''].filter(Boolean);
      edges.push({ from: relay ?? '', to: p.key, kind: 'relayed', label: label.join(', ') });
    } else {
      edges.push({
        from: '',
        to: p.key,
        kind: state === 'not-responding' ? 'not-responding' : state === 'direct' ? 'direct' : 'online',
        label: state === 'not-responding' ? 'not responding' : rtt !== null ? formatMs(rtt) : '',
      });
    }
  }
  return { nodes, edges, hidden: peers.length - drawn.length };
}

/** The Network tab: the mesh as a graph (graphOf), with the same facts in words for screen readers. */
export function NetworkView() {
  const linkOpen = useApp((s) => s.link === 'open');
  const connected = useApp((s) => s.app?.state === 'connected');
  const selfName = useApp((s) => s.app?.network?.nodeName ?? 'this device');
  const peers = useApp((s) => s.peers);
  const peersAt = useApp((s) => s.peersAt);
  const refreshPeers = useApp((s) => s.refreshPeers);
  usePoll(refreshPeers, POLL_MS, linkOpen && connected);
  const graph = useMemo(() => graphOf(selfName, peers, peersAt || Date.now()), [selfName, peers, peersAt]);
  const at = new Map(graph.nodes.map((n) => [n.key, n]));

  if (!connected) return <p className="empty">Connect to see the network.</p>;
  if (peers.length === 0)
    return <p className="empty">No other member yet: invite a device to see it here.</p>;
  const words = graph.edges.map((e) => {
    const to = at.get(e.to)?.name ?? '';
    return e.kind === 'relayed'
      ? `${to}: relayed (${e.label})`
      : `${to}: ${e.kind}${e.label ? `, ${e.label}` : ''}`;
  });
  const offline = graph.nodes.filter((n) => n.kind === 'offline').map((n) => `${n.name}: offline`);
  return (
    <figure className="network-view">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        className="network-graph"
        data-testid="network-graph"
        role="img"
        aria-label={`The network as ${selfName} sees it: ${[...words, ...offline].join('; ')}`}
      >
        {graph.edges.map((e) => {
          const a = at.get(e.from);
          const b = at.get(e.to);
          if (!a || !b) return null;
          return (
            <g key={`${e.from}>${e.to}`} className={`edge edge-${e.kind}`} data-edge={e.kind}>
              <line x1={a.x} y1={a.y} x2={b.x} y2={b.y} />
              {e.label && (
                <text x={(a.x + b.x) / 2} y={(a.y + b.y) / 2 - 4} textAnchor="middle">
                  {e.label}
                </text>
              )}
            </g>
          );
        })}
        {graph.nodes.map((n) => (
          <g key={n.key || 'self'} className={`node node-${n.kind}`} data-node={n.name}>
            <circle cx={n.x} cy={n.y} r={n.kind === 'self' ? 14 : 9} />
            <text x={n.x} y={n.y + (n.kind === 'self' ? 30 : 24)} textAnchor="middle">
              {n.name}
            </text>
          </g>
        ))}
      </svg>
      <figcaption className="chart-key">
        <span className="key-line">
          <svg width="22" height="8" aria-hidden="true" focusable="false">
            <line x1="0" y1="4" x2="22" y2="4" className="key-edge-direct" />
          </svg>
          direct (RTT measured by this device)
        </span>
        <span className="key-line">
          <svg width="22" height="8" aria-hidden="true" focusable="false">
            <line x1="0" y1="4" x2="22" y2="4" className="key-edge-relayed" />
          </svg>
          relayed (from the relaying member)
        </span>
        <span className="key-line">
          <svg width="22" height="8" aria-hidden="true" focusable="false">
            <line x1="0" y1="4" x2="22" y2="4" className="key-edge-not-responding" />
          </svg>
          not responding
        </span>
        <span>Grey, no line: offline.</span>
        {graph.hidden > 0 && (
          <span>
            {graph.hidden} more member{graph.hidden === 1 ? '' : 's'} in the Peers list (the graph draws{' '}
            {GRAPH_MAX}).
          </span>
        )}
      </figcaption>
    </figure>
  );
}
