import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  forEachBucket,
  HISTORY_SECONDS,
  MAX_PATH_CHANGES,
  MetricsRegistry,
  type MetricsWindow,
  NodeMetrics,
  PeerMetrics,
  PROBE_TIMEOUT_MS,
  queryWindow,
  RttProbes,
  rttProbeInterval,
  SCRATCH_BYTES,
  SecondRing,
} from '../../main/metrics';

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function approx(actual: number, expected: number, what: string, eps = 1e-9): void {
  assert.ok(
    Math.abs(actual - expected) <= eps * Math.max(1, Math.abs(expected)),
    `${what}: got ${actual}, expected ${expected}`,
  );
}

/** Unix second used as the base of every test (aligned to the second). */
const S = 1_700_000_000;
const ms = (sec: number, offset = 0): number => sec * 1000 + offset;

interface RefSecond {
  sec: number;
  rtts: number[];
  sent: number;
  lost: number;
}

/** Straightforward reference for PeerMetrics.summary()'s RTT and loss figures. */
function reference(data: RefSecond[], nowSec: number, w: number) {
  const inWindow = data.filter((d) => d.sec > nowSec - w && d.sec <= nowSec).sort((a, b) => a.sec - b.sec);
  const all = inWindow.flatMap((d) => d.rtts);
  const means = inWindow
    .filter((d) => d.rtts.length > 0)
    .map((d) => d.rtts.reduce((x, y) => x + y, 0) / d.rtts.length);
  const sorted = [...means].sort((a, b) => a - b);
  // Nearest rank by definition: the smallest value with at least p% of the values <= it.
  const pct = (p: number): number => {
    for (let k = 0; k < sorted.length; k++) if ((k + 1) / sorted.length >= p / 100 - 1e-12) return sorted[k];
    throw new Error('unreachable');
  };
  let jitter = 0;
  for (let k = 1; k < means.length; k++) jitter += Math.abs(means[k] - means[k - 1]);
  const sent = inWindow.reduce((x, d) => x + d.sent, 0);
  const lost = inWindow.reduce((x, d) => x + d.lost, 0);
  // `last` is the newest sample overall when it lies in the window, else the newest second's mean.
  const newest = data.filter((d) => d.rtts.length > 0).reduce((a, b) => (b.sec > a.sec ? b : a));
  const newestInWindow = newest.sec > nowSec - w && newest.sec <= nowSec;
  return {
    samples: all.length,
    rtt:
      all.length === 0
        ? null
        : {
            last: newestInWindow ? newest.rtts[newest.rtts.length - 1] : means[means.length - 1],
            min: Math.min(...all),
            max: Math.max(...all),
            mean: all.reduce((x, y) => x + y, 0) / all.length,
            p50: pct(50),
            p75: pct(75),
            p99: pct(99),
            jitter: means.length > 1 ? jitter / (means.length - 1) : 0,
          },
    loss: sent > 0 ? lost / sent : 0,
  };
}

function checkAgainstReference(m: PeerMetrics, data: RefSecond[], now: number, w: MetricsWindow): void {
  const got = m.summary(now, w);
  const want = reference(data, Math.floor(now / 1000), w);
  assert.equal(got.samples, want.samples, `samples (window ${w})`);
  approx(got.loss, want.loss, `loss (window ${w})`);
  // Every window checked this way holds RTT samples: a reference without any would skip the
  // comparison of every RTT figure (the empty case has tests of its own).
  assert.ok(want.rtt, `the reference window (${w} s) holds RTT samples`);
  assert.ok(got.rtt, `RTT figures (window ${w})`);
  for (const key of ['last', 'min', 'max', 'mean', 'p50', 'p75', 'p99', 'jitter'] as const) {
    approx(got.rtt[key], want.rtt[key], `rtt.${key} (window ${w})`);
  }
}

