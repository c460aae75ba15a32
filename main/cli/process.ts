// What a command does with its process: fail with one line and an exit code, stop on signals (a
// second signal exits at once), tune the heap of a process that runs a node's data path.

import v8 from 'node:v8';
import { collectBuffersPeriodically } from '../node/gc';

/** One line on stderr ("peermesh: ...") and exit with `code` (1 runtime, 2 usage or config). */
export function fail(msg: string, code: number): never {
  process.stderr.write(`peermesh: ${msg}\n`);
  process.exit(code);
}

/**
 * Calls `stop` on the first SIGINT, SIGTERM or SIGHUP; on a second one, calls `beforeExit` and exits
 * with code 1 without waiting for the stop to finish.
 */
export function onStopSignals(stop: (sig: string) => void, beforeExit?: (sig: string) => void): void {
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => {
      if (++signals > 1) {
        beforeExit?.(sig);
        process.exit(1);
      }
      stop(sig);
    });
}

/**
 * A node allocates one short-lived Buffer per received datagram. V8's default young generation
 * grows to ~48 MB under that rate, and the receive buffers it holds wait for it: a small
 * semi-space collects them sooner and keeps peak RSS flat (measured in bench/), at no
 * measurable throughput cost. Call before the heap grows; PEERMESH_SEMI_SPACE_MB overrides.
 */
export function tuneHeapForPackets(): void {
  v8.setFlagsFromString(`--max-semi-space-size=${Number(process.env.PEERMESH_SEMI_SPACE_MB) || 1}`);
  collectBuffersPeriodically();
}
