// A bare data plane process for namespace tests and the benchmark: opens a TUN device (test-only
// opener) and a UDP socket, starts the native data plane with one peer and hand-installed session keys
// (no handshake), then answers line commands on stdin:
//   stats            -> one JSON line: the addon's stats, items handed to JS, CPU time of the process
//   send HEX ADDR PORT -> sends the bytes through the data plane's socket (as JS sends handshakes)
// It prints "ready" once the data plane runs, and exits on SIGTERM or when stdin closes.
import { createInterface } from 'node:readline';
import { loadDataplane } from '../../main/io/dataplane';

export interface DataplaneNodeConfig {
  tun: string;
  vnetHdr: boolean;
  gso: boolean;
  gro: boolean;
  coalesce: boolean;
  port: number;
  peer: { endpoint: { address: string; port: number }; allowedIps: string[] };
  session: {
    localIndex: number;
    remoteIndex: number;
    sendKey: string;
    recvKey: string;
    isInitiator: boolean;
  };
}

function main(): void {
  const cfg = JSON.parse(process.argv[2]) as DataplaneNodeConfig;
  const dp = loadDataplane();
  if (!dp) throw new Error('data plane addon not loadable');
  const tunFd = dp.openTun(cfg.tun, cfg.vnetHdr);
  const udpFd = dp.openUdp('0.0.0.0', cfg.port);
  const items: Record<string, number> = {};
  const h = dp.create(tunFd, udpFd, {
    gso: cfg.gso,
    gro: cfg.gro,
    coalesce: cfg.coalesce,
    onEvents: (got) => {
      for (const i of got) items[`${i.kind}:${i.reason}`] = (items[`${i.kind}:${i.reason}`] ?? 0) + 1;
    },
  });
  dp.setPeer(h, 1, cfg.peer.endpoint, cfg.peer.allowedIps);
  dp.setSession(h, 1, {
    localIndex: cfg.session.localIndex,
    remoteIndex: cfg.session.remoteIndex,
    sendKey: Buffer.from(cfg.session.sendKey, 'hex'),
    recvKey: Buffer.from(cfg.session.recvKey, 'hex'),
    isInitiator: cfg.session.isInitiator,
  });
  const stop = () => {
    dp.close(h);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, ...args] = line.trim().split(/\s+/);
    if (cmd === 'stats') {
      const cpu = process.cpuUsage();
      const out = {
        ...dp.stats(h),
        items,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssMb: process.memoryUsage().rss / 2 ** 20,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else if (cmd === 'send') {
      const err = dp.send(h, Buffer.from(args[0], 'hex'), { address: args[1], port: Number(args[2]) });
      process.stdout.write(`${JSON.stringify({ sent: err })}\n`);
    }
  });
  rl.on('close', stop);
  process.stdout.write('ready\n');
}

main();