describe('PeerMetrics: RTT statistics and loss', () => {
  it('percentiles, jitter, min/max/mean and loss match a reference over random seeded data', () => {
    const rand = prng(0xc0ffee);
    const m = new PeerMetrics();
    const data: RefSecond[] = [];
    const seconds = 5000; // more than the ring: slots are reused
    for (let k = 0; k < seconds; k++) {
      const sec = S + k;
      const d: RefSecond = { sec, rtts: [], sent: 0, lost: 0 };
      const nSamples = rand() < 0.2 ? 0 : 1 + Math.floor(rand() * 3);
      const offsets = Array.from({ length: nSamples }, () => Math.floor(rand() * 1000)).sort((a, b) => a - b);
      for (const off of offsets) {
        const rtt = rand() < 0.03 ? 200 + rand() * 800 : 10 + rand() * 90;
        m.rttSample(ms(sec, off), rtt);
        d.rtts.push(rtt);
      }
      if (rand() < 0.9) {
        m.probeSent(ms(sec, 1));
        d.sent++;
        if (rand() < 0.1) {
          m.probeLost(ms(sec, 900));
          d.lost++;
        }
      }
      data.push(d);
    }
    const last = S + seconds - 1;
    for (const w of [60, 900, 3600] as const) {
      checkAgainstReference(m, data, ms(last, 999), w);
      checkAgainstReference(m, data, ms(last + 30), w); // window shifted past the data
    }
    // Past windows still inside the ring (the newest sample is outside them).
    checkAgainstReference(m, data, ms(last - 1234, 10), 60);
    checkAgainstReference(m, data, ms(last - 1234, 10), 900);
    checkAgainstReference(m, data, ms(last - 2699), 900);
    const s = m.summary(ms(last), 3600);
    assert.ok(s.rtt && s.rtt.p50 <= s.rtt.p75 && s.rtt.p75 <= s.rtt.p99 && s.rtt.p99 <= s.rtt.max);
    assert.ok(s.loss > 0.05 && s.loss < 0.15, `loss ${s.loss}`);
  });

  it('nearest-rank percentiles on a small known set', () => {
    const m = new PeerMetrics();
    const values = [15, 20, 35, 40, 50]; // one per second
    for (const [k, v] of values.entries()) m.rttSample(ms(S + k), v);
    const s = m.summary(ms(S + 4), 60);
    assert.ok(s.rtt);
    assert.equal(s.rtt.p50, 35); // rank ceil(2.5) = 3
    assert.equal(s.rtt.p75, 40); // rank ceil(3.75) = 4
    assert.equal(s.rtt.p99, 50); // rank ceil(4.95) = 5
    approx(s.rtt.jitter, (5 + 15 + 5 + 10) / 4, 'jitter');
    assert.equal(s.rtt.last, 50);
  });

  it('per-second means feed the percentiles; samples feed min/max/mean', () => {
    const m = new PeerMetrics();
    m.rttSample(ms(S, 100), 10);
    m.rttSample(ms(S, 200), 30); // second S: mean 20
    m.rttSample(ms(S + 1), 50); // second S+1: mean 50
    const s = m.summary(ms(S + 1, 500), 60);
    assert.ok(s.rtt);
    assert.equal(s.samples, 3);
    assert.equal(s.rtt.min, 10);
    assert.equal(s.rtt.max, 50);
    approx(s.rtt.mean, 30, 'mean');
    assert.equal(s.rtt.p50, 20);
    assert.equal(s.rtt.p99, 50);
    assert.equal(s.rtt.jitter, 30);
  });

  it('loss ratio over the probes of the window', () => {
    const m = new PeerMetrics();
    for (let k = 0; k < 100; k++) {
      m.probeSent(ms(S + k));
      if (k % 10 === 3) m.probeLost(ms(S + k, 500)); // 10 lost in total, 6 in the last 60 s
    }
    approx(m.summary(ms(S + 99), 900).loss, 0.1, 'loss 900');
    approx(m.summary(ms(S + 99), 60).loss, 6 / 60, 'loss 60');
    assert.equal(new PeerMetrics().summary(ms(S), 60).loss, 0);
    const empty = new PeerMetrics().summary(ms(S), 60);
    assert.equal(empty.rtt, null);
    assert.equal(empty.samples, 0);
  });

  it('ignores invalid samples and rejects invalid queries', () => {
    const m = new PeerMetrics();
    m.rttSample(ms(S), Number.NaN);
    m.rttSample(ms(S), -1);
    m.rttSample(Number.NaN, 10);
    m.rttSample(-5, 10);
    assert.equal(m.summary(ms(S), 60).samples, 0);
    assert.throws(() => m.summary(ms(S), 3601 as MetricsWindow), RangeError);
    assert.throws(() => m.summary(ms(S), 0 as MetricsWindow), RangeError);
    assert.throws(() => m.summary(Number.NaN, 60), RangeError);
    assert.throws(() => m.series(ms(S), 60, 0), RangeError);
    assert.throws(() => m.series(ms(S), 60, 2.5), RangeError);
  });
});

describe('PeerMetrics: traffic from cumulative counters', () => {
  it('computes deltas, totals and rates over the seconds covered, and survives a counter reset', () => {
    const m = new PeerMetrics();
    const c = { rxBytes: 1_000_000, txBytes: 500_000, rxPackets: 1000, txPackets: 500 };
    m.traffic(ms(S), c); // baseline only
    let rx = 0;
    let tx = 0;
    for (let k = 1; k <= 10; k++) {
      c.rxBytes += 1000 * k;
      c.txBytes += 100;
      c.rxPackets += k;
      c.txPackets += 1;
      rx += 1000 * k;
      tx += 100;
      m.traffic(ms(S + k, 250), { ...c });
    }
    let s = m.summary(ms(S + 10, 500), 60);
    assert.equal(s.rxBytes, rx);
    assert.equal(s.txBytes, tx);
    approx(s.rxRate, rx / 10, 'rxRate over the 10 s covered, not 60');
    approx(s.txRate, 100, 'txRate');
    approx(s.rxPps, 55 / 10, 'rxPps');
    approx(s.txPps, 1, 'txPps');

    // Reset: the counters restart low. That interval counts 0; the next delta is from the new base.
    m.traffic(ms(S + 11), { rxBytes: 300, txBytes: 50, rxPackets: 3, txPackets: 1 });
    s = m.summary(ms(S + 11), 60);
    assert.equal(s.rxBytes, rx);
    assert.equal(s.txBytes, tx);
    m.traffic(ms(S + 12), { rxBytes: 1000, txBytes: 80, rxPackets: 10, txPackets: 2 });
    s = m.summary(ms(S + 12), 60);
    assert.equal(s.rxBytes, rx + 700);
    assert.equal(s.txBytes, tx + 30);
    approx(s.rxRate, (rx + 700) / 12, 'rxRate after reset');
    approx(s.rxPps, (55 + 7) / 12, 'rxPps after reset');
    assert.ok(s.rxBytes >= 0 && s.txBytes >= 0);

    // Only one counter going backwards resets only that counter.
    m.traffic(ms(S + 13), { rxBytes: 900, txBytes: 180, rxPackets: 11, txPackets: 3 });
    s = m.summary(ms(S + 13), 60);
    assert.equal(s.rxBytes, rx + 700);
    assert.equal(s.txBytes, tx + 130);
  });

  it('a full window divides by the window; idle seconds count as zero traffic', () => {
    const m = new PeerMetrics();
    let cum = 0;
    m.traffic(ms(S), { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });
    for (let k = 1; k <= 200; k++) {
      if (k > 150) continue; // idle for the last 50 s
      cum += 2000;
      m.traffic(ms(S + k), { rxBytes: cum, txBytes: cum / 2, rxPackets: k, txPackets: k });
    }
    const s = m.summary(ms(S + 200), 60);
    assert.equal(s.rxBytes, 10 * 2000); // seconds 141..150
    approx(s.rxRate, (10 * 2000) / 60, 'rxRate');
    approx(m.summary(ms(S + 200), 900).rxRate, (150 * 2000) / 200, 'rxRate 900 covered 200 s');
  });
});

