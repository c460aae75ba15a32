// Where a peer is: a UDP address, or a path through a relay that the layer above (the mesh) chose.
// The device compares endpoints only through sameEndpoint() and sends to a relayed one only through
// its `via`.

/** A UDP address: IPv4 dotted quad or IPv6 text (no brackets), and a port. */
export interface Endpoint {
  readonly kind?: undefined;
  address: string;
  port: number;
}

/**
 * A path through a relay (the mesh chooses it): address and port are the relay's, and the device
 * sends through `via`, which it knows nothing else of.
 */
export interface RelayedEndpoint {
  readonly kind: 'relay';
  address: string;
  port: number;
  via: RelayVia;
}

export interface RelayVia {
  /** Send buf[start, start+len) through the relay at `to` (same rules as DeviceIO.send). */
  send(buf: Buffer, start: number, len: number, to: RelayedEndpoint): void;
  /** Whether both lead to the same far end. */
  sameAs(other: RelayVia): boolean;
}

/** Where a peer is: a UDP address, or a relayed path. */
export type PeerEndpoint = Endpoint | RelayedEndpoint;

/** The one comparison of endpoints: same kind, address and port, and for relays the same far end. */
export function sameEndpoint(a: PeerEndpoint | null, b: PeerEndpoint | null): boolean {
  if (!a || !b) return a === b;
  if (a.port !== b.port || a.address !== b.address) return false;
  if (a.kind !== 'relay' || b.kind !== 'relay') return a.kind !== 'relay' && b.kind !== 'relay';
  return a.via.sameAs(b.via);
}
