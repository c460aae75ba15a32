// Names and addresses: the network's keys (from its name and secret), members' overlay addresses
// (derived from their keys, with collisions of first IPv4 choices settled by join time), and the
// text form of UDP endpoints in records and messages.

import type { Endpoint } from '../device';
import { formatIp, parseCidr } from '../ip';
import { type Core, hash } from './core';

export interface NetworkKeys {
  name: string;
  /** Key sealing discovery messages. */
  discoveryKey: Uint8Array;
  /** Public identifier of the network (hash), used for address derivation and record signatures. */
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
 * ULA whose /48 comes from the network. Two members whose first IPv4 choice collides (22 bits: about
 * 0.1 % of networks of 100 members) are told apart by Addresses: the member that joined first keeps
 * it, the other takes its next choice (`rank`).
 */
export function memberAddresses(
  net: NetworkKeys,
  publicKey: Uint8Array,
  rank = 0,
): { v4: string; v6: string } {
  const h = hash('peermesh address v1', net.id, publicKey);
  // rank > 0: the member lost a collision of its first choice (see Addresses.regroup); try the next.
  const hv = rank === 0 ? h : hash('peermesh address v1', net.id, publicKey, Uint8Array.of(rank & 0xff));
  let host = ((hv[0] << 16) | (hv[1] << 8) | hv[2]) & 0x3fffff;
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

export function endpointText(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function parseEndpointText(s: string): Endpoint | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([0-9.]+):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  const ip = parseCidr(m[1]);
  if (port < 1 || port > 65535 || !ip) return null;
  return { address: formatIp(ip.bytes), port };
}

/**
 * Overlay addresses of every member, ourselves included: derived from its key; when first IPv4
 * choices collide, the member that joined first (then the smaller key) keeps it and the others take
 * their next choices.
 */
export class Addresses {
  /** When we first joined (signed into our record as `j`). */
  joined: number;
  /** First IPv4 choice -> keys that have it (with a record; ourselves included). */
  private readonly byFirstV4 = new Map<string, string | string[]>(); // a key, or the keys of a collision
  /** IPv4 of members that lost a collision of first choices. */
  private readonly assignedV4 = new Map<string, string>();

  constructor(
    private readonly core: Core,
    joined: number,
  ) {
    this.joined = joined;
  }

  addressesOf(keyB64: string): { v4: string; v6: string } {
    const a = memberAddresses(this.core.opts.network, Buffer.from(keyB64, 'base64'));
    const v4 = this.assignedV4.get(keyB64);
    return v4 ? { v4, v6: a.v6 } : a;
  }

  private firstV4(key: string): string {
    return memberAddresses(this.core.opts.network, Buffer.from(key, 'base64')).v4;
  }

  private joinedOf(key: string): number {
    const c = this.core;
    return key === c.selfKey ? this.joined : (c.members.get(key)?.rec?.j ?? Number.MAX_SAFE_INTEGER);
  }

  /** A key with a record (or ourselves): it takes its address, or settles a collision. */
  add(key: string, notify = true): void {
    const first = this.firstV4(key);
    const g = this.byFirstV4.get(first);
    if (g === undefined) {
      this.byFirstV4.set(first, key);
      return;
    }
    const list = typeof g === 'string' ? [g] : g;
    if (!list.includes(key)) list.push(key);
    this.byFirstV4.set(first, list);
    this.regroup(first, notify);
  }

  remove(key: string): void {
    const first = this.firstV4(key);
    const g = this.byFirstV4.get(first);
    if (g === undefined) return;
    const rest = (typeof g === 'string' ? [g] : g).filter((k) => k !== key);
    this.assignedV4.delete(key);
    if (rest.length) this.byFirstV4.set(first, rest.length === 1 ? rest[0] : rest);
    else this.byFirstV4.delete(first);
    if (rest.length) this.regroup(first, true);
  }

  /** The key's join time changed: settle its first choice's group again. */
  regroupOf(key: string): void {
    this.regroup(this.firstV4(key), true);
  }

  /** Give each key of a first-choice group its address: first joined keeps it, the rest rank on. */
  private regroup(first: string, notify: boolean): void {
    const c = this.core;
    const g = this.byFirstV4.get(first);
    if (g === undefined) return;
    const list = typeof g === 'string' ? [g] : g;
    list.sort((a, b) => this.joinedOf(a) - this.joinedOf(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const [i, key] of list.entries()) {
      const old = this.assignedV4.get(key) ?? first;
      const v4 = i === 0 ? first : memberAddresses(c.opts.network, Buffer.from(key, 'base64'), i).v4;
      if (i === 0) this.assignedV4.delete(key);
      else this.assignedV4.set(key, v4);
      if (v4 === old || !notify) continue;
      const m = c.members.get(key);
      if (m?.rec) c.ensurePeer(m, 'changed');
      c.emit({ type: 'address', key, v4, old });
    }
  }

  /** We joined earlier than we thought (a copy of our record, or saved state, says so). */
  setJoined(j: number): void {
    this.joined = j;
    this.core.records.resignForPeer();
    this.regroupOf(this.core.selfKey);
  }
}