describe('PeerMetrics: path changes', () => {
  it('records changes only, bounded to the last 64, and reports those inside the window', () => {
    const m = new PeerMetrics();
    m.path(ms(S), 'unknown'); // same as the initial path: no change
    assert.equal(m.pathHistory().length, 0);
    m.path(ms(S, 1), 'direct');
    m.path(ms(S, 2), 'direct'); // unchanged
    m.path(ms(S + 1), 'relayed', 'relay-a');
    m.path(ms(S + 2), 'relayed', 'relay-a'); // unchanged
    m.path(ms(S + 3), 'relayed', 'relay-b'); // another relay is a change
    assert.deepEqual(
      m.pathHistory().map((c) => [c.t, c.kind, c.via]),
      [
        [ms(S, 1), 'direct', undefined],
        [ms(S + 1), 'relayed', 'relay-a'],
        [ms(S + 3), 'relayed', 'relay-b'],
      ],
    );
    assert.deepEqual(m.currentPath, { kind: 'relayed', via: 'relay-b' });

    for (let k = 0; k < 200; k++) {
      m.path(ms(S + 10 + k * 10), k % 2 === 0 ? 'direct' : 'relayed', k % 2 === 0 ? undefined : `r${k}`);
    }
    const history = m.pathHistory();
    assert.equal(history.length, MAX_PATH_CHANGES);
    assert.equal(history[0].t, ms(S + 10 + (200 - MAX_PATH_CHANGES) * 10));
    assert.equal(history[MAX_PATH_CHANGES - 1].t, ms(S + 10 + 199 * 10));
    assert.equal(history[MAX_PATH_CHANGES - 1].via, 'r199');

    const lastSec = S + 10 + 199 * 10;
    const inMinute = m.summary(ms(lastSec), 60).pathChanges;
    assert.equal(inMinute.length, 6); // at lastSec - 50, -40, ..., lastSec
    assert.equal(inMinute[0].t, ms(lastSec - 50));
    assert.equal(m.summary(ms(lastSec), 3600).pathChanges.length, MAX_PATH_CHANGES);
    assert.equal(m.summary(ms(lastSec + 3600), 3600).pathChanges.length, 0);
  });
});

describe('PeerMetrics: window boundaries and ring reuse', () => {
  it('includes the first second of the window and excludes the one before it', () => {
    const m = new PeerMetrics();
    m.rttSample(ms(S - 60, 999), 500); // one second before a 60 s window ending at second S
    m.rttSample(ms(S - 59), 10); // first second of that window
    m.rttSample(ms(S, 999), 20);
    let s = m.summary(ms(S, 1), 60);
    assert.equal(s.samples, 2);
    assert.equal(s.rtt?.max, 20);
    assert.equal(s.rtt?.min, 10);
    s = m.summary(ms(S + 1), 60);
    assert.equal(s.samples, 1);
    assert.equal(s.rtt?.min, 20);
    assert.equal(m.summary(ms(S), 900).samples, 3);
  });

  it('reuses a slot from 3600 s ago: stale data is reset, never mixed in', () => {
    const m = new PeerMetrics();
    m.rttSample(ms(S), 100);
    m.probeSent(ms(S));
    m.probeSent(ms(S));
    m.traffic(ms(S - 1), { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });
    m.traffic(ms(S), { rxBytes: 5000, txBytes: 0, rxPackets: 5, txPackets: 0 });
    assert.equal(m.summary(ms(S + HISTORY_SECONDS - 1), 3600).samples, 1); // still in the hour

    const later = S + HISTORY_SECONDS; // same slot as S
    m.rttSample(ms(later, 10), 5);
    m.probeLost(ms(later, 20));
    let s = m.summary(ms(later, 500), 3600);
    assert.equal(s.samples, 1);
    assert.equal(s.rtt?.max, 5);
    assert.equal(s.loss, 0); // the two probes sent at S are gone, not counted against this loss
    assert.equal(s.rxBytes, 0);
    const series = m.series(ms(later), 60);
    assert.equal(series.rtt[59], 5);
    assert.equal(series.loss[59], null);
    assert.equal(series.rx[59], 0);

    // A sample as old as the newest one minus the ring is dropped instead of clobbering newer data.
    m.rttSample(ms(S, 900), 1000);
    s = m.summary(ms(later, 500), 60);
    assert.equal(s.samples, 1);
    assert.equal(s.rtt?.max, 5);
    // A late sample still within the ring lands in its own second.
    m.rttSample(ms(S + 1), 7);
    assert.equal(m.summary(ms(later), 3600).samples, 2);
    assert.equal(m.summary(ms(S + 1), 60).rtt?.min, 7);
  });
});

