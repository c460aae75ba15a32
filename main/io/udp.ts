// The node's UDP sockets: one IPv4 and (where the host has IPv6) one IPv6-only socket on the same
// port. Endpoints handed to send() are always IP literals (host names are resolved once, at start),
// so the sockets use an identity `lookup` and a send never waits for a DNS turn of the event loop.
import dgram from 'node:dgram';
import { type Endpoint, MAX_PENDING_SENDS } from '../core/device';

type Lookup = (
  host: string,
  opts: unknown,
  cb: (err: Error | null, address: string, family: number) => void,
) => void;

const identity4: Lookup = (host, _o, cb) => cb(null, host, 4);
const identity6: Lookup = (host, _o, cb) => cb(null, host, 6);

export class UdpError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class UdpSockets {
  private v4: dgram.Socket | null = null;
  private v6: dgram.Socket | null = null;
  dropped = 0;
  port = 0;

  constructor(private readonly onMessage: (msg: Buffer, from: dgram.RemoteInfo) => void) {}

  /** Bind both sockets; rejects with a UdpError (code EADDRINUSE etc.) when the port is taken. */
  async bind(port: number): Promise<void> {
    this.v4 = await this.open('udp4', port, identity4);
    this.port = this.v4.address().port;
    try {
      this.v6 = await this.open('udp6', this.port, identity6);
    } catch (e) {
      // A host without IPv6 (or with it disabled) still works over IPv4.
      if ((e as UdpError).code === 'EADDRINUSE') {
        this.close();
        throw e;
      }
      this.v6 = null;
    }
  }

  private open(type: 'udp4' | 'udp6', port: number, lookup: Lookup): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({
        type,
        ipv6Only: type === 'udp6',
        lookup: lookup as unknown as dgram.SocketOptions['lookup'],
      });
      const onError = (err: NodeJS.ErrnoException) => {
        s.close();
        const msg =
          err.code === 'EADDRINUSE'
            ? `UDP port ${port} is used by another program: choose another port (Settings, or --listen)`
            : `cannot open UDP port ${port} (${type}): ${err.code ?? err.message}`;
        reject(new UdpError(msg, err.code ?? 'EUNKNOWN'));
      };
      s.once('error', onError);
      s.bind(port, type === 'udp4' ? '0.0.0.0' : '::', () => {
        s.removeListener('error', onError);
        for (const [set, size] of [
          [(n: number) => s.setRecvBufferSize(n), 8 << 20],
          [(n: number) => s.setSendBufferSize(n), 8 << 20],
        ] as const) {
          try {
            set(size);
          } catch {
            /* capped by net.core.[rw]mem_max: fine */
          }
        }
        if (type === 'udp4') {
          try {
            s.setBroadcast(true); // LAN discovery (core/mesh/mesh.ts) broadcasts sealed hellos
          } catch {
            /* no broadcast: members on the LAN still find each other through their records */
          }
        }
        s.on('message', this.onMessage);
        s.on('error', () => {
          /* per-datagram errors (e.g. ICMP unreachable) must not kill the node */
        });
        resolve(s);
      });
    });
  }

  send(buf: Buffer, start: number, len: number, to: Endpoint): void {
    const s = to.address.includes(':') ? this.v6 : this.v4;
    if (!s || s.getSendQueueCount() >= MAX_PENDING_SENDS) {
      this.dropped++;
      return;
    }
    s.send(buf, start, len, to.port, to.address);
  }

  close(): void {
    for (const s of [this.v4, this.v6]) {
      try {
        s?.close();
      } catch {
        /* already closed */
      }
    }
    this.v4 = this.v6 = null;
  }
}
