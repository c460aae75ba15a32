// Devices served by a gateway member (docs/devices.md), in the in-process network: members route a
// device's address to its gateway; a second gateway listing the same device, a device key that is a
// member's key, and a record without devices (its signed bytes unchanged) behave as the rule says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { memberAddresses } from '../../main/core/mesh';
import { key, net0 } from '../lib/mesh-fixtures';
import { ipv4Packet, SimNet, type SimNode } from '../lib/sim';

const v4 = (n: SimNode) => memberAddresses(net0, n.publicKey).v4;
const phone = nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(99)).publicKey;
const phoneKey = Buffer.from(phone).toString('base64');
const phoneV4 = memberAddresses(net0, phone).v4;
const payloads = (n: SimNode) => n.tunOut.map((b) => b.subarray(28).toString());

function three(): [SimNet, SimNode, SimNode, SimNode] {
  const net = new SimNet();
  const a = net.add('a', key(1), 1);
  a.joinMesh(net0, [], 1, { joined: 1_000 });
  const b = net.add('b', key(2), 2);
  b.joinMesh(net0, [a.endpoint], 2, { joined: 2_000 });
  const c = net.add('c', key(3), 3);
  c.joinMesh(net0, [a.endpoint], 3, { joined: 3_000 });
  net.advance(3000);
  return [net, a, b, c];
}

describe('devices through a gateway member', () => {
  it("members route a device's address to its gateway, and only the gateway's packets may come from it", () => {
    const [net, a, b, c] = three();
    a.mesh!.setDevices([phoneKey]);
    net.advance(3000);
    for (const n of [a, b, c])
      assert.deepEqual(
        n.mesh!.devices().map((d) => [d.key, d.gateway, d.v4]),
        [[phoneKey, a.device.publicKeyB64, phoneV4]],
        n.name,
      );
    b.send(ipv4Packet(v4(b), phoneV4, 'to the phone'));
    net.advance(500);
    assert.deepEqual(payloads(a), ['to the phone'], "the gateway's TUN gets it (the kernel forwards it on)");
    // c sends from the phone's address: b refuses it (c is not the phone's gateway).
    c.send(ipv4Packet(phoneV4, v4(b), 'spoofed'));
    net.advance(500);
    assert.deepEqual(payloads(b), []);
    a.mesh!.setDevices([]);
    net.advance(3000);
    for (const n of [b, c]) assert.deepEqual(n.mesh!.devices(), [], `${n.name} still routes the phone`);
  });

  it('a second member listing the same device does not take it; a member key is never a device', () => {
    const [net, a, b, c] = three();
    a.mesh!.setDevices([phoneKey]);
    net.advance(2000);
    c.mesh!.setDevices([phoneKey, b.device.publicKeyB64]);
    net.advance(3000);
    for (const n of [a, b, c])
      assert.deepEqual(
        n.mesh!.devices().map((d) => d.gateway),
        [a.device.publicKeyB64],
        `${n.name}: the older gateway keeps the phone, b's key is no device`,
      );
    b.send(ipv4Packet(v4(b), phoneV4, 'still via a'));
    net.advance(500);
    assert.deepEqual(payloads(a), ['still via a']);
    assert.deepEqual(payloads(c), []);
  });
});