describe('PeerMetrics: series', () => {
  // One minute of known data: RTT in 2 of 3 seconds, 2 probes a second with one lost every 5th
  // second, 100 * k bytes received and 10 bytes sent in second k.
  function minute() {
    const m = new PeerMetrics();
    const start = S + 1;
    const rtt: (number | null)[] = [];
    const sent: number[] = [];
    const lost: number[] = [];
    const rx: number[] = [];
    let cum = 0;
    m.traffic(ms(S), { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });
    for (let k = 0; k < 60; k++) {
      const sec = start + k;
      if (k % 3 !== 0) {
        m.rttSample(ms(sec, 100), k);
        m.rttSample(ms(sec, 600), k + 2);
        rtt.push(k + 1);
      } else {
        rtt.push(null);
      }
      m.probeSent(ms(sec));
      m.probeSent(ms(sec, 500));
      sent.push(2);
      if (k % 5 === 0) {
        m.probeLost(ms(sec, 900));
        lost.push(1);
      } else {
        lost.push(0);
      }
      cum += 100 * k;
      m.traffic(ms(sec, 999), { rxBytes: cum, txBytes: 10 * (k + 1), rxPackets: k, txPackets: k });
      rx.push(100 * k);
    }
    return { m, start, end: start + 59, rtt, sent, lost, rx };
  }

  it('one point per second without maxPoints', () => {
    const { m, start, end, rtt, sent, lost, rx } = minute();
    const s = m.series(ms(end, 400), 60);
    assert.equal(s.t.length, 60);
    assert.equal(s.t[0], start);
    assert.equal(s.t[59], end);
    assert.deepEqual(s.rtt, rtt);
    assert.deepEqual(
      s.loss,
      lost.map((l, k) => l / sent[k]),
    );
    assert.deepEqual(s.rx, rx);
    assert.deepEqual(s.tx, new Array(60).fill(10));
    assert.equal(m.series(ms(end), 60, 1000).t.length, 60);
  });

  it('downsamples into exactly maxPoints buckets by averaging', () => {
    const { m, start, end, rtt, sent, lost, rx } = minute();
    const points = 7;
    const s = m.series(ms(end), 60, points);
    assert.equal(s.t.length, points);
    assert.equal(s.rtt.length, points);
    assert.equal(s.loss.length, points);
    assert.equal(s.rx.length, points);
    assert.equal(s.tx.length, points);
    // Rebuild the buckets from the raw data: consecutive, non-empty, covering the window once.
    const bounds = [...s.t.map((t) => t - start), 60];
    let rxTotal = 0;
    for (let k = 0; k < points; k++) {
      const [lo, hi] = [bounds[k], bounds[k + 1]];
      assert.ok(hi - lo === 8 || hi - lo === 9, `bucket ${k} size ${hi - lo}`);
      const rtts = rtt.slice(lo, hi).filter((v): v is number => v !== null);
      const expectRtt = rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null;
      if (expectRtt === null) assert.equal(s.rtt[k], null);
      else approx(s.rtt[k] as number, expectRtt, `rtt[${k}]`);
      const l = lost.slice(lo, hi).reduce((a, b) => a + b, 0);
      const se = sent.slice(lo, hi).reduce((a, b) => a + b, 0);
      approx(s.loss[k] as number, l / se, `loss[${k}]`);
      const r = rx.slice(lo, hi).reduce((a, b) => a + b, 0);
      approx(s.rx[k], r / (hi - lo), `rx[${k}]`);
      approx(s.tx[k], 10, `tx[${k}]`);
      rxTotal += s.rx[k] * (hi - lo);
    }
    approx(rxTotal, m.summary(ms(end), 60).rxBytes, 'bucket totals add up to the window total');

    const hour = m.series(ms(end), 3600, 7);
    assert.equal(hour.t.length, 7);
    assert.equal(hour.t[0], end - 3599);
    const sizes = hour.t.map((t, k) => (k + 1 < hour.t.length ? hour.t[k + 1] : end + 1) - t);
    assert.deepEqual(
      [...new Set(sizes)].sort((a, b) => a - b),
      [514, 515],
    );
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      3600,
    );
    // Buckets before the data: no RTT, no loss, no traffic.
    assert.equal(hour.rtt[0], null);
    assert.equal(hour.loss[0], null);
    assert.equal(hour.rx[0], 0);
    approx(hour.rx[6] * sizes[6], m.summary(ms(end), 60).rxBytes, 'last hour bucket holds the minute');
    assert.equal(m.series(ms(end), 900, 100).t.length, 100);
  });
});

