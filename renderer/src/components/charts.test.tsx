// The latency charts' logic that decides what a person reads off them (issue 19): gaps told from
// outages, the percentile lines told apart by dash as well as colour, hover to the second, and an
// overview scale one spike does not flatten. The drawing itself is canvas (jsdom has none): the
// Chromium walk (test/netns/ui-e2e.test.ts) takes the screenshots.
import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { timeOfDay } from './charts';
import { LatencyChart, PERCENTILE_DASH, reachRuns } from './LatencyChart';
import { overviewScale } from './OverviewChart';

describe('reachRuns: gaps are not outages', () => {
  it('not connected, offline and not probed are separate runs; measured buckets are none of them', () => {
    const t = [100, 101, 102, 103, 104, 105, 106, 107, 108, 109];
    const reach = [0, 0, 1, 1, 2, 2, 2, 2, 0, 2];
    const rtt = [null, null, null, null, 3, null, null, 4, null, null];
    const loss = [null, null, 1, 1, 0, null, null, 0, null, 0.5];
    expect(reachRuns({ t, reach, rtt, loss })).toEqual([
      { kind: 'off', from: 100, to: 102 },
      { kind: 'offline', from: 102, to: 104 },
      { kind: 'unprobed', from: 105, to: 107 },
      { kind: 'off', from: 108, to: 109 },
    ]);
    // a bucket with all probes lost is an outage drawn as loss, not a "not probed" gap
    expect(reachRuns({ t: [1, 2], reach: [2, 2], rtt: [null, null], loss: [1, 1] })).toEqual([]);
  });

  it('the last bucket ends one bucket width on (10 s buckets)', () => {
    expect(reachRuns({ t: [0, 10, 20], reach: [2, 2, 1], rtt: [1, 1, null], loss: [0, 0, null] })).toEqual([
      { kind: 'offline', from: 20, to: 30 },
    ]);
  });
});

describe('the latency chart key', () => {
  it('draws p50, p75 and p99 with different dash patterns, and names every kind of period', () => {
    render(<LatencyChart name="alice" window={60} series={null} summary={null} />);
    const key = screen.getByTestId('latency-key');
    const dashes = [...key.querySelectorAll('line')].map((l) => l.getAttribute('stroke-dasharray'));
    expect(dashes).toEqual([null, '10 4', '4 4', '1.5 3']);
    expect(new Set(Object.values(PERCENTILE_DASH).map((d) => d.join(' '))).size).toBe(3);
    for (const text of [
      'p50 to p99 of the window',
      'peer offline or unreachable',
      'nothing recorded (disconnected, or peer not yet known)',
      'online, not probed (no RTT)',
      'probe loss (taller: more lost)',
    ])
      expect(key.textContent).toContain(text);
  });

  it('hover shows the time to the second', () => {
    const sec = Math.floor(new Date(2026, 11, 4, 14, 3, 27).getTime() / 1000);
    expect(timeOfDay(sec)).toMatch(/\b03:27\b/); // "14:03:27" or "02:03:27 PM", by locale
  });
});

describe('overviewScale: one spike does not flatten the rest', () => {
  it('cuts a lone spike off, keeps steady lines whole', () => {
    const steady = Array.from({ length: 60 }, (_, i) => 1 + (i % 5) * 0.1);
    const spiky = [...steady.slice(0, 59), 400];
    const s = overviewScale([steady, spiky]);
    expect(s.clipped).toBe(true);
    expect(s.max).toBeLessThan(5);
    expect(s.max).toBeGreaterThan(1.4);
    const calm = overviewScale([steady, steady]);
    expect(calm).toEqual({ max: 1.4 * 1.15, clipped: false });
  });

  it('a slow peer stays in view (its median), and nulls and empty lines are ignored', () => {
    const fast = Array.from({ length: 60 }, () => 1);
    const slow: (number | null)[] = Array.from({ length: 60 }, (_, i) => (i % 2 ? 80 : null));
    const s = overviewScale([fast, fast, fast, fast, fast, fast, fast, fast, fast, fast, fast, fast, slow]);
    expect(s.max).toBeGreaterThanOrEqual(80);
    expect(overviewScale([[], [null, null]])).toEqual({ max: 10, clipped: false });
  });
});
