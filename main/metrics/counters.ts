// Cumulative counters (bytes, packets, errors as the tunnel keeps them) turned into per-second
// deltas. A counter that went backwards was reset: its new value becomes the base for the next
// delta and that interval counts 0, never a negative delta. Invalid readings (non-finite or
// negative) count 0 and keep the base.

import { isCount } from './ring';

/** The base of one cumulative counter. */
export class CounterBase {
  private base = 0;

  /** The increase since the previous reading (0 on a reset or an invalid value); `value` becomes the base. */
  advance(value: number): number {
    const delta = !isCount(value) || value < this.base ? 0 : value - this.base;
    if (isCount(value)) this.base = value;
    return delta;
  }
}

/**
 * Seconds of the window (nowSec - windowSec, nowSec] for which traffic deltas can exist: a delta
 * recorded at second s covers the time since the previous reading, so counting starts after
 * `baseSec`, the second of the first (baseline) reading (-1: none yet, nothing covered).
 */
export function coveredSeconds(nowSec: number, windowSec: number, baseSec: number): number {
  if (baseSec < 0) return 0;
  return Math.max(0, Math.min(windowSec, nowSec - baseSec));
}

/** `total / seconds`, 0 when no second is covered. */
export function perSecond(total: number, seconds: number): number {
  return seconds > 0 ? total / seconds : 0;
}