describe("PeerMetrics: what a bucket's reach says, and carrying over to the next node", () => {
  it('0 nothing recorded (not connected), 1 recorded without a path (offline), 2 a path (RTT or not)', () => {
    const m = new PeerMetrics();
    // seconds S+0..S+9: direct, probed only in the first five; S+10..S+19: offline (path unknown);
    // S+20..S+29: nothing recorded (this device was down); S+30..S+39: relayed, not probed
    for (let k = 0; k < 40; k++) {
      const sec = S + k;
      if (k >= 20 && k < 30) continue;
      m.traffic(ms(sec, 500), { rxBytes: k, txBytes: k, rxPackets: k, txPackets: k });
      m.path(ms(sec, 500), k < 10 ? 'direct' : k < 20 ? 'unknown' : 'relayed', k >= 30 ? 'p' : undefined);
      if (k < 5) m.rttSample(ms(sec, 600), 2);
    }
    const s = m.series(ms(S + 39), 60);
    const at = (k: number) => s.t.indexOf(S + k);
    assert.equal(s.reach[at(-1)], 0, 'before the first record');
    for (const k of [0, 4, 5, 9, 30, 39]) assert.equal(s.reach[at(k)], 2, `second ${k}`);
    for (const k of [10, 19]) assert.equal(s.reach[at(k)], 1, `second ${k}`);
    for (const k of [20, 29]) assert.equal(s.reach[at(k)], 0, `second ${k}`);
    assert.equal(s.rtt[at(5)], null, 'a path but no probe: no RTT, reach 2 (not an outage)');
    // buckets of 10 s: one with a path in any second counts as reached
    const b = m.series(ms(S + 39), 60, 6);
    assert.deepEqual(b.reach, [0, 0, 2, 1, 0, 2]);
  });

  it('dump and restore keep the history and path changes; the path ends at the dump; counters start over', () => {
    const m = new PeerMetrics();
    m.traffic(ms(S), { rxBytes: 100, txBytes: 0, rxPackets: 1, txPackets: 0 });
    for (let k = 1; k <= 30; k++) {
      m.traffic(ms(S + k), { rxBytes: 100 + 1000 * k, txBytes: 0, rxPackets: 1 + k, txPackets: 0 });
      m.path(ms(S + k), 'direct');
      m.rttSample(ms(S + k, 100), 10 + k);
    }
    const before = m.summary(ms(S + 30), 60);
    const dump = structuredClone(m.dump(ms(S + 31))); // as it crosses the worker boundary
    const r = PeerMetrics.restore(dump);
    assert.ok(r, 'a dump restores');
    assert.deepEqual(
      r.pathHistory().map((c) => c.kind),
      ['direct', 'unknown'],
      'the path ended when the node stopped',
    );
    assert.deepEqual(r.currentPath, { kind: 'unknown', via: undefined });
    const after = r.summary(ms(S + 30), 60);
    assert.deepEqual(after.rtt, before.rtt);
    assert.equal(after.rxBytes, before.rxBytes);
    // The next node's counters start at zero: its first reading counts from there (not a base).
    r.traffic(ms(S + 40), { rxBytes: 500, txBytes: 0, rxPackets: 5, txPackets: 0 });
    r.path(ms(S + 40), 'relayed', 'p');
    assert.equal(r.summary(ms(S + 40), 60).rxBytes, before.rxBytes + 500);
    const s = r.series(ms(S + 40), 60);
    assert.equal(s.reach[s.t.indexOf(S + 35)], 0, 'the seconds the node was down: nothing recorded');
    assert.equal(s.reach[s.t.indexOf(S + 40)], 2);
    assert.deepEqual(
      r.pathHistory().map((c) => c.kind),
      ['direct', 'unknown', 'relayed'],
    );
  });

  it('restore refuses what is not a dump; the registry skips it and keeps its cap', () => {
    const good = new PeerMetrics();
    good.rttSample(ms(S), 5);
    const d = good.dump(ms(S));
    assert.equal(PeerMetrics.restore(null as never), null);
    assert.equal(PeerMetrics.restore({ ...d, ring: { ...d.ring, stamp: new Uint32Array(3) } }), null);
    assert.equal(PeerMetrics.restore({ ...d, ring: { ...d.ring, columns: d.ring.columns.slice(1) } }), null);
    assert.equal(
      PeerMetrics.restore({
        ...d,
        ring: { ...d.ring, columns: [new Float32Array(3600) as never, ...d.ring.columns.slice(1)] },
      }),
      null,
      'a column of another type',
    );
    assert.equal(
      PeerMetrics.restore({ ...d, changes: [{ t: 1, kind: 'sideways', via: undefined }] as never }),
      null,
    );
    assert.equal(PeerMetrics.restore({ ...d, lastRtt: Number.NaN }), null);

    const reg = new MetricsRegistry(2);
    const n = reg.restore([['a', d], ['b', 'nope'], ['c', d], ['d', d], 'junk']);
    assert.equal(n, 3);
    assert.equal(reg.size, 2, 'at most maxPeers');
    assert.equal(reg.restore({ not: 'an array' }), 0);
    assert.equal(reg.get('d')?.summary(ms(S), 60).rtt?.last, 5);
  });
});

describe('PeerMetrics: long uptime', () => {
  it('30 days at one sample per second: memory unchanged, summaries still right', () => {
    const registry = new MetricsRegistry();
    const ids = ['alice', 'bob', 'carol'];
    const peers = ids.map((id) => registry.peer(id));
    const bytesBefore = registry.approxBytes();
    assert.equal(bytesBefore, SCRATCH_BYTES + ids.length * peers[0].byteLength);

    const days = 30;
    const total = days * 86400 + 1800; // ends 1800 s after the last 6-hourly path change
    const rtt = (p: number, k: number): number => 10 + p + ((k * (p + 3)) % 17) / 4;
    const cum = [0, 0, 0];
    const counters = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
    for (let k = 0; k < total; k++) {
      const now = ms(S + k, 250);
      for (let p = 0; p < peers.length; p++) {
        const m = peers[p];
        m.probeSent(now);
        if (k % 20 === p) m.probeLost(now);
        else m.rttSample(now, rtt(p, k));
        cum[p] += 1000 * (p + 1);
        counters.rxBytes = cum[p];
        counters.txBytes = cum[p] / 2;
        counters.rxPackets = k;
        counters.txPackets = k;
        m.traffic(now, counters);
        if (k % 21600 === 0) m.path(now, (k / 21600) % 2 === 0 ? 'direct' : 'relayed', `via${p}`);
      }
    }
    assert.equal(registry.approxBytes(), bytesBefore);
    assert.equal(registry.size, ids.length);

    const lastSec = S + total - 1;
    for (let p = 0; p < peers.length; p++) {
      const data: RefSecond[] = [];
      for (let k = total - 3600; k < total; k++) {
        const lostNow = k % 20 === p;
        data.push({ sec: S + k, rtts: lostNow ? [] : [rtt(p, k)], sent: 1, lost: lostNow ? 1 : 0 });
      }
      for (const w of [60, 900, 3600] as const) {
        checkAgainstReference(peers[p], data, ms(lastSec, 250), w);
        const s = peers[p].summary(ms(lastSec, 250), w);
        approx(s.rxRate, 1000 * (p + 1), `peer ${p} rxRate ${w}`);
        approx(s.txRate, 500 * (p + 1), `peer ${p} txRate ${w}`);
        approx(s.rxPps, 1, `peer ${p} rxPps ${w}`);
        approx(s.loss, 1 / 20, `peer ${p} loss ${w}`);
      }
      assert.equal(peers[p].pathHistory().length, MAX_PATH_CHANGES);
      const changes = peers[p].summary(ms(lastSec), 3600).pathChanges;
      assert.equal(changes.length, 1);
      assert.equal(changes[0].t, ms(S + days * 86400, 250));
      assert.equal(peers[p].series(ms(lastSec), 3600, 60).t.length, 60);
    }
  });
});

