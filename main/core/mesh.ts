// Serverless membership, first part: a network is a name plus a secret. A node that knows both and
// the address of any one member joins without knowing that member's key, learns the other members
// from it, and introduces itself to each, so a chain of joins becomes a full mesh.
//
// Discovery messages ride on the same UDP port as WireGuard, with a type byte WireGuard does not use
// (0x50). Their body is sealed with XChaCha20-Poly1305 under a key derived from the network name and
// secret, so a sender without the secret gets no answer at all: a scan cannot tell that we listen.
// Replays are refused (timestamp window + nonce cache). Members then talk through ordinary
// WireGuard sessions (Device), whose peers this module adds.
//
// Sans-IO like the Device: time is set by the caller, output goes through the same DeviceIO.

import {
  MESH_CLOCK_SKEW,
  MESH_HELLO_REFRESH,
  MESH_HELLO_RETRY,
  MESH_KEEPALIVE,
  MESH_MAX_MEMBERS_PER_WELCOME,
  MESH_MAX_MESSAGE,
  MESH_NONCE_CACHE,
  MSG_MESH,
} from './constants';
import { xopen, xseal } from './crypto/aead';
import { Blake2s } from './crypto/blake2s';
import type { Device, DeviceIO, Endpoint } from './device';
import { type Cidr, formatIp, parseCidr } from './ip';

const HEADER = 4;
const NONCE = 24;
const TAG = 16;

const enc = new TextEncoder();

function hash(...parts: (string | Uint8Array)[]): Uint8Array {
  const h = new Blake2s(32);
  for (const p of parts) h.update(typeof p === 'string' ? enc.encode(p) : p);
  return h.digest();
}

export interface NetworkKeys {
  name: string;
  /** Key sealing discovery messages. */
  discoveryKey: Uint8Array;
  /** Public identifier of the network (hash), used for address derivation. */
  id: Uint8Array;
}

export function networkKeys(name: string, secret: Uint8Array): NetworkKeys {
  return {
    name,
    discoveryKey: hash('peermesh discovery v1', name, secret),
    id: hash('peermesh network id v1', name, secret),
  };
}

/**
 * A member's stable overlay addresses, the same on every node: IPv4 in 100.64.0.0/10 and an IPv6
 * ULA whose /48 comes from the network. Collisions in the 22-bit IPv4 space are possible in large
 * networks (about 0.1 % for 100 members); resolving them is listed in docs/mesh.md.
 */
export function memberAddresses(net: NetworkKeys, publicKey: Uint8Array): { v4: string; v6: string } {
  const h = hash('peermesh address v1', net.id, publicKey);
  let host = ((h[0] << 16) | (h[1] << 8) | h[2]) & 0x3fffff;
  if (host === 0) host = 1;
  if (host === 0x3fffff) host = 0x3ffffe;
  const v4 = new Uint8Array([100, 64 | (host >>> 16), (host >>> 8) & 0xff, host & 0xff]);
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  v6.set(net.id.subarray(0, 5), 1); // ULA global ID (RFC 4193)
  v6.set(h.subarray(8, 16), 8); // interface ID from the key
  return { v4: formatIp(v4), v6: formatIp(v6) };
}

export const OVERLAY_V4_PREFIX = 10;
export const OVERLAY_V6_PREFIX = 48;

interface MemberInfo {
  key: string; // base64 public key
  name: string;
  endpoint: Endpoint | null;
  lastSeen: number; // monotonic ms, 0 = only heard of
}

type Wire =
  | { t: 'hello'; ts: number; key: string; name: string; seen: string }
  | {
      t: 'welcome';
      ts: number;
      key: string;
      name: string;
      seen: string;
      members: [string, string, string][];
    };

export type MeshEvent =
  | { type: 'member'; key: string; name: string; endpoint: Endpoint | null }
  | { type: 'public-endpoint'; endpoint: string };

export interface MeshOptions {
  network: NetworkKeys;
  name: string;
  bootstrap: Endpoint[];
  random: (n: number) => Uint8Array;
  now: number;
  wallNow: number;
}

function endpointText(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

function parseEndpointText(s: string): Endpoint | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([0-9.]+):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || !parseCidr(m[1])) return null;
  return { address: m[1], port };
}

export class Mesh {
  readonly members = new Map<string, MemberInfo>();
  readonly counters = { discoveryIn: 0, discoveryRejected: 0, replays: 0 };
  private now: number;
  private wallNow: number;
  // Nonces of accepted messages, in two generations so the cache is bounded yet never forgets a
  // nonce younger than the previous rotation.
  private nonces = new Set<string>();
  private oldNonces = new Set<string>();
  private nextHello: number;
  /** Our endpoint as the last member saw it (public address behind NAT). */
  publicEndpoint: string | null = null;

  constructor(
    private readonly device: Device,
    private readonly io: DeviceIO,
    private readonly opts: MeshOptions,
    private readonly onEvent: (e: MeshEvent) => void = () => {},
  ) {
    this.now = opts.now;
    this.wallNow = opts.wallNow;
    this.nextHello = opts.now;
  }

  /** Overlay addresses of a member (derived from its key, the same on every node). */
  addressesOf(keyB64: string): { v4: string; v6: string } {
    return memberAddresses(this.opts.network, Buffer.from(keyB64, 'base64'));
  }

  setTime(now: number, wallNow: number): void {
    this.now = now;
    this.wallNow = wallNow;
  }

  get selfKey(): string {
    return this.device.publicKeyB64;
  }

