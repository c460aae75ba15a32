// A bare data plane process for namespace tests and the benchmark: opens a TUN device (test-only
// opener, with IFF_VNET_HDR when asked) and a UDP socket, starts the native data plane with one peer,
// then answers line commands on stdin:
//   stats              -> one JSON line: the addon's stats, items handed to JS, CPU time, RSS
//   send HEX ADDR PORT -> sends the bytes through the data plane's socket (as JS sends handshakes)
//   reconf N           -> N setPeer calls (same configuration); the longest one's time in ms
//   session JSON       -> setSession for peer 1 (keys in hex); unsession INDEX -> removeSession
//   seal HEX           -> the transport message for that IP packet (not sent); inject HEX -> inject()
//   setxid             -> setgid(own gid): glibc signals every thread (as the core's privilege drop)
// It prints "ready" once the data plane runs, and exits on SIGTERM or when stdin closes.
//
// Session keys come either from the config (`session`: installed by hand, no handshake) or from a
// TypeScript Device (`device`) that does the WireGuard handshake in process: the addon hands it what
// it cannot handle (handshake datagrams, packets without a session) and the keys the Device derives
// are installed in the addon. This is the shape of the planned integration, reduced to one peer.
import { randomBytes } from 'node:crypto';
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Device, type Peer } from '../../main/core/device';
import { parseCidr } from '../../main/core/ip';
import type { Keypair } from '../../main/core/keypair';
import { type DataplaneAddon, type DpHandle, type DpItem, loadDataplane } from '../../main/io/dataplane';

export interface DataplaneNodeConfig {
  tun: string;
  vnetHdr: boolean;
  gso: boolean;
  gro: boolean;
  coalesce: boolean;
  port: number;
  peer: { endpoint: { address: string; port: number }; allowedIps: string[] };
  session?: {
    localIndex: number;
    remoteIndex: number;
    sendKey: string;
    recvKey: string;
    isInitiator: boolean;
  };
  /** Base64 keys: ours (private) and the peer's (public). */
  device?: { privateKey: string; peerPublicKey: string };
}

/**
 * The Device keeps sending the odd transport message itself (staged packets right after a handshake,
 * keepalives from its timers) with its own counter; the addon's counter for the same keys starts this
 * far above, so no (key, counter) pair is ever used twice. The integration replaces these sends with
 * addon calls.
 */
const COUNTER_SPLIT = 1 << 24;

/** A Device that handshakes for the addon and installs the keys it derives there (peer id 1). */
function attachDevice(dp: DataplaneAddon, h: DpHandle, cfg: DataplaneNodeConfig, tunFd: number) {
  const d = cfg.device!;
  const installed = new Set<number>();
  const vnet = Buffer.alloc(cfg.vnetHdr ? 10 : 0);
  let peer: Peer;
  const install = (kp: Keypair | null, slot: 'current' | 'next') => {
    if (!kp || installed.has(kp.localIndex)) return;
    dp.setSession(h, 1, {
      localIndex: kp.localIndex,
      remoteIndex: kp.remoteIndex,
      sendKey: kp.sendKey,
      recvKey: kp.recvKey,
      sendCounter: kp.sendCounter + COUNTER_SPLIT,
      isInitiator: kp.isInitiator,
      slot,
    });
    installed.add(kp.localIndex);
  };
  const device = new Device(
    {
      send: (buf, start, len, to) => dp.send(h, Buffer.from(buf.subarray(start, start + len)), to),
      writeTun: (buf, start, end) => writeSync(tunFd, Buffer.concat([vnet, buf.subarray(start, end)])),
      event: (e) => {
        if (e.type !== 'handshake') return;
        install(peer.current, 'current');
        install(peer.next, 'next');
        // Sessions the Device retired leave the addon too.
        const live = new Set([peer.current, peer.previous, peer.next].map((k) => k?.localIndex));
        for (const i of installed) {
          if (live.has(i)) continue;
          dp.removeSession(h, i);
          installed.delete(i);
        }
      },
    },
    {
      privateKey: Buffer.from(d.privateKey, 'base64'),
      random: (n) => randomBytes(n),
      now: performance.now(),
      wallNow: Date.now(),
    },
  );
  peer = device.addPeer({
    publicKey: Buffer.from(d.peerPublicKey, 'base64'),
    endpoint: cfg.peer.endpoint,
    allowedIps: cfg.peer.allowedIps.map((c) => parseCidr(c)!),
  });
  setInterval(() => {
    device.setTime(performance.now(), Date.now());
    device.tick();
  }, 100).unref();
  return (items: DpItem[]) => {
    device.setTime(performance.now(), Date.now());
    for (const i of items) {
      if (i.kind === 'datagram') device.handleDatagram(i.data, i.data.length, i.from!);
      else device.handleTunPacket(i.data, 0, i.data.length);
    }
  };
}