describe('NodeMetrics', () => {
  it('throughput from cumulative counters, sessions gauge carried forward, errors as deltas', () => {
    const n = new NodeMetrics();
    n.traffic(ms(S), { rxBytes: 10_000, txBytes: 20_000 });
    n.sessions(ms(S), 5);
    n.errors(ms(S), 100);
    for (let k = 1; k <= 30; k++)
      n.traffic(ms(S + k), { rxBytes: 10_000 + 300 * k, txBytes: 20_000 + 30 * k });
    n.sessions(ms(S + 10), 7);
    n.errors(ms(S + 5), 103);
    n.errors(ms(S + 6), 2); // reset: counts 0
    n.errors(ms(S + 7), 4); // +2

    let s = n.summary(ms(S + 29), 60);
    assert.equal(s.rxBytes, 300 * 29);
    approx(s.rxRate, 300, 'rxRate');
    approx(s.txRate, 30, 'txRate');
    assert.equal(s.errors, 5);
    assert.ok(s.sessions);
    assert.equal(s.sessions.last, 7);
    assert.equal(s.sessions.min, 5);
    assert.equal(s.sessions.max, 7);
    approx(s.sessions.mean, (10 * 5 + 20 * 7) / 30, 'sessions mean'); // unknown before S

    // Window after the last gauge sample: the gauge holds.
    s = n.summary(ms(S + 100), 60);
    assert.deepEqual(s.sessions, { last: 7, min: 7, max: 7, mean: 7 });
    assert.equal(s.errors, 0);
    assert.equal(s.rxBytes, 0);
    approx(s.rxRate, 0, 'idle rate');

    // A later sample inside the window: the value before the window comes from the ring.
    n.sessions(ms(S + 100), 9);
    s = n.summary(ms(S + 100), 60);
    assert.deepEqual(s.sessions, { last: 9, min: 7, max: 9, mean: (59 * 7 + 9) / 60 });
    assert.equal(new NodeMetrics().summary(ms(S), 60).sessions, null);

    const series = n.series(ms(S + 29), 60, 6);
    assert.equal(series.t.length, 6);
    assert.deepEqual(series.errors, [0, 0, 0, 5, 0, 0]); // buckets of 10 s starting at S - 30
    assert.deepEqual(series.sessions.slice(0, 3), [null, null, null]);
    assert.equal(series.sessions[3], 5);
    approx(series.sessions[4] as number, 7, 'sessions bucket 4');
    approx(series.rx[3], 270, 'rx bucket S..S+9: seconds S+1..S+9 at 300 B/s');
    approx(series.rx[5], 300, 'rx bucket 5');
    assert.equal(series.rx[0], 0);
    // stamps (4 B) + rx, tx (8 B each) + sessions gauge (4 B) + errors (8 B) per second
    assert.equal(n.byteLength, 32 * HISTORY_SECONDS);
  });
});

describe('MetricsRegistry', () => {
  it('creates on demand, evicts the least recently updated peer when full, removes', () => {
    const r = new MetricsRegistry(3);
    const a = r.peer('a');
    const b = r.peer('b');
    const c = r.peer('c');
    assert.equal(r.peer('a'), a);
    assert.equal(r.size, 3);
    const per = a.byteLength;
    assert.equal(per, 60 * HISTORY_SECONDS);
    assert.equal(r.approxBytes(), SCRATCH_BYTES + 3 * per);

    a.rttSample(ms(S + 3), 10);
    b.probeSent(ms(S + 1));
    c.traffic(ms(S + 2), { rxBytes: 1, txBytes: 1, rxPackets: 1, txPackets: 1 });
    b.rttSample(ms(S + 4), 10); // b is now the most recently updated; c the least
    const d = r.peer('d');
    assert.equal(r.size, 3);
    assert.ok(!r.has('c'));
    assert.ok(r.has('a') && r.has('b') && r.has('d'));
    assert.equal(r.approxBytes(), SCRATCH_BYTES + 3 * per);

    d.path(ms(S + 5), 'direct');
    r.peer('e'); // a (S + 3) is now the least recently updated
    assert.deepEqual([...r.ids()], ['b', 'd', 'e']);
    r.peer('f'); // e was never updated: it goes first
    assert.deepEqual([...r.ids()], ['b', 'd', 'f']);

    assert.equal(r.get('zzz'), undefined);
    assert.equal(r.size, 3);
    assert.ok(r.remove('b'));
    assert.ok(!r.remove('b'));
    assert.equal(r.size, 2);
    assert.equal(r.approxBytes(), SCRATCH_BYTES + 2 * per);
    r.peer('g');
    assert.equal(r.size, 3); // room was made by remove(): nothing evicted
    assert.deepEqual([...r.ids()], ['d', 'f', 'g']);
    assert.throws(() => new MetricsRegistry(0), RangeError);
    assert.equal(new MetricsRegistry().maxPeers, 4096);
  });
});

describe('rttProbeInterval', () => {
  it('1 s while watched, 5 s otherwise, 30 s once idle for over 300 s', () => {
    assert.equal(rttProbeInterval(true, 0), 1000);
    assert.equal(rttProbeInterval(true, 10_000), 1000);
    assert.equal(rttProbeInterval(false, 0), 5000);
    assert.equal(rttProbeInterval(false, 300), 5000);
    assert.equal(rttProbeInterval(false, 301), 30_000);
  });
});

