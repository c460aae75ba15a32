import { memo, useEffect, useRef } from 'react';
import { formatMs } from '../format';

interface Props {
  values: readonly (number | null)[];
  width?: number;
  height?: number;
}

/** The last 60 s of RTT drawn on a small canvas (its colour is the canvas's CSS `color`). */
export const Sparkline = memo(function Sparkline({ values, width = 80, height = 22 }: Props) {
  const ref = useRef<HTMLCanvasElement>(null);
  const ratio = Math.min(3, Math.max(1, Math.round(window.devicePixelRatio || 1)));
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (canvas && ctx) draw(ctx, getComputedStyle(canvas).color, values, width, height, ratio);
  }, [values, width, height, ratio]);
  return (
    <canvas
      ref={ref}
      className="spark"
      width={width * ratio}
      height={height * ratio}
      style={{ width, height }}
      role="img"
      aria-label={describe(values)}
    />
  );
});

function describe(values: readonly (number | null)[]): string {
  const v = values.filter((x): x is number => x !== null);
  if (v.length === 0) return 'No latency samples in the last minute';
  return `Latency over the last minute: ${formatMs(Math.min(...v))} to ${formatMs(Math.max(...v))}`;
}

function draw(
  ctx: CanvasRenderingContext2D,
  color: string,
  values: readonly (number | null)[],
  w: number,
  h: number,
  ratio: number,
): void {
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  let max = 0;
  for (const v of values) if (v !== null && v > max) max = v;
  if (max === 0 || values.length < 2) return;
  const pad = 2;
  const x = (i: number) => pad + (i * (w - 2 * pad)) / (values.length - 1);
  const y = (v: number) => h - pad - (v / (max * 1.1)) * (h - 2 * pad);
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 1.25;
  ctx.lineJoin = 'round';
  ctx.beginPath();
  let drawing = false;
  values.forEach((v, i) => {
    if (v === null) {
      drawing = false;
      return;
    }
    if (drawing) ctx.lineTo(x(i), y(v));
    else ctx.moveTo(x(i), y(v));
    drawing = true;
  });
  ctx.stroke();
  // the latest sample as a dot
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v === null) continue;
    ctx.beginPath();
    ctx.arc(x(i), y(v), 1.75, 0, 2 * Math.PI);
    ctx.fill();
    break;
  }
}
