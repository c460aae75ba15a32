// How a Mesh is set up, and what it tells its owner.

import type { Endpoint } from '../device';
import type { Cidr } from '../ip';
import type { NetworkKeys } from './addresses';
import type { PathKind } from './members';
import type { MemberRecord } from './records';

export interface MeshOptions {
  network: NetworkKeys;
  name: string;
  bootstrap: Endpoint[];
  /** Our X25519 private key (signs our record). */
  privateKey: Uint8Array;
  random: (n: number) => Uint8Array;
  now: number;
  wallNow: number;
  /** Offer to relay traffic between members. */
  relay?: boolean;
  /** Subnet routes this node offers. */
  routes?: string[];
  /** Offer this node as an exit node (its record's routes then carry 0.0.0.0/0 and ::/0). */
  exitOffer?: boolean;
  /**
   * Whether this machine's user accepted a route a member offers (normalized CIDR, member key);
   * asked only for routes that hold in the network (routes.ts), again at Mesh.routesChanged().
   * Default: none (a member's routes reach nothing here until accepted).
   */
  acceptRoute?: (route: string, key: string) => boolean;
  /** Our local endpoints (interface addresses with the listen port), refreshed by the caller. */
  localEndpoints?: Endpoint[];
  /**
   * Address ranges that are overlays (besides 100.64.0.0/10 and this network's IPv6 /48): the node's
   * other networks, its PeerMesh interfaces' addresses. Never used as endpoints.
   */
  overlayRanges?: Cidr[];
  /** When this node first joined the network (wall ms; default now, or what importState restores). */
  joined?: number;
  /**
   * Signature check of records and removals (default: xeddsaVerify). The simulator passes a memo so
   * that a thousand simulated members do not verify the same signature a thousand times.
   */
  verify?: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;
  /**
   * Called with every record accepted (valid, newer): returns the object to keep, which must be equal.
   * The simulator returns one shared copy per (key, version, signature), so that a thousand simulated
   * nodes do not each hold a thousand copies (records are never modified once received).
   */
  intern?: (record: MemberRecord) => MemberRecord;
}

export type MeshEvent =
  | { type: 'member'; key: string; name: string }
  | { type: 'removed'; key: string; name: string; by: string }
  /** The network moved to a new secret (epoch) after `by` removed `removed`. */
  | { type: 'rotated'; epoch: number; removed: string; by: string }
  | { type: 'changed' }
  /** Which devices hold (and through which gateways) may have changed (devices.ts). */
  | { type: 'devices' }
  | { type: 'public-endpoint'; endpoint: string }
  /** A hello on a member's direct path was answered after `ms`. */
  | { type: 'rtt'; key: string; ms: number }
  /** A member's IPv4 changed because of a collision of first choices (key may be our own). */
  | { type: 'address'; key: string; v4: string; old: string }
  | { type: 'path'; key: string; name: string; kind: PathKind; endpoint: string | null; via: string | null };