describe('metric values pinned (the same inputs give the same figures, to the last bit)', () => {
  // Seeded inputs over more than the ring (slots reused), with counter resets, invalid input,
  // out-of-order and too-old samples, path changes and gauge gaps. The digest covers every
  // summary and series below, serialised with JSON (shortest round-trip doubles, so one bit of
  // difference in any figure changes it); it was taken from main/core/metrics.ts before the
  // module moved to main/metrics/.
  function run(): unknown[] {
    const rand = prng(0x5eed);
    const peer = new PeerMetrics();
    const node = new NodeMetrics();
    const c = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
    let errors = 0;
    const t0 = S - 1000;
    const end = t0 + 4500;
    for (let sec = t0; sec < end; sec++) {
      const off = Math.floor(rand() * 1000);
      if (rand() < 0.8) peer.rttSample(ms(sec, off), 5 + rand() * 120);
      if (rand() < 0.3) peer.rttSample(ms(sec, 999), rand() < 0.5 ? 1 + rand() * 3 : 400 + rand() * 600);
      if (rand() < 0.05) peer.rttSample(ms(sec - 1 - Math.floor(rand() * 4000)), 77); // late or too old
      if (rand() < 0.01) peer.rttSample(ms(sec), Number.NaN);
      if (rand() < 0.9) peer.probeSent(ms(sec, 1));
      if (rand() < 0.12) peer.probeLost(ms(sec, 2));
      if (rand() < 0.7) {
        c.rxBytes += Math.floor(rand() * 200_000);
        c.txBytes += Math.floor(rand() * 50_000);
        c.rxPackets += Math.floor(rand() * 150);
        c.txPackets += Math.floor(rand() * 60);
        if (rand() < 0.003) c.rxBytes = Math.floor(rand() * 1000); // a reset of one counter
        peer.traffic(ms(sec, 500), { ...c });
        node.traffic(ms(sec, 500), { rxBytes: c.rxBytes * 2, txBytes: c.txBytes * 3 });
      }
      if (rand() < 0.02) {
        const r = rand();
        peer.path(
          ms(sec, 600),
          r < 0.4 ? 'direct' : r < 0.8 ? 'relayed' : 'unknown',
          r < 0.6 ? `r${sec % 3}` : undefined,
        );
      }
      if (rand() < 0.1) node.sessions(ms(sec, 700), Math.floor(rand() * 40));
      if (rand() < 0.3) {
        errors += Math.floor(rand() * 5);
        if (rand() < 0.01) errors = 0;
        node.errors(ms(sec, 800), errors);
      }
    }
    const out: unknown[] = [];
    for (const at of [end - 1, end + 100, end - 2000, t0 + 10, end + 4000]) {
      for (const w of [60, 900, 3600] as const) {
        out.push(peer.summary(ms(at, 321), w), node.summary(ms(at, 321), w));
        for (const points of [undefined, 1, 7, 60, 100]) {
          // `reach` came later than the digest; it has its own test ("what a bucket's reach says")
          const { reach: _reach, ...series } = peer.series(ms(at), w, points);
          out.push(series, node.series(ms(at), w, points));
        }
      }
    }
    out.push(peer.pathHistory(), peer.currentPath, peer.lastUpdate);
    return out;
  }

  it('PeerMetrics and NodeMetrics summaries and series', () => {
    const out = run();
    // A few figures in the clear, so a failure says where to look.
    assert.deepEqual(out[0], {
      samples: 67,
      rtt: {
        last: 848.1780685950071,
        min: 1.0895454892888665,
        max: 989.9847392458469,
        mean: 135.2832758034677,
        p50: 68.02670140750706,
        p75: 107.27976220659912,
        p99: 698.8793489057571,
        jitter: 111.20551465994696,
      },
      loss: 0.15384615384615385,
      rxRate: 69041.68333333333,
      txRate: 14534.466666666667,
      rxPps: 54.75,
      txPps: 19.65,
      rxBytes: 4142501,
      txBytes: 872068,
      pathChanges: [{ t: 1700003463600, kind: 'relayed', via: undefined }],
    });
    assert.deepEqual(out[1], {
      rxRate: 138083.36666666667,
      txRate: 43603.4,
      rxBytes: 8285002,
      txBytes: 2616204,
      sessions: { last: 21, min: 2, max: 27, mean: 14.916666666666666 },
      errors: 36,
    });
    const json = JSON.stringify(out);
    assert.equal(json.length, 1489048);
    assert.equal(
      createHash('sha256').update(json).digest('hex'),
      '771d0e794f56b313fd06a656c6d46f3fc6e4c75b1bd57c4c4501ecd46fe75635',
    );
  });
});

