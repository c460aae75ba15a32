// Feeds a node's metrics (main/metrics/) once a second from the device's peer counters and the
// mesh's paths and RTTs, sends the RTT probes main/metrics/probe-policy.ts asks for (every second
// while someone watches, slower otherwise), and renders the Prometheus text exposition. Memory is
// bounded by the registry.
import type { Device } from '../core/device';
import type { Mesh } from '../core/mesh';
import type { KernelDrops } from '../io/kernel-drops';
import {
  MetricsRegistry,
  type MetricsWindow,
  NodeMetrics,
  type PeerMetricsDump,
  RttProbes,
} from '../metrics';

/** What one node's metrics hand to the next node of the same profile (MetricsFeed.dump). */
export interface MetricsDump {
  peers: [string, PeerMetricsDump][];
}

export class MetricsFeed {
  readonly peers = new MetricsRegistry(256);
  readonly node = new NodeMetrics();
  /** Set by the web UI server / CLI ping while someone watches live figures. */
  watchers = 0;
  private readonly probes = new RttProbes(this.peers);

  constructor(
    private readonly device: Device,
    private readonly mesh: () => Mesh | null,
  ) {}

  /** An answered probe (the mesh's 'rtt' event). */
  rtt(key: string, ms: number): void {
    this.probes.answered(key, Date.now(), ms);
  }

  /** Once a second. */
  sample(): void {
    const now = Date.now();
    const mesh = this.mesh();
    let rx = 0;
    let tx = 0;
    let sessions = 0;
    for (const p of this.device.allPeers()) {
      const s = p.stats;
      rx += s.rxBytes;
      tx += s.txBytes;
      if (p.current) sessions++;
      const m = mesh?.members.get(p.keyB64);
      const pm = this.peers.peer(p.keyB64);
      pm.traffic(now, s);
      if (m) {
        const via = m.relay ? mesh?.members.get(m.relay)?.name || m.relay : undefined;
        pm.path(now, m.path === 'none' ? 'unknown' : m.path, via);
      } else pm.path(now, p.endpoint ? 'direct' : 'unknown');
    }
    this.node.traffic(now, { rxBytes: rx, txBytes: tx });
    this.node.sessions(now, sessions);
    this.node.errors(now, this.device.counters.invalid + this.device.counters.noRoute);
    if (!mesh) return;
    for (const m of mesh.members.values()) {
      if (!m.direct || m.removed) continue;
      if (this.probes.due(m.key, now, this.watchers > 0) && mesh.ping(m.key)) this.probes.sent(m.key, now);
    }
  }

  /**
   * The node stops: every peer's history and path changes (their paths end now), for the next node
   * of the same profile to take over (restore), so a reconnect or a settings change does not wipe
   * them. Structured-clonable.
   */
  dump(): MetricsDump {
    return { peers: this.peers.dump(Date.now()) };
  }

  /** Takes over a previous node's dump(); anything else is ignored. Returns the peers restored. */
  restore(d: unknown): number {
    if (typeof d !== 'object' || d === null) return 0;
    return this.peers.restore((d as { peers?: unknown }).peers);
  }

  summary(key: string, window: MetricsWindow) {
    return this.peers.get(key)?.summary(Date.now(), window) ?? null;
  }

  /** The kernel's drop counters for our device and socket (set once they exist). */
  kernel: (() => KernelDrops) | null = null;

  /** Prometheus text exposition (version 0.0.4) of the node's and every peer's current figures. */
  prometheus(names: (key: string) => string): string {
    const now = Date.now();
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string) =>
      lines.push(`# HELP peermesh_${name} ${help}`, `# TYPE peermesh_${name} ${type}`);
    const label = (key: string) => `{peer="${key}",name="${names(key).replace(/["\\\n]/g, '_')}"}`;
    const peers = [...this.device.allPeers()];
    metric('peer_rx_bytes_total', 'counter', 'Bytes received from the peer (WireGuard, incl. overhead).');
    for (const p of peers) lines.push(`peermesh_peer_rx_bytes_total${label(p.keyB64)} ${p.stats.rxBytes}`);
    metric('peer_tx_bytes_total', 'counter', 'Bytes sent to the peer.');
    for (const p of peers) lines.push(`peermesh_peer_tx_bytes_total${label(p.keyB64)} ${p.stats.txBytes}`);
    metric('peer_last_handshake_seconds', 'gauge', 'Unix time of the last completed handshake (0: never).');
    for (const p of peers)
      lines.push(
        `peermesh_peer_last_handshake_seconds${label(p.keyB64)} ${Math.floor(p.stats.lastHandshake / 1000)}`,
      );
    const rtt: string[] = [];
    const loss: string[] = [];
    for (const key of this.peers.ids()) {
      const s = this.peers.get(key)!.summary(now, 60);
      if (s.rtt) rtt.push(`peermesh_peer_rtt_seconds${label(key)} ${s.rtt.p50 / 1000}`);
      loss.push(`peermesh_peer_loss_ratio${label(key)} ${s.loss}`);
    }
    metric('peer_rtt_seconds', 'gauge', 'Round-trip time to the peer, median over the last minute.');
    lines.push(...rtt);
    metric('peer_loss_ratio', 'gauge', 'Share of RTT probes lost over the last minute.');
    lines.push(...loss);
    const c = this.device.counters;
    metric('invalid_packets_total', 'counter', 'Datagrams dropped as invalid (size, type, MAC, decryption).');
    lines.push(`peermesh_invalid_packets_total ${c.invalid}`);
    metric('sessions', 'gauge', 'Peers with a current session.');
    lines.push(`peermesh_sessions ${peers.filter((p) => p.current).length}`);
    const k = this.kernel?.();
    if (k) {
      metric(
        'kernel_drops_total',
        'counter',
        'Packets the kernel dropped before PeerMesh saw them, by where.',
      );
      lines.push(`peermesh_kernel_drops_total{where="tun_queue"} ${k.tunTxDropped}`);
      lines.push(`peermesh_kernel_drops_total{where="tun_write"} ${k.tunRxDropped}`);
      lines.push(`peermesh_kernel_drops_total{where="udp_receive_buffer"} ${k.udpRcvDropped}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
