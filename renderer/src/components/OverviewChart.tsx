import { type CSSProperties, useMemo, useRef } from 'react';
import type uPlot from 'uplot';
import type { PeerRow } from '../api';
import { displayName, formatMs } from '../format';
import { colorSlots, SERIES_COLORS, seriesColor } from '../palette';
import { msChartOptions, rttSeries, useUPlot } from './charts';

/** Most series one chart shows (more lines than colours would not tell peers apart). */
export const OVERVIEW_MAX = SERIES_COLORS;
const HEIGHT = 200;

/** The last minute of RTT of every peer (the first OVERVIEW_MAX online ones, in list order). */
export function OverviewChart({ peers }: { peers: readonly PeerRow[] }) {
  const withData = useMemo(() => peers.filter((p) => p.online && p.spark.some((v) => v !== null)), [peers]);
  const shown = useMemo(() => withData.slice(0, OVERVIEW_MAX), [withData]);
  // A different set of peers needs different series: the chart is made again only then.
  const slots = useMemo(() => colorSlots(shown.map((p) => p.key)), [shown]);
  const layout = shown.map((p) => `${slots.get(p.key)}\u0000${displayName(p)}`).join('\u0001');
  const data = useMemo(() => toData(shown), [shown]);
  const scale = useMemo(() => overviewScale(data.slice(1) as (number | null)[][]), [data]);
  const wrap = useRef<HTMLDivElement>(null);
  const make = useMemo(() => {
    if (layout === '') return null;
    const series = layout.split('\u0001').map((x) => x.split('\u0000'));
    return (width: number) =>
      options(
        width,
        series.map(([slot, name]) => ({ name, slot: Number(slot) })),
      );
  }, [layout]);
  useUPlot(wrap, make, data, HEIGHT);

  return (
    <section className="overview" aria-labelledby="overview-title">
      <h2 id="overview-title">Latency of all peers, last minute</h2>
      {shown.length === 0 && (
        <p className="empty">
          {peers.some((p) => p.online) ? 'No latency samples yet.' : 'No peer is online: no latency to show.'}
        </p>
      )}
      <div
        ref={wrap}
        className="chart-canvas"
        data-testid="overview-graph"
        role="img"
        aria-label={`Latency over the last minute of ${shown.map(displayName).join(', ')}`}
        hidden={shown.length === 0}
      />
      {shown.length > 0 && (
        <ul className="chart-key" aria-label="Key">
          {shown.map((p) => (
            <li
              key={p.key}
              className="series-key"
              data-slot={slots.get(p.key)}
              style={{ '--key-color': `var(--series-${(slots.get(p.key) ?? 0) + 1})` } as CSSProperties}
            >
              {displayName(p)}
            </li>
          ))}
        </ul>
      )}
      {scale.clipped && (
        <p className="hint" data-testid="overview-clipped">
          Spikes above {formatMs(scale.max)} go off the top of this chart (so one spike does not flatten the
          rest): a peer&rsquo;s own chart shows them whole.
        </p>
      )}
      {withData.length > shown.length && (
        <p className="hint">
          Showing {shown.length} of {withData.length} peers: filter or sort the list to choose which.
        </p>
      )}
    </section>
  );
}

function toData(peers: readonly PeerRow[]): uPlot.AlignedData {
  const n = peers.reduce((m, p) => Math.max(m, p.spark.length), 0);
  const now = Math.floor(Date.now() / 1000);
  const t = Array.from({ length: n }, (_, i) => now - n + 1 + i);
  // spark is oldest first and ends now; a shorter one is aligned to the right
  return [t, ...peers.map((p) => t.map((_, i) => p.spark[i - (n - p.spark.length)] ?? null))];
}

/**
 * The top of the overview's scale: one spike must not flatten every other line. The 95th percentile
 * of all samples times 1.5, raised to hold every peer's median with room (a slow peer stays in
 * view), never above the largest sample; `clipped` when some sample is above it (the hint says so,
 * and the peer's own chart shows it whole).
 */
export function overviewScale(lines: readonly (readonly (number | null)[])[]): {
  max: number;
  clipped: boolean;
} {
  const all: number[] = [];
  let medians = 0;
  for (const line of lines) {
    const vals = line.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
    if (vals.length === 0) continue;
    all.push(...vals);
    medians = Math.max(medians, vals[Math.floor((vals.length - 1) / 2)]);
  }
  if (all.length === 0) return { max: 10, clipped: false };
  all.sort((a, b) => a - b);
  const top = all[all.length - 1];
  const p95 = all[Math.min(all.length - 1, Math.ceil(0.95 * all.length) - 1)];
  const robust = Math.max(p95 * 1.5, medians * 1.3);
  if (robust >= top) return { max: top > 0 ? top * 1.15 : 10, clipped: false };
  return { max: robust, clipped: true };
}

function options(width: number, lines: { name: string; slot: number }[]): uPlot.Options {
  const series = lines.map((l) => rttSeries(l.name, () => seriesColor(l.slot)));
  // the key is plain HTML under the chart (uPlot's legend is a table: its rows are not peer rows)
  return msChartOptions(width, HEIGHT, series, {
    legend: { show: false },
    scales: {
      x: { time: true },
      y: { range: (u) => [0, overviewScale(u.data.slice(1) as (number | null)[][]).max] },
    },
  });
}