describe('SecondRing', () => {
  it('resets a slot holding another second before writing, refuses writes older than the ring', () => {
    const ring = new SecondRing();
    const a = ring.column(new Float64Array(HISTORY_SECONDS));
    const g = ring.column(new Int32Array(HISTORY_SECONDS), -1);
    assert.equal(ring.byteLength, (4 + 8 + 4) * HISTORY_SECONDS);
    assert.equal(ring.read(S), -1);
    const i = ring.write(S);
    assert.equal(i, S % HISTORY_SECONDS);
    assert.equal(g[i], -1, 'a fresh slot holds the empty value of each column');
    a[i] = 42;
    g[i] = 7;
    assert.equal(ring.write(S), i, 'the same second again: no reset');
    assert.equal(a[i], 42);
    assert.equal(ring.read(S), i);
    assert.equal(ring.read(S + HISTORY_SECONDS), -1, 'same slot, another second: nothing to read');
    assert.equal(ring.write(S + HISTORY_SECONDS), i);
    assert.equal(a[i], 0);
    assert.equal(g[i], -1);
    assert.equal(ring.read(S), -1, 'the older second is gone');
    assert.equal(ring.write(S), -1, 'a second a whole ring older than the newest is refused');
    assert.equal(ring.write(S + 1), (S + 1) % HISTORY_SECONDS, 'one second newer than that is not');
    assert.equal(ring.write(-1), -1);
    assert.equal(ring.read(-1), -1);
    assert.throws(() => ring.column(new Float64Array(10)), RangeError);
  });

  it('buckets cover the window once, in order, sizes differing by at most one second', () => {
    const win = queryWindow(ms(S, 999), 60);
    assert.deepEqual(win, { w: 60, nowSec: S, start: S - 59 });
    const got: [number, number][] = [];
    forEachBucket(win, 7, (from, to) => got.push([from, to]));
    assert.equal(got.length, 7);
    assert.equal(got[0][0], S - 59);
    assert.equal(got[6][1], S + 1);
    for (let k = 1; k < got.length; k++) assert.equal(got[k][0], got[k - 1][1]);
    assert.deepEqual([...new Set(got.map(([f, t]) => t - f))].sort(), [8, 9]);
    let n = 0;
    forEachBucket(win, undefined, () => n++);
    assert.equal(n, 60);
    assert.throws(() => forEachBucket(win, 0, () => {}), RangeError);
    assert.throws(() => queryWindow(ms(S), 3601), RangeError);
    assert.throws(() => queryWindow(-1, 60), RangeError);
  });
});

describe('RttProbes', () => {
  it('one probe at a time, lost after PROBE_TIMEOUT_MS, the next one after the interval', () => {
    const registry = new MetricsRegistry(8);
    const probes = new RttProbes(registry);
    const t = ms(S);
    assert.equal(probes.due('a', t, true), true, 'never probed: due');
    probes.sent('a', t);
    assert.equal(probes.due('a', t + 1000, true), false, 'outstanding: not due');
    probes.answered('a', t + 1500, 12);
    assert.equal(probes.due('a', t + 1500, true), true, 'answered and a watched interval (1 s) later: due');
    probes.sent('a', t + 1500);
    assert.equal(
      probes.due('a', t + 1500 + PROBE_TIMEOUT_MS, true),
      false,
      'not lost at the timeout exactly',
    );
    assert.equal(probes.due('a', t + 1501 + PROBE_TIMEOUT_MS, true), true, 'lost after it, then due again');
    const s = registry.get('a')?.summary(t + 1501 + PROBE_TIMEOUT_MS, 60);
    assert.ok(s, 'the probes were recorded for a');
    assert.equal(s.samples, 1);
    assert.equal(s.rtt?.last, 12);
    assert.equal(s.loss, 1 / 2);

    // Unwatched: every 5 s while the peer's metrics were updated lately, every 30 s once idle (a
    // peer without metrics counts as idle). A probe that was not sent still waits for the interval.
    registry.peer('b').traffic(t, { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });
    assert.equal(probes.due('b', t, false), true);
    assert.equal(probes.due('b', t + 4999, false), false);
    assert.equal(probes.due('b', t + 5000, false), true);
    assert.equal(probes.due('c', t, false), true);
    assert.equal(probes.due('c', t + 29_999, false), false);
    assert.equal(probes.due('c', t + 30_000, false), true);
    assert.equal(registry.get('c'), undefined, 'nothing recorded for a peer never probed');
  });

  it('backs off to every 30 s once the counters stop moving for 5 min, though traffic() runs every second', () => {
    // The node's feed calls traffic() every second for every peer: idle is measured from the last
    // time the counters moved (it used to be from the last update, so idle peers never backed off).
    const registry = new MetricsRegistry(8);
    const probes = new RttProbes(registry);
    const t = ms(S);
    const counters = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
    const sent: number[] = [];
    for (let s = 0; s <= 600; s++) {
      const now = t + s * 1000;
      if (s <= 60) {
        counters.rxPackets += 1;
        counters.rxBytes += 100;
      }
      registry.peer('d').traffic(now, counters);
      if (probes.due('d', now, false)) {
        probes.sent('d', now);
        probes.answered('d', now + 5, 5);
        sent.push(s);
      }
    }
    const gaps = sent.slice(1).map((x, i) => x - sent[i]);
    // Traffic for the first minute: every 5 s until 5 min after it stopped (s = 360), then every 30 s.
    assert.ok(
      gaps.slice(0, 60).every((g) => g === 5),
      `busy gaps ${gaps.slice(0, 60)}`,
    );
    const late = sent.filter((x) => x > 400);
    assert.ok(late.length >= 6 && late.length <= 8, `probes after 400 s: ${late}`);
    assert.ok(
      late.slice(1).every((x, i) => x - late[i] === 30),
      `idle gaps ${late.map((x, i) => x - (late[i - 1] ?? x))}`,
    );
  });
});

describe('main/metrics in the layers', () => {
  it('imports only its own files and core types: no io, node, control, app, and no Node modules', () => {
    const dir = join(__dirname, '..', '..', '..', 'main', 'metrics');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length >= 8, `main/metrics sources found in ${dir}: ${files.join(', ')}`);
    let imports = 0;
    for (const f of files) {
      const src = readFileSync(join(dir, f), 'utf8');
      for (const m of src.matchAll(/^(?:import|export)(\s+type)?[^;]*?from '([^']+)'/gms)) {
        imports++;
        const [, typeOnly, from] = m;
        const ok = from.startsWith('./') || (from.startsWith('../core/') && typeOnly !== undefined);
        assert.ok(ok, `${f} imports ${from}${typeOnly ? ' (types)' : ''}`);
      }
    }
    assert.ok(imports > 10, `found ${imports} imports: the pattern still matches the sources`);
  });
});
