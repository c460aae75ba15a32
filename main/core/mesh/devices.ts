// Devices that cannot run PeerMesh (a phone with the WireGuard app, a router): a member serves as
// their gateway (docs/devices.md). The gateway lists each device's WireGuard public key in its
// signed record (`dv`); the device's overlay addresses derive from its key like a member's, so every
// member computes them and routes them to the gateway. The same rule at every member decides which
// claims hold:
//
// - a device key that is a member's own key is refused (a member's traffic is its own);
// - a device whose IPv4 or IPv6 is a member's current address is refused (no taking a member's
//   address by grinding device keys);
// - of two members listing the same device, the one that joined first (then the smaller key) keeps
//   it, as for subnet routes; so do two devices whose addresses collide.
//
// The gateway itself adds each device as a plain WireGuard peer (the node does that); the mesh only
// says which of our own devices hold.

import { type Cidr, parseCidr } from '../ip';
import { memberAddresses } from './addresses';
import type { Core } from './core';
import { olderFirst } from './routes';

export interface DeviceClaim {
  /** The device's WireGuard public key, base64. */
  key: string;
  /** The gateway member's key (ours included). */
  gateway: string;
  v4: string;
  v6: string;
}

export class Devices {
  /** Our own devices' keys (the node sets them; they go into our record). */
  own: string[] = [];
  /** Device key -> the claim that holds. */
  private held = new Map<string, DeviceClaim>();
  /** Gateway key -> the prefixes of its devices that hold. */
  private byGateway = new Map<string, Cidr[]>();
  /** Whether any record lists devices (else settle() has nothing to do). */
  private any = false;

  constructor(private readonly core: Core) {}

  /** The devices that hold, every gateway's (ours included). */
  all(): readonly DeviceClaim[] {
    return [...this.held.values()];
  }

  /** The overlay prefixes of a gateway's devices that hold (its WireGuard peer carries them). */
  prefixesOf(gateway: string): readonly Cidr[] {
    return this.byGateway.get(gateway) ?? [];
  }

  /**
   * Whether any device is in play (ours, or a record listed some at the last settle): only then can a
   * new member's address collide with a device's. Keeps settle() off the path of every new record
   * in a network without devices (it walks all members: per record that would be quadratic).
   */
  get inPlay(): boolean {
    return this.any || this.own.length > 0;
  }

  /** Whether one of our own devices holds in the network. */
  holds(key: string): boolean {
    return this.held.get(key)?.gateway === this.core.selfKey;
  }

  /** Settle the claims again (a record's devices, a member, a removal or our own list changed). */
  settle(): void {
    const c = this.core;
    const offers: { key: string; joined: number; devices: readonly string[] }[] = [];
    if (this.own.length) offers.push({ key: c.selfKey, joined: c.addresses.joined, devices: this.own });
    const memberV4 = new Set<string>();
    const memberV6 = new Set<string>();
    const selfAddrs = c.addresses.addressesOf(c.selfKey);
    memberV4.add(selfAddrs.v4);
    memberV6.add(selfAddrs.v6);
    for (const m of c.members.values()) {
      if (!m.rec || m.removed) continue;
      const a = c.addresses.addressesOf(m.key);
      memberV4.add(a.v4);
      memberV6.add(a.v6);
      if (m.rec.dv?.length) offers.push({ key: m.key, joined: m.rec.j, devices: m.rec.dv });
    }
    if (!offers.length && !this.any) return;
    this.any = offers.length > 0;
    const held = new Map<string, DeviceClaim>();
    const takenV4 = new Set<string>();
    for (const o of offers.sort(olderFirst)) {
      for (const key of o.devices) {
        if (held.has(key) || key === c.selfKey || c.members.get(key)?.rec) continue;
        const a = memberAddresses(c.opts.network, Buffer.from(key, 'base64'));
        if (memberV4.has(a.v4) || memberV6.has(a.v6) || takenV4.has(a.v4)) continue;
        takenV4.add(a.v4);
        held.set(key, { key, gateway: o.key, v4: a.v4, v6: a.v6 });
      }
    }
    const byGateway = new Map<string, Cidr[]>();
    for (const d of held.values()) {
      const list = byGateway.get(d.gateway) ?? [];
      list.push(parseCidr(`${d.v4}/32`)!, parseCidr(`${d.v6}/128`)!);
      byGateway.set(d.gateway, list);
    }
    const before = this.byGateway;
    this.held = held;
    this.byGateway = byGateway;
    for (const key of new Set([...before.keys(), ...byGateway.keys()])) {
      const was = (before.get(key) ?? []).length;
      const now = (byGateway.get(key) ?? []).length;
      const m = c.members.get(key);
      if (m?.rec && !m.removed && (was !== now || was > 0)) c.ensurePeer(m, 'changed');
    }
    c.emit({ type: 'devices' });
  }
}
