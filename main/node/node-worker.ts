// The node in a worker thread: all packet work (UDP, TUN, crypto, mesh) runs here, so the thread that
// serves the UI, the tray and the window never waits for it. Started by NodeManager's worker host
// (manager/worker-host.ts); speaks the small message protocol below over the worker port. Nothing
// here trusts that its parent sent well-formed messages: a bad one is answered with an error, never
// a crash.
import { parentPort } from 'node:worker_threads';
import type { MethodName } from '../control/api';
import { respond, run, serveTable } from '../control/dispatch';
import type { NodeConfig } from './config';
import { collectBuffersPeriodically } from './gc';
import { Logger } from './log';
import type { PeerMeshNode } from './node';
import { type FromWorker, PROMETHEUS, type ToWorker } from './worker-protocol';

collectBuffersPeriodically();

const port = parentPort;
if (!port) throw new Error('node-worker.ts runs only as a worker thread');

let node: PeerMeshNode | null = null;
let starting = false;
const post = (m: FromWorker) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  if (typeof m !== 'object' || m === null) return;
  if (m.t === 'start') void start(m.cfg, m.metrics, m.stderr !== false);
  else if (m.t === 'call') void call(m.id, m.method, m.params);
  else if (m.t === 'stop') void stop(String(m.reason ?? 'stopped'));
});

async function start(cfg: NodeConfig, metrics: unknown, stderr: boolean): Promise<void> {
  if (node || starting) return post({ t: 'fail', message: 'the node is already running' });
  starting = true;
  // Every line goes to the manager (the Logs view); to stderr too unless the manager writes it there.
  const log = new Logger(
    cfg.logLevel,
    stderr ? (l) => process.stderr.write(l) : () => {},
    (level, message, time) => post({ t: 'log', level, message, time }),
  );
  try {
    const { PeerMeshNode } = await import('./node');
    const n = await PeerMeshNode.start(cfg, log);
    node = n;
    if (metrics) log.debug(`metrics: ${n.metrics.restore(metrics)} peers' history kept from the last run`);
    n.onApiEvent = (event) => post({ t: 'event', event });
    const s = n.status();
    post({
      t: 'up',
      info: {
        publicKey: s.publicKey,
        listenPort: s.listenPort,
        interface: s.interface,
        addresses: s.addresses,
      },
    });
    void n.stopped.then((reason) => {
      node = null;
      let kept: ReturnType<typeof n.metrics.dump> | undefined;
      try {
        kept = n.metrics.dump();
      } catch {
        kept = undefined; // the measurements are lost, the stop is not
      }
      post({ t: 'down', reason, metrics: kept });
    });
  } catch (e) {
    post({ t: 'fail', message: (e as Error).message });
  } finally {
    starting = false;
  }
}

/**
 * One Control API call from the manager: checked against the contract again (the worker trusts no
 * message) and answered through the same dispatcher and error mapping as the socket and WebSocket.
 */
async function call(id: number, method: MethodName | typeof PROMETHEUS, params: unknown): Promise<void> {
  if (typeof id !== 'number') return;
  const n = node;
  if (!n) return post({ t: 'error', id, code: 'failed', message: 'not connected' });
  const r =
    method === PROMETHEUS
      ? await run(id, () => n.prometheusText())
      : await respond({ id, method, params }, serveTable(n.handlers));
  if ('error' in r) post({ t: 'error', id, code: r.error.code, message: r.error.message });
  else post({ t: 'result', id, result: r.result });
}

async function stop(reason: string): Promise<void> {
  if (!node) return post({ t: 'down', reason });
  await node.stop(reason); // 'down' follows from node.stopped
}
