// `peermesh add-device NAME`: a phone (or any stock WireGuard client) with this node as its gateway:
// prints its WireGuard config and the same as a QR code for the WireGuard app (docs/devices.md).
// `peermesh devices`, `peermesh remove-device NAME`. Through the running node's control socket.
import type { DeviceRow, NewDevice } from '../../control/api';
import { writeFileAtomic } from '../../io/files';
import { NODE_FLAGS, nodeDir, parse, UsageError } from '../args';
import { askNode, socketIn } from '../node-socket';
import { printTable } from './status';

export async function cmdAddDevice(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    endpoint: { type: 'string' },
    out: { type: 'string' },
    'no-qr': { type: 'boolean' },
    ...NODE_FLAGS,
  });
  if (positionals.length !== 1)
    throw new UsageError(
      'usage: peermesh add-device NAME [--endpoint HOST:PORT] [--out FILE.conf] [--no-qr]',
    );
  const socket = socketIn(nodeDir(values));
  const d = await askNode<NewDevice>(socket, 'add-device', {
    name: positionals[0],
    ...(values.endpoint ? { endpoint: values.endpoint as string } : {}),
  });
  if (values.out) {
    writeFileAtomic(values.out as string, d.config, 0o600);
    process.stderr.write(`wrote ${values.out} (mode 0600: it holds the device's private key)\n`);
  } else process.stdout.write(d.config);
  if (!values['no-qr']) {
    const { default: QRCode } = await import('qrcode');
    process.stderr.write(`\n${await QRCode.toString(d.config, { type: 'terminal', small: true })}\n`);
  }
  process.stderr.write(
    `device "${d.name}" at ${d.address}, through this node (${d.gateway}) at ${d.endpoint}. ` +
      'Scan the code with the WireGuard app, or import the config. It is shown once: the private key is not kept.\n',
  );
}

export async function cmdRemoveDevice(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, NODE_FLAGS);
  if (positionals.length !== 1) throw new UsageError('usage: peermesh remove-device NAME');
  const r = await askNode<{ removed: string }>(socketIn(nodeDir(values)), 'remove-device', {
    name: positionals[0],
  });
  process.stdout.write(`removed device "${r.removed}"\n`);
}

export async function cmdDevices(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, ...NODE_FLAGS });
  if (positionals.length) throw new UsageError('usage: peermesh devices [--json]');
  const rows = await askNode<DeviceRow[]>(socketIn(nodeDir(values)), 'devices');
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (!rows.length) {
    process.stdout.write('no devices (peermesh add-device NAME)\n');
    return;
  }
  const table = [['NAME', 'ADDRESS', 'STATE', 'LAST HANDSHAKE', 'KEY']];
  for (const r of rows)
    table.push([
      r.name,
      r.address,
      r.holds ? 'routed' : 'conflict: not routed',
      r.lastHandshake ? new Date(r.lastHandshake * 1000).toISOString() : 'never',
      `${r.publicKey.slice(0, 8)}…`,
    ]);
  printTable(table);
}
