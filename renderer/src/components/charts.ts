// What the two latency charts (LatencyChart, OverviewChart) share: uPlot's lifecycle in a component,
// and the options of a milliseconds-over-time chart drawn in the theme's colours.
import { type RefObject, useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatMs } from '../format';
import { useColorScheme, useWidth } from '../hooks';
import { cssVar } from '../palette';

/** A unix second as the time of day with seconds, in the user's locale ("14:03:27"). */
export function timeOfDay(sec: number): string {
  return new Date(sec * 1000).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** A value in the legend: "1.23 ms", or "—" where there is none. */
export function msValue(_u: uPlot, v: number | null): string {
  return v === null || v === undefined ? '—' : formatMs(v);
}

/** An RTT line, broken where there is no sample; a sample with none either side shows as a dot. */
export function rttSeries(label: string, stroke: () => string): uPlot.Series {
  return {
    label,
    stroke,
    width: 1.5,
    spanGaps: false,
    points: { show: true, size: 5, fill: stroke, filter: lonelyPoints },
    value: msValue,
  };
}

/** The indices of the samples a line cannot show: those between two gaps. */
function lonelyPoints(u: uPlot, seriesIdx: number): number[] {
  const ys = u.data[seriesIdx];
  const lonely: number[] = [];
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) lonely.push(i);
  }
  return lonely;
}

/** Time along x, milliseconds up from 0 on y, axes and grid in the theme's colours; `more` on top. */
export function msChartOptions(
  width: number,
  height: number,
  series: uPlot.Series[],
  more: Partial<uPlot.Options> = {},
): uPlot.Options {
  const stroke = () => cssVar('--muted', '#666');
  const lines = () => ({ stroke: () => cssVar('--grid', '#ddd'), width: 1 });
  return {
    width,
    height,
    cursor: { drag: { x: false, y: false, setScale: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, _min, max) => [0, max === null || max <= 0 ? 10 : max * 1.15] },
    },
    // hover shows the time to the second (uPlot's default stops at minutes)
    series: [{ value: (_u, v) => (v === null || v === undefined ? '—' : timeOfDay(v)) }, ...series],
    axes: [
      { stroke, grid: lines(), ticks: lines() },
      { stroke, grid: lines(), ticks: lines(), size: 64, values: (_u, vals) => vals.map((v) => `${v} ms`) },
    ],
    ...more,
  };
}

/**
 * A uPlot in `wrap`: made with `make` (and made again only when `make` changes; null: none), fed
 * every new `data` with setData, and kept as wide as `wrap`.
 */
export function useUPlot(
  wrap: RefObject<HTMLElement | null>,
  make: ((width: number) => uPlot.Options) | null,
  data: uPlot.AlignedData,
  height: number,
): void {
  const plot = useRef<uPlot | null>(null);
  const dataRef = useRef(data);
  // uPlot keeps the axes' and grid's colours from when it was made: a new scheme, a new chart
  const scheme = useColorScheme();

  useEffect(() => {
    const el = wrap.current;
    if (!el || !make) return;
    el.dataset.scheme = scheme; // the scheme this chart was made in
    const u = new uPlot(make(el.clientWidth || 640), dataRef.current, el);
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = null;
    };
  }, [wrap, make, scheme]);

  useEffect(() => {
    dataRef.current = data;
    plot.current?.setData(data);
  }, [data]);

  useWidth(wrap, (width) => plot.current?.setSize({ width, height }));
}
