// The shapes of the metrics the Control API's `metrics` query returns and the UI draws: types only,
// so the renderer can import them without pulling in any code.

import type { PathKind } from '../core/mesh/path-kind';

/**
 * Window lengths the UI offers: one minute, fifteen minutes, one hour. (At runtime any integer
 * number of seconds from 1 to HISTORY_SECONDS works; anything else throws a RangeError.)
 */
export type MetricsWindow = 60 | 900 | 3600;
/**
 * The mesh's path kinds, with 'unknown' for a second or peer the metrics were not told about (the
 * mesh's 'none', no path yet, is recorded as 'unknown' too).
 */
export type MetricsPathKind = Exclude<PathKind, 'none'> | 'unknown';

export interface PathChange {
  /** The `now` (ms) passed to `path()` when the change was seen. */
  t: number;
  kind: MetricsPathKind;
  /** Relay id (or endpoint) the path goes through, when the caller said so. */
  via: string | undefined;
}

/** Cumulative per-peer traffic counters, as kept by the tunnel. */
export interface TrafficCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export interface RttSummary {
  /** The most recent sample in the window. */
  last: number;
  /** Smallest and largest single sample in the window. */
  min: number;
  max: number;
  /** Mean of all samples in the window (every sample weighs the same). */
  mean: number;
  /** Percentiles of the per-second mean RTTs in the window, nearest-rank method. */
  p50: number;
  p75: number;
  p99: number;
  /** Mean absolute difference of consecutive per-second mean RTTs. */
  jitter: number;
}

export interface PeerSummary {
  /** Number of RTT samples in the window. */
  samples: number;
  /** Null when the window holds no RTT sample. */
  rtt: RttSummary | null;
  /** Lost probes / sent probes in the window, 0..1 (0 when no probe was sent). */
  loss: number;
  /** Bytes and packets per second, averaged over the seconds of the window that traffic covers. */
  rxRate: number;
  txRate: number;
  rxPps: number;
  txPps: number;
  /** Total bytes in the window. */
  rxBytes: number;
  txBytes: number;
  /** Path changes inside the window, oldest first (at most MAX_PATH_CHANGES). */
  pathChanges: ReadonlyArray<Readonly<PathChange>>;
}

export interface PeerSeries {
  /** Unix second at which each point's bucket starts. */
  t: number[];
  /** Mean of the per-second mean RTTs in the bucket; null when the bucket has none. */
  rtt: (number | null)[];
  /** Lost / sent probes in the bucket; null when no probe was sent in it. */
  loss: (number | null)[];
  /** Bytes per second, averaged over the bucket. */
  rx: number[];
  tx: number[];
  /**
   * Whether the peer was reachable in the bucket, so a chart can tell a gap from an outage:
   * 0 nothing recorded (this device was not connected, or did not know the peer yet), 1 recorded
   * but the peer had no path (offline or unreachable), 2 the peer had a path in at least one second
   * (a null `rtt` there means it was not probed, not that it was down).
   */
  reach: (0 | 1 | 2)[];
}

export interface NodeSummary {
  /** Bytes per second, averaged over the seconds of the window that traffic covers. */
  rxRate: number;
  txRate: number;
  /** Total bytes in the window. */
  rxBytes: number;
  txBytes: number;
  /**
   * The session-count gauge over the window: a value holds until the next one, so seconds without
   * a sample take the previous value. Null when no value is known for any second of the window.
   */
  sessions: { last: number; min: number; max: number; mean: number } | null;
  /** Errors counted in the window. */
  errors: number;
}

export interface NodeSeries {
  /** Unix second at which each point's bucket starts. */
  t: number[];
  /** Bytes per second, averaged over the bucket. */
  rx: number[];
  tx: number[];
  /** Mean of the session gauge over the bucket (carried forward); null when unknown. */
  sessions: (number | null)[];
  /** Errors counted in the bucket (a sum, not a rate). */
  errors: number[];
}
