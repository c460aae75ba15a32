// A running node's clocks: the core's tick (the device's and the mesh's timers), the first second's
// bootstrap retries, the machine's addresses (roaming), the metrics second (samples, who is online,
// the member features' sync), the hosts file's check and retries of endpoints given as names. Each
// callback sets the core's time first: the core reads no clock of its own.
import { performance } from 'node:perf_hooks';
import type { Device } from '../core/device';
import type { Mesh } from '../core/mesh';
import type { NodeEvents } from './events';
import { lanBroadcasts, localEndpoints, type PendingEndpoints } from './host-net';
import type { Logger } from './log';
import type { MemberFeatures } from './member-features';
import type { MetricsFeed } from './metrics-feed';
import type { NativePath } from './native-path';
import type { TimestampsFile } from './timestamps-file';

/** How often the timers of the core run, the metrics sample and the machine's addresses are read. */
const TICK_MS = 100;
/** The first second of a mesh node: the bootstrap hellos' retries are checked this often (Mesh.bootstrapEarly). */
const BOOTSTRAP_EARLY_MS = 1000;
const BOOTSTRAP_EARLY_EVERY_MS = 25;
const METRICS_MS = 1000;
const ADDRESS_CHECK_MS = 2_000;
const RESOLVE_RETRY_MS = 15_000;
/**
 * The hosts file's block is checked this often and written again when it is not what it should be:
 * another program rewrote the file without it, or two nodes (two networks in two processes) wrote
 * it at the same moment and the later one's text lacked the earlier one's block.
 */
const NAMES_CHECK_MS = 10_000;
/** A UI read peers or metrics this recently: someone watches (RTT probes every second). */
const WATCHED_MS = 3000;

/** What the clocks drive (the node's parts). */
export interface ClockHost {
  readonly log: Logger;
  readonly device: Device;
  readonly mesh: Mesh | null;
  readonly native: NativePath | null;
  readonly udp: { readonly port: number };
  readonly metrics: MetricsFeed;
  readonly events: NodeEvents;
  readonly member: MemberFeatures | null;
  readonly pending: PendingEndpoints;
  readonly timestamps: TimestampsFile;
  /** When a UI last read peers or metrics. */
  readonly lastWatched: number;
}

/**
 * Connect to the peers, send the first hellos and start the clocks; returns the timers (the node
 * clears them when it stops). `ifname` is the TUN device's (never an endpoint of ours);
 * `refreshNames` writes members' names into the hosts file again where the block is not as it should
 * be (nothing is written when it is).
 */
export function startClocks(n: ClockHost, ifname: string, refreshNames: () => void): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, f: () => void) => {
    timers.push(
      setInterval(() => {
        try {
          f();
        } catch (e) {
          n.log.error(`timer failed: ${(e as Error).stack ?? e}`);
        }
      }, ms),
    );
  };
  n.device.setTime(performance.now(), Date.now());
  n.device.connectAll();
  if (n.mesh) {
    const lookAround = () => {
      n.mesh?.setLocalEndpoints(localEndpoints(n.udp.port, ifname));
      n.mesh?.setLanTargets(lanBroadcasts(n.udp.port, ifname));
    };
    n.mesh.setTime(performance.now(), Date.now());
    lookAround();
    // The first hellos (bootstrap, LAN) go now, not at the first tick (TICK_MS later), and their
    // first retries at their time until a member answers (a bootstrap node started with us may
    // listen a few ms after our first hello).
    n.mesh.tick();
    const started = performance.now();
    const early = setInterval(() => {
      n.mesh?.setTime(performance.now(), Date.now());
      if (!n.mesh?.bootstrapEarly() || performance.now() - started > BOOTSTRAP_EARLY_MS) clearInterval(early);
    }, BOOTSTRAP_EARLY_EVERY_MS);
    timers.push(early);
    every(NAMES_CHECK_MS, refreshNames);
    // Roaming: when the machine's addresses change, members learn the new ones within seconds.
    every(ADDRESS_CHECK_MS, () => {
      n.mesh?.setTime(performance.now(), Date.now());
      lookAround();
    });
  }
  every(TICK_MS, () => {
    const now = performance.now();
    const wall = Date.now();
    n.device.setTime(now, wall);
    n.native?.pollEvents(); // the data plane's traffic bits, for the timers the tick runs
    n.device.tick();
    n.mesh?.setTime(now, wall);
    n.mesh?.tick();
  });
  if (n.pending.unresolved.size > 0) every(RESOLVE_RETRY_MS, () => void n.pending.resolve());
  every(METRICS_MS, () => {
    // Someone watches: a UI read peers or metrics in the last 3 s (or `peermesh ping` runs).
    n.metrics.watchers = Date.now() - n.lastWatched < WATCHED_MS ? 1 : 0;
    // the mesh's clock is otherwise only as fresh as the last tick: RTT probes need it exact
    n.mesh?.setTime(performance.now(), Date.now());
    n.native?.syncStats(); // the data plane's traffic into the peers' stats
    n.metrics.sample();
    n.events.updateOnline();
    n.member?.second(performance.now());
    n.timestamps.save();
  });
  return timers;
}
