import { useId, useState } from 'react';
import { type MetricsWindow, type PeerRow, WINDOW_POINTS } from '../api';
import { useApp } from '../context';
import { displayName, formatClock, formatLoss, formatMs, formatRate, NONE, peerState } from '../format';
import { usePoll } from '../hooks';
import { errorText } from '../transport';
import { LatencyChart } from './LatencyChart';
import { RadioGroup } from './RadioGroup';

const WINDOWS: { value: MetricsWindow; label: string }[] = [
  { value: 60, label: '1 min' },
  { value: 900, label: '15 min' },
  { value: 3600, label: '1 h' },
];

/** The selected peer: addresses, path, latency statistics and graph over a chosen window. */
export function PeerDetail() {
  const key = useApp((s) => s.selected);
  const peer = useApp((s) => s.peers.find((p) => p.key === s.selected) ?? null);
  const metrics = useApp((s) => s.metrics);
  const error = useApp((s) => s.metricsError);
  const metricsWindow = useApp((s) => s.metricsWindow);
  const linkOpen = useApp((s) => s.link === 'open');
  const refreshMetrics = useApp((s) => s.refreshMetrics);
  const setWindow = useApp((s) => s.setMetricsWindow);
  const select = useApp((s) => s.select);
  const ids = useId();

  usePoll(refreshMetrics, 1000, key !== null && linkOpen, `${key}/${metricsWindow}`);
  if (!key) return null;

  const name = peer ? displayName(peer) : (metrics?.name ?? key.slice(0, 8));
  const summary = metrics?.summary ?? null;
  const rtt = summary?.rtt ?? null;
  const changes = summary?.pathChanges ?? [];

  return (
    <section className="detail" id="peer-detail" aria-labelledby={`${ids}-title`}>
      <div className="detail-head">
        <h2 id={`${ids}-title`}>
          {name}
          {peer?.alias && peer.alias !== peer.name && <span className="detail-real-name">{peer.name}</span>}
        </h2>
        <button type="button" onClick={() => select(null)} aria-label={`Close details of ${name}`}>
          Close
        </button>
      </div>
      {peer && (
        <dl className="facts">
          <Fact term="Status" value={statusText(peer)} />
          <Fact term="IPv4" value={peer.ipv4} mono />
          {peer.ipv6 && <Fact term="IPv6" value={peer.ipv6} mono />}
          {peer.dnsName && <Fact term="DNS name" value={peer.dnsName} mono />}
          <Fact term="Endpoint" value={peer.endpoint ?? NONE} mono />
          <Fact term="Relays for others" value={peer.relay ? 'yes' : 'no'} />
          {peer.routes.length > 0 && <Fact term="Routes" value={peer.routes.join(', ')} mono />}
          <Fact term="Public key" value={peer.key} mono />
          <Fact term="May reach this machine" value={peer.access} />
        </dl>
      )}
      {peer && <AccessEditor peerKey={peer.key} name={name} />}
      <RadioGroup
        legend="Window"
        options={WINDOWS}
        value={metricsWindow}
        onChange={setWindow}
        look="segmented"
      />
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <dl className="stats" aria-label="Latency statistics">
        <Fact term="Last" value={formatMs(rtt?.last)} num />
        <Fact term="Min" value={formatMs(rtt?.min)} num />
        <Fact term="Mean" value={formatMs(rtt?.mean)} num />
        <Fact term="p50" value={formatMs(rtt?.p50)} num />
        <Fact term="p75" value={formatMs(rtt?.p75)} num />
        <Fact term="p99" value={formatMs(rtt?.p99)} num />
        <Fact term="Max" value={formatMs(rtt?.max)} num />
        <Fact term="Jitter" value={formatMs(rtt?.jitter)} num />
        <Fact term="Loss" value={summary ? formatLoss(summary.loss) : NONE} num />
        <Fact term="Receive" value={summary ? formatRate(summary.rxRate) : NONE} num />
        <Fact term="Send" value={summary ? formatRate(summary.txRate) : NONE} num />
      </dl>
      <LatencyChart name={name} window={metricsWindow} series={metrics?.series ?? null} summary={summary} />
      <p className="hint">
        {metrics?.series
          ? `${metrics.series.t.length} points of ${metricsWindow / WINDOW_POINTS[metricsWindow]} s, ${summary?.samples ?? 0} samples.`
          : metrics
            ? 'No measurements of this peer yet.'
            : 'Loading…'}
      </p>
      <h3>Path changes</h3>
      {changes.length === 0 ? (
        <p className="hint">None in this window.</p>
      ) : (
        <ol className="path-changes">
          {changes.map((c) => (
            <li key={`${c.t}-${c.kind}`}>
              <time className="num" dateTime={new Date(c.t).toISOString()}>
                {formatClock(c.t)}
              </time>{' '}
              {c.kind === 'relayed'
                ? `relayed${c.via ? ` via ${c.via}` : ''}`
                : c.kind === 'direct'
                  ? 'direct'
                  : 'path unknown'}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/**
 * Allow or deny this member something on this machine (docs/access.md): what is tcp/22, udp/53,
 * tcp/8000-8100, icmp or any. The node checks it; its error is shown as it says it.
 */
function AccessEditor({ peerKey, name }: { peerKey: string; name: string }) {
  const setAccess = useApp((s) => s.setAccess);
  const [what, setWhat] = useState('any');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = useId();
  const apply = async (op: 'allow' | 'deny') => {
    setBusy(true);
    setError(null);
    try {
      await setAccess({ op, peer: peerKey, what: what.trim() || 'any' });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="access-editor"
      aria-label={`Access of ${name} to this machine`}
      onSubmit={(e) => e.preventDefault()}
    >
      <label htmlFor={`${ids}-what`}>What (tcp/22, udp/53, icmp, any)</label>
      <input
        id={`${ids}-what`}
        value={what}
        onChange={(e) => setWhat(e.target.value)}
        aria-invalid={error !== null}
        aria-describedby={error ? `${ids}-err` : undefined}
        spellCheck={false}
      />
      <button type="button" disabled={busy} onClick={() => void apply('allow')}>
        Allow
      </button>
      <button type="button" disabled={busy} onClick={() => void apply('deny')}>
        Deny
      </button>
      {error && (
        <p className="form-error" role="alert" id={`${ids}-err`}>
          {error}
        </p>
      )}
    </form>
  );
}

function statusText(p: PeerRow): string {
  const st = peerState(p, Date.now());
  return st.kind === 'direct' || st.kind === 'relayed' ? `online, ${st.text}` : st.text;
}

function Fact({ term, value, mono, num }: { term: string; value: string; mono?: boolean; num?: boolean }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd className={mono ? 'mono' : num ? 'num' : undefined}>{value}</dd>
    </div>
  );
}
