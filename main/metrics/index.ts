// Telemetry: per-second time series of every peer and of the node over the last hour, their
// summaries (RTT percentiles, loss, rates) and the RTT probe policy. Sans-IO like main/core (no
// clock, timer, socket or file); it sits beside the core and below the node: it may import core
// types, never io, node, control or app, and main/node/metrics-feed.ts feeds it.
//
//   types.ts          the shapes the Control API returns (the renderer imports these)
//   ring.ts           the one per-second ring every series is stored in; window and bucket arithmetic
//   counters.ts       cumulative counters to per-second deltas
//   percentiles.ts    nearest-rank percentiles on a shared sort scratch
//   peer-series.ts    PeerMetrics: RTT, probes, traffic and path of one peer
//   node-series.ts    NodeMetrics: throughput, sessions gauge, errors of the node
//   registry.ts       MetricsRegistry: PeerMetrics by peer id, bounded, LRU eviction
//   probe-policy.ts   how often to probe, and the probes in flight

export { CounterBase } from './counters';
export { NodeMetrics } from './node-series';
export {
  MAX_PATH_CHANGES,
  PATH_DIRECT,
  PATH_RELAYED,
  PATH_UNKNOWN,
  PeerMetrics,
  type PeerMetricsDump,
  REACH_NO_PATH,
  REACH_NO_RECORD,
  REACH_PATH,
} from './peer-series';
export { heapSort, nearestRank, SCRATCH_BYTES } from './percentiles';
export {
  PROBE_IDLE_AFTER_SEC,
  PROBE_INTERVAL_DEFAULT_MS,
  PROBE_INTERVAL_IDLE_MS,
  PROBE_INTERVAL_WATCHED_MS,
  PROBE_TIMEOUT_MS,
  RttProbes,
  rttProbeInterval,
} from './probe-policy';
export { DEFAULT_MAX_PEERS, MetricsRegistry } from './registry';
export { forEachBucket, HISTORY_SECONDS, queryWindow, SecondRing, secondOf } from './ring';
export type * from './types';
