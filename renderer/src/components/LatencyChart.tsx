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

/** What the draw hook paints over the plot: reach bands, loss ticks and path changes. */
interface Overlay {
  t: number[];
  loss: (number | null)[];
  rtt: (number | null)[];
  reach: readonly number[];
  changes: readonly Readonly<PathChange>[];
}

/**
 * The percentile lines: told apart by dash pattern as well as colour (the key draws the same
 * patterns). Canvas dash lengths, in CSS pixels.
 */
export const PERCENTILE_DASH: Record<'p50' | 'p75' | 'p99', number[]> = {
  p50: [10, 4],
  p75: [4, 4],
  p99: [1.5, 3],
};

/**
 * RTT over the window with its p50/p75/p99 as dashed lines (the p50..p99 band shaded), probe loss as
 * red ticks along the bottom and path changes as labelled vertical lines. The chart is made once and
 * fed with setData on every update.
 */
export function LatencyChart({ name, window, series, summary }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const overlay = useRef<Overlay>({ t: [], loss: [], rtt: [], reach: [], changes: [] });
  const data = useMemo(() => toData(series, summary), [series, summary]);
  const make = useCallback((width: number) => options(width, overlay), []);

  // before useUPlot's setData, which draws the overlay
  useEffect(() => {
    overlay.current = {
      t: series?.t ?? [],
      loss: series?.loss ?? [],
      rtt: series?.rtt ?? [],
      reach: series?.reach ?? [],
      changes: summary?.pathChanges ?? [],
    };
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
      <figcaption className="chart-key" data-testid="latency-key">
        <KeyLine color="--chart-rtt" width={1.5}>
          RTT
        </KeyLine>
        <KeyLine color="--chart-p50" dash={PERCENTILE_DASH.p50}>
          p50 (median)
        </KeyLine>
        <KeyLine color="--chart-p75" dash={PERCENTILE_DASH.p75}>
          p75
        </KeyLine>
        <KeyLine color="--chart-p99" dash={PERCENTILE_DASH.p99}>
          p99
        </KeyLine>
        <KeySwatch kind="band">p50 to p99 of the window</KeySwatch>
        <span className="key key-loss">probe loss (taller: more lost)</span>
        <span className="key key-path">path change</span>
        <KeySwatch kind="offline">peer offline or unreachable</KeySwatch>
        <KeySwatch kind="off">nothing recorded (disconnected, or peer not yet known)</KeySwatch>
        <KeySwatch kind="unprobed">online, not probed (no RTT)</KeySwatch>
      </figcaption>
    </figure>
  );
}

/** An area or base-line sample in the key, painted as the chart paints that kind of period. */
function KeySwatch({ kind, children }: { kind: 'band' | 'offline' | 'off' | 'unprobed'; children: string }) {
  return (
    <span className="key-swatch" data-kind={kind}>
      <span className={`swatch swatch-${kind}`} aria-hidden="true" />
      {children}
    </span>
  );
}

/** A line sample in the key, drawn as the chart draws it (solid or with the given dash). */
function KeyLine({
  color,
  dash,
  width = 1,
  children,
}: {
  color: string;
  dash?: number[];
  width?: number;
  children: string;
}) {
  return (
    <span className="key-line">
      <svg width="22" height="8" aria-hidden="true" focusable="false">
        <line
          x1="0"
          y1="4"
          x2="22"
          y2="4"
          stroke={`var(${color})`}
          strokeWidth={width + 0.5}
          strokeDasharray={dash?.join(' ')}
        />
      </svg>
      {children}
    </span>
  );
}

function toData(series: PeerSeries | null, summary: PeerSummary | null): uPlot.AlignedData {
  const t = series?.t ?? [];
  const line = (v: number | undefined) => t.map(() => v ?? null);
  const r = summary?.rtt ?? undefined;
  return [t, series?.rtt ?? [], line(r?.p50), line(r?.p75), line(r?.p99)];
}

function options(width: number, overlay: RefObject<Overlay>): uPlot.Options {
  const pct = (label: 'p50' | 'p75' | 'p99', colorVar: string): uPlot.Series => ({
    label,
    stroke: () => cssVar(colorVar, '#888'),
    width: 1,
    dash: PERCENTILE_DASH[label],
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
    // the reach bands go under the lines (drawClear runs before the series are drawn), the rest on top
    hooks: {
      drawClear: [(u) => drawReach(u, overlay.current)],
      draw: [(u) => drawOverlay(u, overlay.current)],
    },
  });
}

/** Where a bucket ends on the x axis (the next bucket's start, or one bucket width on). */
function bucketEnd(t: number[], i: number): number {
  if (i + 1 < t.length) return t[i + 1];
  return t[i] + (i > 0 ? t[i] - t[i - 1] : 1);
}

/** A period the chart paints behind the line (see drawReach). */
export interface ReachRun {
  kind: 'off' | 'offline' | 'unprobed';
  /** Unix seconds: the first bucket's start and the last bucket's end. */
  from: number;
  to: number;
}

/**
 * The periods a chart tells apart, so a gap is never mistaken for an outage nor the other way
 * round: nothing recorded (reach 0: this device disconnected, or the peer not yet known), the peer offline or unreachable (reach 1), online but
 * not probed (reach 2 with neither an RTT nor a probe). Adjacent buckets of one kind make one run.
 */
export function reachRuns(o: Pick<Overlay, 't' | 'reach' | 'rtt' | 'loss'>): ReachRun[] {
  const kindAt = (i: number): ReachRun['kind'] | null =>
    o.reach[i] === 0
      ? 'off'
      : o.reach[i] === 1
        ? 'offline'
        : o.reach[i] === 2 && o.rtt[i] == null && o.loss[i] == null
          ? 'unprobed'
          : null;
  const out: ReachRun[] = [];
  for (let i = 0; i < o.t.length; i++) {
    const kind = kindAt(i);
    if (!kind) continue;
    let j = i;
    while (j + 1 < o.t.length && kindAt(j + 1) === kind) j++;
    out.push({ kind, from: o.t[i], to: bucketEnd(o.t, j) });
    i = j;
  }
  return out;
}

/**
 * Paints reachRuns behind the lines: not connected as grey hatching, offline as a tint of the loss
 * colour (both full height), not probed as a dotted base line under the gap.
 */
function drawReach(u: uPlot, o: Overlay): void {
  const { ctx, bbox } = u;
  if (u.scales.x.min === undefined || u.scales.x.max === undefined) return;
  const px = uPlot.pxRatio;
  const bottom = bbox.top + bbox.height;
  const muted = cssVar('--muted', '#888');
  const loss = cssVar('--chart-loss', '#dc2626');
  for (const run of reachRuns(o)) {
    const x0 = Math.max(bbox.left, u.valToPos(run.from, 'x', true));
    const x1 = Math.min(bbox.left + bbox.width, u.valToPos(run.to, 'x', true));
    if (x1 <= x0) continue;
    ctx.save();
    if (run.kind === 'offline') {
      ctx.fillStyle = loss;
      ctx.globalAlpha = 0.14;
      ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
    } else if (run.kind === 'off') {
      ctx.strokeStyle = muted;
      ctx.globalAlpha = 0.35;
      ctx.lineWidth = px;
      ctx.beginPath();
      ctx.rect(x0, bbox.top, x1 - x0, bbox.height);
      ctx.clip();
      ctx.beginPath();
      for (let x = x0 - bbox.height; x < x1; x += 8 * px) {
        ctx.moveTo(x, bottom);
        ctx.lineTo(x + bbox.height, bbox.top);
      }
      ctx.stroke();
    } else {
      ctx.strokeStyle = muted;
      ctx.lineWidth = px;
      ctx.setLineDash([px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(x0, bottom - 2 * px);
      ctx.lineTo(x1, bottom - 2 * px);
      ctx.stroke();
    }
    ctx.restore();
  }
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