  /** A datagram whose first byte is MSG_MESH. Anything not sealed with our network key is dropped silently. */
  handleDatagram(buf: Uint8Array, len: number, from: Endpoint): void {
    this.counters.discoveryIn++;
    const msg = this.open(buf.subarray(0, len));
    if (!msg) {
      this.counters.discoveryRejected++;
      return;
    }
    if (msg.key === this.selfKey) return;
    this.learn(msg.key, msg.name, from, true);
    const seen = msg.seen;
    if (seen && seen !== this.publicEndpoint) {
      this.publicEndpoint = seen;
      this.onEvent({ type: 'public-endpoint', endpoint: seen });
    }
    if (msg.t === 'hello') {
      this.send('welcome', from);
    } else {
      for (const [key, name, ep] of msg.members) {
        if (key === this.selfKey || this.members.get(key)?.lastSeen) continue;
        const endpoint = parseEndpointText(ep);
        this.learn(key, name, endpoint, false);
        if (endpoint) this.send('hello', endpoint); // introduce ourselves: full mesh
      }
    }
  }

  /** Periodic work: hello to the bootstrap addresses (and members) until answered, then to refresh. */
  tick(): void {
    if (this.now < this.nextHello) return;
    const answered = [...this.members.values()].some((m) => m.lastSeen > 0);
    this.nextHello = this.now + (answered ? MESH_HELLO_REFRESH : MESH_HELLO_RETRY);
    for (const b of this.opts.bootstrap) this.send('hello', b);
    if (answered) for (const m of this.members.values()) if (m.endpoint) this.send('hello', m.endpoint);
  }

  private learn(key: string, name: string, endpoint: Endpoint | null, direct: boolean): void {
    if (!/^[A-Za-z0-9+/]{43}=$/.test(key)) return;
    let m = this.members.get(key);
    const isNew = !m;
    if (!m) {
      m = { key, name, endpoint, lastSeen: 0 };
      this.members.set(key, m);
    }
    m.name = name.slice(0, 63);
    if (direct) {
      m.lastSeen = this.now;
      m.endpoint = endpoint;
    } else if (!m.endpoint) {
      m.endpoint = endpoint;
    }
    const publicKey = Buffer.from(key, 'base64');
    const addrs = memberAddresses(this.opts.network, publicKey);
    const peer = this.device.getPeer(key);
    if (!peer) {
      this.device.addPeer({
        publicKey,
        endpoint: m.endpoint,
        allowedIps: [parseCidr(`${addrs.v4}/32`)!, parseCidr(`${addrs.v6}/128`)!] as Cidr[],
        persistentKeepalive: MESH_KEEPALIVE,
      });
    } else if (!peer.endpoint && m.endpoint) {
      peer.endpoint = m.endpoint;
    }
    if (isNew) this.onEvent({ type: 'member', key, name: m.name, endpoint: m.endpoint });
  }

  private send(t: 'hello' | 'welcome', to: Endpoint): void {
    const base = { ts: this.wallNow, key: this.selfKey, name: this.opts.name, seen: endpointText(to) };
    let body: Wire;
    if (t === 'hello') {
      body = { t, ...base };
    } else {
      const members: [string, string, string][] = [];
      for (const m of this.members.values()) {
        if (members.length >= MESH_MAX_MEMBERS_PER_WELCOME) break;
        const peer = this.device.getPeer(m.key);
        const ep = peer?.endpoint ?? m.endpoint;
        if (m.lastSeen > 0 && ep) members.push([m.key, m.name, endpointText(ep)]);
      }
      body = { t, ...base, members };
    }
    const sealed = this.seal(enc.encode(JSON.stringify(body)));
    this.io.send(Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length), 0, sealed.length, to);
  }

  private seal(plaintext: Uint8Array): Uint8Array {
    const header = new Uint8Array([MSG_MESH, 0, 0, 1]);
    const nonce = this.opts.random(NONCE);
    const ct = xseal(this.opts.network.discoveryKey, nonce, plaintext, header);
    const out = new Uint8Array(HEADER + NONCE + ct.length);
    out.set(header);
    out.set(nonce, HEADER);
    out.set(ct, HEADER + NONCE);
    return out;
  }

  private open(b: Uint8Array): Wire | null {
    if (b.length < HEADER + NONCE + TAG || b.length > MESH_MAX_MESSAGE || b[0] !== MSG_MESH || b[3] !== 1)
      return null;
    const nonce = b.subarray(HEADER, HEADER + NONCE);
    const pt = xopen(
      this.opts.network.discoveryKey,
      nonce,
      b.subarray(HEADER + NONCE),
      b.subarray(0, HEADER),
    );
    if (!pt) return null;
    const nonceKey = Buffer.from(nonce).toString('base64');
    if (this.nonces.has(nonceKey) || this.oldNonces.has(nonceKey)) {
      this.counters.replays++;
      return null;
    }
    let msg: Wire;
    try {
      msg = JSON.parse(new TextDecoder().decode(pt)) as Wire;
    } catch {
      return null;
    }
    if (
      typeof msg !== 'object' ||
      msg === null ||
      (msg.t !== 'hello' && msg.t !== 'welcome') ||
      typeof msg.ts !== 'number' ||
      Math.abs(msg.ts - this.wallNow) > MESH_CLOCK_SKEW ||
      typeof msg.key !== 'string' ||
      typeof msg.name !== 'string' ||
      typeof msg.seen !== 'string' ||
      (msg.t === 'welcome' &&
        !(
          Array.isArray(msg.members) &&
          msg.members.every(
            (m) => Array.isArray(m) && m.length === 3 && m.every((x) => typeof x === 'string'),
          )
        ))
    ) {
      return null;
    }
    if (this.nonces.size >= MESH_NONCE_CACHE) {
      this.oldNonces = this.nonces;
      this.nonces = new Set();
    }
    this.nonces.add(nonceKey);
    return msg;
  }
}
