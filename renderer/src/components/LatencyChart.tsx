import { type RefObject, useCallback, useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import type { MetricsWindow, PathChange, PeerSeries, PeerSummary } from '../api';
import { formatLoss, formatMs } from '../format';
import { cssVar } from '../palette';
import { msChartOptions, msValue, rttSeries, useUPlot } from './charts';

const HEIGHT = 260;
const WINDOW_TEXT: Record<MetricsWindow, string> = { 60: 'minute', 900: '15 minutes', 3600: 'hour' };

interface Props {
  name: string;
  window: MetricsWindow;
  series: PeerSeries | null;
  summary: PeerSummary | null;
}

/** What the draw hook paints over the plot: loss ticks and path changes. */
interface Overlay {
  t: number[];
  loss: (number | null)[];
  changes: readonly Readonly<PathChange>[];
}

/**
 * RTT over the window with its p50/p75/p99 as dashed lines (the p50..p99 band shaded), probe loss as
 * red ticks along the bottom and path changes as labelled vertical lines. The chart is made once and
 * fed with setData on every update.
 */
export function LatencyChart({ name, window, series, summary }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const overlay = useRef<Overlay>({ t: [], loss: [], changes: [] });
  const data = useMemo(() => toData(series, summary), [series, summary]);
  const make = useCallback((width: number) => options(width, overlay), []);

  // before useUPlot's setData, which draws the overlay
  useEffect(() => {
    overlay.current = { t: series?.t ?? [], loss: series?.loss ?? [], changes: summary?.pathChanges ?? [] };
  }, [series, summary]);
  useUPlot(wrap, make, data, HEIGHT);

  const rtt = summary?.rtt;
  const label = rtt
    ? `Latency to ${name} over the last ${WINDOW_TEXT[window]}: median ${formatMs(rtt.p50)}, ` +
      `p99 ${formatMs(rtt.p99)}, loss ${formatLoss(summary.loss)}`
    : `Latency to ${name} over the last ${WINDOW_TEXT[window]}: no samples`;

  return (
    <figure className="chart">
      <div ref={wrap} className="chart-canvas" data-testid="latency-graph" role="img" aria-label={label} />
      <figcaption className="chart-key">
        <span className="key key-loss">probe loss</span>
        <span className="key key-path">path change</span>
      </figcaption>
    </figure>
  );
}

function toData(series: PeerSeries | null, summary: PeerSummary | null): uPlot.AlignedData {
  const t = series?.t ?? [];
  const line = (v: number | undefined) => t.map(() => v ?? null);
  const r = summary?.rtt ?? undefined;
  return [t, series?.rtt ?? [], line(r?.p50), line(r?.p75), line(r?.p99)];
}

function options(width: number, overlay: RefObject<Overlay>): uPlot.Options {
  const pct = (label: string, colorVar: string): uPlot.Series => ({
    label,
    stroke: () => cssVar(colorVar, '#888'),
    width: 1,
    dash: [6, 4],
    points: { show: false },
    value: msValue,
  });
  const series = [
    rttSeries('RTT', () => cssVar('--chart-rtt', '#2563eb')),
    pct('p50', '--chart-p50'),
    pct('p75', '--chart-p75'),
    pct('p99', '--chart-p99'),
  ];
  return msChartOptions(width, HEIGHT, series, {
    bands: [{ series: [4, 2], fill: 'rgba(127, 127, 127, 0.12)' }],
    hooks: { draw: [(u) => drawOverlay(u, overlay.current)] },
  });
}

function pathLabel(c: Readonly<PathChange>): string {
  if (c.kind === 'relayed') return c.via ? `relayed via ${c.via.slice(0, 20)}` : 'relayed';
  return c.kind === 'direct' ? 'direct' : 'path unknown';
}

function drawOverlay(u: uPlot, o: Overlay): void {
  const { ctx, bbox } = u;
  const px = uPlot.pxRatio;
  const [xMin, xMax] = [u.scales.x.min, u.scales.x.max];
  if (xMin === undefined || xMax === undefined) return;
  const bottom = bbox.top + bbox.height;
  ctx.save();
  // loss: a red tick per bucket with lost probes, taller with more loss
  ctx.fillStyle = cssVar('--chart-loss', '#dc2626');
  for (let i = 0; i < o.t.length; i++) {
    const loss = o.loss[i];
    if (!loss || loss <= 0) continue;
    const x = u.valToPos(o.t[i], 'x', true);
    const h = (4 + 14 * Math.min(1, loss)) * px;
    ctx.fillRect(Math.round(x - px), bottom - h, Math.max(2, Math.round(2 * px)), h);
  }
  // path changes: a dashed vertical line with what the path became
  ctx.strokeStyle = cssVar('--chart-path', '#a855f7');
  ctx.fillStyle = ctx.strokeStyle;
  ctx.lineWidth = px;
  ctx.setLineDash([3 * px, 3 * px]);
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const c of o.changes) {
    const sec = c.t / 1000;
    if (sec < xMin || sec > xMax) continue;
    const x = Math.round(u.valToPos(sec, 'x', true)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    const text = pathLabel(c);
    const w = ctx.measureText(text).width;
    // labels stay inside the plot: flip to the left of the line near the right edge
    const tx = x + 4 * px + w > bbox.left + bbox.width ? x - 4 * px - w : x + 4 * px;
    ctx.fillText(text, tx, bbox.top + 2 * px);
  }
  ctx.restore();
}
