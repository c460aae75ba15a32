// Build time only (bin/bundle-cli.mjs through main/cli/launch.ts writeCache): run what a node's start
// runs until its first packets pass, so that V8's code cache of the CLI bundle holds the bytecode of
// those functions and a start does not compile them lazily (docs/mesh.md "The first packets").
// Nothing here touches the network, a TUN device, privileges or files outside a temporary directory:
// three members talk through an in-memory queue. P starts the network and relays (a bare Device and
// Mesh); A and B are nodes as `peermesh up` makes them (flags parsed, state directory and keys read,
// PeerMeshNode) that join through P; then A sends B a packet.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Device, type Endpoint } from '../core/device';
import { parseIp } from '../core/ip';
import { Mesh, networkKeys } from '../core/mesh';
import type { Logger } from '../node/log';
import { PeerMeshNode } from '../node/node';
import { buildUpConfigs } from './commands/up';

const SECRET = 'warm-up network secret';

interface Member {
  device: Device;
  mesh: Mesh;
  at: Endpoint;
}

type Send = (buf: Buffer, start: number, len: number, to: Endpoint) => void;

/** An IPv4 ICMP echo request from src to dst, 84 bytes (what the lab's first ping is). */
function echoRequest(src: string, dst: string): Buffer {
  const b = Buffer.alloc(84);
  b.set([0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1]); // version 4, 20-byte header, length, TTL, ICMP
  b.set(parseIp(src)!.bytes, 12);
  b.set(parseIp(dst)!.bytes, 16);
  b[20] = 8; // echo request
  return b;
}

/** P: a bare Device and Mesh that starts the network and relays. */
function relay(send: Send, now: number, wallNow: number, log: Logger): Member {
  const privateKey = new Uint8Array(randomBytes(32));
  const m = { at: { address: '198.18.0.1', port: 51820 } } as Member;
  m.device = new Device(
    { send, writeTun: () => {}, event: (e) => log.debug(`warm-up: ${e.type}`) },
    {
      privateKey,
      random: (n) => randomBytes(n),
      now,
      wallNow,
      ringSize: 1 << 16,
      delegate: {
        meshMessage: (buf, len, from) => {
          m.mesh.handleDatagram(buf, len, from);
          return true;
        },
        noRoute: () => false,
        unknownPeer: (key) => m.mesh.unknownPeer(key),
        handshakeStarting: (peer) => m.mesh.handshakeStarting(peer),
      },
    },
  );
  const network = networkKeys('warm', new TextEncoder().encode(SECRET));
  m.mesh = new Mesh(
    m.device,
    { send, writeTun: () => {}, event: () => {} },
    {
      network,
      name: 'p',
      bootstrap: [],
      privateKey,
      relay: true,
      random: (n) => randomBytes(n),
      now,
      wallNow,
    },
    (e) => log.debug(`warm-up: ${e.type}`),
  );
  return m;
}

/** A or B: the node `peermesh up` makes from these flags, its datagrams into the queue. */
async function member(dir: string, name: string, send: Send, log: Logger): Promise<PeerMeshNode> {
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const [cfg] = buildUpConfigs(
    ['--state-dir', join(dir, name), '--network', 'warm', '--secret-file', join(dir, 'secret')]
      .concat(['--private-key-file', keyFile, '--bootstrap', '198.18.0.1:51820', '--listen', '0'])
      .concat(['--name', name, '--hosts-file', 'none']),
  );
  return PeerMeshNode.warmUp(cfg, log, send);
}

/**
 * The three members in memory, virtual time (2 s of it), datagrams delivered in order. Returns how
 * many bytes B received from A through its tunnel (128, the 84-byte ping sealed: the path to the
 * first packet ran to its end).
 */
export async function warmUpStart(log: Logger): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'peermesh-warm-up-'));
  const nodes: PeerMeshNode[] = [];
  try {
    writeFileSync(join(dir, 'secret'), `${SECRET}\n`, { mode: 0o600 });
    let now = performance.now();
    const wallStart = Date.now() - now;
    const queue: { to: Endpoint; from: Endpoint; bytes: Buffer }[] = [];
    const sender =
      (from: Endpoint): Send =>
      (buf, start, len, to) =>
        void queue.push({ to, from, bytes: Buffer.from(buf.subarray(start, start + len)) });
    const at = (i: number) => ({ address: `198.18.0.${i}`, port: 51820 });
    const p = relay(sender(at(1)), now, wallStart + now, log);
    for (const [i, name] of ['a', 'b'].entries()) nodes.push(await member(dir, name, sender(at(i + 2)), log));
    const members = [p, ...nodes.map((n, i) => ({ device: n.device, mesh: n.mesh!, at: at(i + 2) }))];
    const setTime = (m: Member) => {
      m.device.setTime(now, wallStart + now);
      m.mesh.setTime(now, wallStart + now);
    };
    const deliver = () => {
      for (let i = 0; i < 10_000 && queue.length > 0; i++) {
        const d = queue.shift()!;
        const m = members.find((x) => x.at.address === d.to.address);
        if (!m) continue;
        setTime(m);
        m.device.handleDatagram(d.bytes, d.bytes.length, d.from);
      }
    };
    for (const m of members) {
      setTime(m);
      m.device.connectAll();
      m.mesh.setLocalEndpoints([m.at]);
      m.mesh.tick();
    }
    const [a, b] = nodes;
    for (let t = 0; t < 20; t++) {
      deliver();
      if (t === 3) {
        const ping = echoRequest(a.addresses[0].split('/')[0], b.addresses[0].split('/')[0]);
        setTime(members[1]);
        a.device.handleTunPacket(ping, 0, ping.length);
      }
      now += 100;
      for (const m of members) {
        setTime(m);
        m.device.tick();
        m.mesh.tick();
      }
    }
    deliver();
    const fromA = [...b.device.allPeers()].find((x) => x.keyB64 === a.device.publicKeyB64);
    for (const n of nodes) n.status();
    return fromA?.stats.rxBytes ?? 0;
  } finally {
    for (const n of nodes) await n.stop('warm-up done');
    rmSync(dir, { recursive: true, force: true });
  }
}
