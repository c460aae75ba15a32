// Devices this node is the gateway of (docs/devices.md): a phone or a router with a stock WireGuard
// client. `add-device NAME` makes a key pair and a wg-quick config for it; the private key goes into
// that config only (shown once, never stored or logged here). The node keeps the device's name, key
// and creation time in `<state-dir>/devices-<network>.json` (0600), puts the keys in its record (the
// mesh: main/core/mesh/devices.ts), adds each device that holds in the network as a WireGuard peer
// with its overlay addresses, and asks the helper to forward between the device and the mesh.
import { readFileSync } from 'node:fs';
import nacl from 'tweetnacl';
import { ApiFailure, type DeviceRow, type NewDevice } from '../control/api';
import { MESH_MAX_DEVICES } from '../core/constants';
import type { Device } from '../core/device';
import { parseCidr } from '../core/ip';
import { type Mesh, memberAddresses, type NetworkKeys } from '../core/mesh';
import { writeFileAtomic } from '../io/files';
import type { TunHelper } from '../io/helper';
import type { Logger } from './log';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;

interface StoredDevice {
  name: string;
  key: string;
  created: number;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

export class DeviceRegistry {
  private list: StoredDevice[] = [];
  /** Device keys we added as WireGuard peers. */
  private readonly peers = new Set<string>();
  private gatewayAsked = false;

  constructor(
    private readonly file: string,
    private readonly net: NetworkKeys,
    private readonly log: Logger,
  ) {}

  load(): void {
    try {
      const d = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (!Array.isArray(d)) return;
      this.list = d
        .filter(
          (x): x is StoredDevice =>
            typeof x === 'object' &&
            x !== null &&
            typeof x.name === 'string' &&
            NAME_RE.test(x.name) &&
            typeof x.key === 'string' &&
            KEY_RE.test(x.key) &&
            Number.isSafeInteger(x.created),
        )
        .slice(0, MESH_MAX_DEVICES);
    } catch {
      /* none yet */
    }
  }

  get keys(): string[] {
    return this.list.map((d) => d.key);
  }

  private save(): void {
    writeFileAtomic(this.file, `${JSON.stringify(this.list, null, 2)}\n`, 0o600);
  }

  /**
   * A new device: a key pair whose addresses collide with no member or device we know (drawn again
   * when they do), its config, and the mesh told. `endpoint`: where the device reaches this node.
   */
  add(mesh: Mesh, name: string, endpoint: string | null): NewDevice {
    if (!NAME_RE.test(name))
      throw new ApiFailure('bad_params', 'a device name is 1-32 letters, digits, ".", "_" or "-"');
    if (this.list.some((d) => d.name === name))
      throw new ApiFailure('failed', `a device named "${name}" exists`);
    if (this.list.length >= MESH_MAX_DEVICES)
      throw new ApiFailure(
        'failed',
        `this node serves ${MESH_MAX_DEVICES} devices already: remove one first`,
      );
    if (!endpoint)
      throw new ApiFailure(
        'failed',
        'no endpoint known where a device can reach this node yet: wait for members to see it, or give one',
      );
    const taken = new Set<string>([mesh.addressesOf(mesh.selfKey).v4]);
    for (const m of mesh.members.values()) if (m.rec && !m.removed) taken.add(mesh.addressesOf(m.key).v4);
    for (const d of mesh.devices()) taken.add(d.v4);
    let kp = nacl.box.keyPair();
    for (let i = 0; i < 64 && taken.has(memberAddresses(this.net, kp.publicKey).v4); i++)
      kp = nacl.box.keyPair();
    const key = b64(kp.publicKey);
    const v4 = memberAddresses(this.net, kp.publicKey).v4;
    this.list.push({ name, key, created: Math.floor(Date.now() / 1000) });
    this.save();
    mesh.setDevices(this.keys);
    this.log.info(`device "${name}" (${key.slice(0, 8)}…) added at ${v4}; its config was shown once`);
    const config = [
      '[Interface]',
      `PrivateKey = ${b64(kp.secretKey)}`,
      `Address = ${v4}/32`,
      '',
      '[Peer]',
      `PublicKey = ${mesh.selfKey}`,
      `Endpoint = ${endpoint}`,
      'AllowedIPs = 100.64.0.0/10',
      'PersistentKeepalive = 25',
      '',
    ].join('\n');
    return {
      name,
      publicKey: key,
      address: v4,
      gateway: mesh.addressesOf(mesh.selfKey).v4,
      endpoint,
      config,
    };
  }

  /** Remove a device: out of our record (members stop routing it) and its peer gone at once. */
  remove(mesh: Mesh, device: Device, name: string): { removed: string } {
    const d = this.list.find((x) => x.name === name || x.key === name);
    if (!d) throw new ApiFailure('failed', `no device "${name}" on this node`);
    this.list = this.list.filter((x) => x !== d);
    this.save();
    mesh.setDevices(this.keys);
    this.sync(mesh, device, null);
    this.log.info(`device "${d.name}" (${d.key.slice(0, 8)}…) removed`);
    return { removed: d.name };
  }

  rows(mesh: Mesh, device: Device): DeviceRow[] {
    return this.list.map((d) => {
      const p = device.getPeer(d.key);
      const hs = p?.stats.lastHandshake ?? 0;
      return {
        name: d.name,
        publicKey: d.key,
        address: memberAddresses(this.net, Buffer.from(d.key, 'base64')).v4,
        created: d.created,
        holds: mesh.devices().some((x) => x.key === d.key && x.gateway === mesh.selfKey),
        lastHandshake: hs ? Math.round(hs / 1000) : null,
        rxBytes: p?.stats.rxBytes ?? 0,
        txBytes: p?.stats.txBytes ?? 0,
      };
    });
  }

  /**
   * Our devices that hold in the network are WireGuard peers (their overlay addresses as allowed
   * IPs); the others are not. The helper forwards between them and the mesh once there is one.
   */
  sync(mesh: Mesh | null, device: Device, tun: TunHelper | null): void {
    if (!mesh) return;
    const want = new Set<string>();
    for (const d of mesh.devices())
      if (d.gateway === mesh.selfKey && this.keys.includes(d.key)) want.add(d.key);
    for (const key of want) {
      if (this.peers.has(key) && device.getPeer(key)) continue;
      const a = memberAddresses(this.net, Buffer.from(key, 'base64'));
      device.addPeer({
        publicKey: Buffer.from(key, 'base64'),
        endpoint: null,
        allowedIps: [parseCidr(`${a.v4}/32`)!],
      });
      this.peers.add(key);
    }
    for (const key of [...this.peers])
      if (!want.has(key)) {
        device.removePeer(key);
        this.peers.delete(key);
      }
    if (want.size && tun && !this.gatewayAsked) {
      this.gatewayAsked = true;
      tun.enableGateway();
    }
  }

  /** The helper's answer to enableGateway. */
  gatewayAnswer(error: string | null): void {
    if (error) this.log.error(`cannot forward between devices and the network: ${error}`);
    else this.log.info("forwarding between this node's devices and the network");
  }
}
