// Nearest-rank percentiles without allocation: values are copied into one shared scratch buffer
// (single-threaded and synchronous callers, so one is enough), sorted in place, and ranked.

import { HISTORY_SECONDS } from './ring';

/** Sort scratch shared by every summary: room for one value per second of history. */
export const scratch = new Float64Array(HISTORY_SECONDS);

/** Bytes of the shared sort scratch (counted once by MetricsRegistry.approxBytes()). */
export const SCRATCH_BYTES = scratch.byteLength;

/** In-place ascending heapsort of a[0..n): O(n log n), no allocation. */
export function heapSort(a: Float64Array, n: number): void {
  const siftDown = (root: number, end: number): void => {
    let r = root;
    for (;;) {
      let child = 2 * r + 1;
      if (child >= end) return;
      if (child + 1 < end && a[child + 1] > a[child]) child++;
      if (a[r] >= a[child]) return;
      const tmp = a[r];
      a[r] = a[child];
      a[child] = tmp;
      r = child;
    }
  };
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(i, n);
  for (let end = n - 1; end > 0; end--) {
    const tmp = a[0];
    a[0] = a[end];
    a[end] = tmp;
    siftDown(0, end);
  }
}

/**
 * Nearest-rank percentile of the ascending values sorted[0..n), n > 0: the smallest value such
 * that at least p percent of the values are less than or equal to it, i.e. the value of rank
 * ceil(p / 100 * n) (1-based). Computed as ceil(p * n / 100) so integer p gives an exact rank.
 * No interpolation: the result is always one of the values.
 */
export function nearestRank(sorted: Float64Array, n: number, p: number): number {
  const rank = Math.max(1, Math.ceil((p * n) / 100));
  return sorted[Math.min(rank, n) - 1];
}