function main(): void {
  const cfg = JSON.parse(process.argv[2]) as DataplaneNodeConfig;
  const dp = loadDataplane();
  if (!dp) throw new Error('data plane addon not loadable');
  const tunFd = dp.openTun(cfg.tun, cfg.vnetHdr);
  const udpFd = dp.openUdp('0.0.0.0', cfg.port);
  const items: Record<string, number> = {};
  // onEvents calls and their bits; calls that carried traffic bits alone (the addon must not wake JS
  // for those); the bits collected by polling at a 100 ms tick, as a node does.
  const events = { calls: 0, bits: 0, routineOnly: 0, polledBits: 0 };
  const ROUTINE = 1 | 2 | 4 | 8; // DATA_SENT, DATA_RECEIVED, AUTH_SENT, AUTH_RECEIVED
  let toDevice: ((got: DpItem[]) => void) | null = null;
  const countItems = (got: DpItem[]) => {
    for (const i of got) items[`${i.kind}:${i.reason}`] = (items[`${i.kind}:${i.reason}`] ?? 0) + 1;
  };
  const h = dp.create(tunFd, udpFd, {
    gso: cfg.gso,
    gro: cfg.gro,
    coalesce: cfg.coalesce,
    onEvents: (got, evs) => {
      events.calls++;
      for (const e of evs) events.bits |= e.events;
      if (got.length === 0 && evs.every((e) => (e.events & ~ROUTINE) === 0)) events.routineOnly++;
      countItems(got);
      toDevice?.(got);
    },
  });
  dp.setPeer(h, 1, cfg.peer.endpoint, cfg.peer.allowedIps);
  if (cfg.session) {
    dp.setSession(h, 1, {
      localIndex: cfg.session.localIndex,
      remoteIndex: cfg.session.remoteIndex,
      sendKey: Buffer.from(cfg.session.sendKey, 'hex'),
      recvKey: Buffer.from(cfg.session.recvKey, 'hex'),
      isInitiator: cfg.session.isInitiator,
    });
  }
  if (cfg.device) toDevice = attachDevice(dp, h, cfg, tunFd);
  const poll = () => {
    const r = dp.poll(h);
    if (!r) return;
    for (const e of r[1]) events.polledBits |= e.events;
    countItems(r[0]);
    toDevice?.(r[0]);
  };
  setInterval(poll, 100);
  const stop = () => {
    dp.close(h);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, ...args] = line.trim().split(/\s+/);
    if (cmd === 'stats') {
      poll();
      const cpu = process.cpuUsage();
      const out = {
        ...dp.stats(h),
        items,
        events,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssMb: process.memoryUsage().rss / 2 ** 20,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else if (cmd === 'setxid') {
      process.setgid?.(process.getgid?.() ?? 0);
      process.stdout.write('{}\n');
    } else if (cmd === 'reconf') {
      // Configuration calls while traffic flows: how long each waits for the loops' read locks.
      let max = 0;
      for (let i = 0; i < Number(args[0]); i++) {
        const t0 = performance.now();
        dp.setPeer(h, 1, cfg.peer.endpoint, cfg.peer.allowedIps);
        max = Math.max(max, performance.now() - t0);
      }
      process.stdout.write(`${JSON.stringify({ maxMs: max })}\n`);
    } else if (cmd === 'session') {
      // session JSON: install keys (hex) as in DpSession; unsession INDEX removes one.
      const j = JSON.parse(args.join(' '));
      dp.setSession(h, 1, {
        ...j,
        sendKey: Buffer.from(j.sendKey, 'hex'),
        recvKey: Buffer.from(j.recvKey, 'hex'),
      });
      process.stdout.write('{"ok":true}\n');
    } else if (cmd === 'unsession') {
      process.stdout.write(`${JSON.stringify({ ok: dp.removeSession(h, Number(args[0])) })}\n`);
    } else if (cmd === 'seal') {
      const r = dp.encrypt(h, Buffer.from(args[0], 'hex'));
      process.stdout.write(`${JSON.stringify('datagram' in r ? { hex: r.datagram.toString('hex') } : r)}\n`);
    } else if (cmd === 'inject') {
      process.stdout.write(`${JSON.stringify({ err: dp.inject(h, Buffer.from(args[0], 'hex')) })}\n`);
    } else if (cmd === 'send') {
      const err = dp.send(h, Buffer.from(args[0], 'hex'), { address: args[1], port: Number(args[2]) });
      process.stdout.write(`${JSON.stringify({ sent: err })}\n`);
    }
  });
  rl.on('close', stop);
  process.stdout.write('ready\n');
}

main();
