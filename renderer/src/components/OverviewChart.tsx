import { type CSSProperties, useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { PeerRow } from '../api';
import { displayName, formatMs } from '../format';
import { useWidth } from '../hooks';
import { cssVar, SERIES_COLORS, seriesColor } from '../palette';

/** Most series one chart shows (more lines than colours would not tell peers apart). */
export const OVERVIEW_MAX = SERIES_COLORS;
const HEIGHT = 200;

/** The last minute of RTT of every peer (the first OVERVIEW_MAX online ones, in list order). */
export function OverviewChart({ peers }: { peers: readonly PeerRow[] }) {
  const shown = useMemo(
    () => peers.filter((p) => p.online && p.spark.some((v) => v !== null)).slice(0, OVERVIEW_MAX),
    [peers],
  );
  const onlineWithData = peers.filter((p) => p.online && p.spark.some((v) => v !== null)).length;
  // A different set of peers needs different series: the chart is made again only then.
  const layout = shown.map((p) => `${p.key}\u0000${displayName(p)}`).join('\u0001');
  const data = useMemo(() => toData(shown), [shown]);
  const dataRef = useRef(data);
  const wrap = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = wrap.current;
    if (!el || layout === '') return;
    const names = layout.split('\u0001').map((x) => x.split('\u0000')[1]);
    const u = new uPlot(options(el.clientWidth || 640, names), dataRef.current, el);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, [layout]);

  useEffect(() => {
    dataRef.current = data;
    plot.current?.setData(data);
  }, [data]);

  useWidth(wrap, (width) => plot.current?.setSize({ width, height: HEIGHT }));

  return (
    <section className="overview" aria-labelledby="overview-title">
      <h2 id="overview-title">Latency of all peers, last minute</h2>
      {shown.length === 0 && <p className="empty">No latency samples yet.</p>}
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
          {shown.map((p, i) => (
            <li
              key={p.key}
              className="series-key"
              style={{ '--key-color': `var(--series-${i + 1})` } as CSSProperties}
            >
              {displayName(p)}
            </li>
          ))}
        </ul>
      )}
      {onlineWithData > shown.length && (
        <p className="hint">
          Showing {shown.length} of {onlineWithData} peers: filter or sort the list to choose which.
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

function options(width: number, names: string[]): uPlot.Options {
  const axis = () => cssVar('--muted', '#666');
  const grid = () => cssVar('--grid', '#ddd');
  return {
    width,
    height: HEIGHT,
    cursor: { drag: { x: false, y: false, setScale: false } },
    // the key is plain HTML under the chart (uPlot's legend is a table: its rows are not peer rows)
    legend: { show: false },
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, max === null || max <= 0 ? 10 : max * 1.15] },
    },
    series: [
      {},
      ...names.map(
        (label, i): uPlot.Series => ({
          label,
          stroke: () => seriesColor(i),
          width: 1.5,
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => (v === null || v === undefined ? '—' : formatMs(v)),
        }),
      ),
    ],
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
      {
        stroke: axis,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        size: 64,
        values: (_u, vals) => vals.map((v) => `${v} ms`),
      },
    ],
  };
}
