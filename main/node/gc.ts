// Periodic full garbage collection for a node process or worker (see collectBuffersPeriodically).
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Receive buffers that outlive a young-generation collection are freed only by a full one, which V8
 * starts late when the heap itself stays small (8 MB here): under sustained load the process then
 * holds tens of MB of dead buffers (measured by bench/soak.ts). A concurrent full collection every
 * 10 s (a few ms of work on this small heap, off the packet path) keeps that bounded.
 * PEERMESH_GC_INTERVAL_MS=0 turns it off.
 */
export function collectBuffersPeriodically(): void {
  const ms = Number(process.env.PEERMESH_GC_INTERVAL_MS ?? 10_000);
  if (!(ms > 0)) return;
  v8.setFlagsFromString('--expose-gc');
  // The context that hands out gc() is made at the first collection, not during the node's start.
  let gc: ((o?: { type: string; execution: string }) => unknown) | null = null;
  setInterval(() => {
    gc ??= vm.runInNewContext('gc') as (o?: { type: string; execution: string }) => unknown;
    gc({ type: 'major', execution: 'async' });
  }, ms).unref();
}
