// A phone in one scan (docs/devices.md), with real processes: A and C are members; `peermesh
// add-device phone` on A writes a WireGuard config (and shows its QR code); the "phone" is Debian's
// wireguard-go in its own namespace, set up from exactly that file the way wg-quick does it
// (`wg-quick strip`, then its Address and AllowedIPs as the interface's address and route). The phone
// pings C, a member that is not its gateway, and C pings the phone; `remove-device` ends both.
//
//   a 198.18.0.1 (gateway)   c 198.18.0.2   ph 198.18.0.3 (wireguard-go)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsNftSkipReason, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, tempDir } from '../lib/peermesh-proc';
import { spawnWireguardGo, wireguardGoSkipReason } from '../lib/wireguard-go';

const skip = netnsNftSkipReason() ?? wireguardGoSkipReason();

describe('a phone in one scan', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('devices');
  const nodes: Record<string, RunningNode> = {};
  const wgIf = `wg${lab.id}`;

  const cli = (h: string, ...args: string[]) => {
    const r = runCli([...args, '--state-dir', join(dir, h)], lab.ns(h));
    assert.equal(r.code, 0, `${h} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r;
  };
  const overlay = (h: string) =>
    (JSON.parse(cli(h, 'status', '--json').stdout) as { addresses: string[] }).addresses[0].split('/')[0];
  const pings = (h: string, to: string) => lab.tryExec(h, 'ping', ['-c', '1', '-W', '1', to]).ok;
  const args = (h: string, extra: string[] = []) => [
    ...lab.memberArgs(h, 'dev', join(dir, 'secret'), h),
    ...extra,
  ];
  let phoneAddr = '';

  before(async () => {
    lab.lanOf(['a', 'c', 'ph']);
    writeFileSync(join(dir, 'secret'), 'a phone in one scan\n', { mode: 0o600 });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a'));
    nodes.c = await startNode(lab, 'c', join(dir, 'c'), args('c', ['--bootstrap', '198.18.0.1:51820']));
    await waitFor('a reaches c', () => pings('a', overlay('c')), 20_000, 300);
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('add-device writes a config (0600) and shows it as a QR code', () => {
    const conf = join(dir, 'phone.conf');
    const r = cli('a', 'add-device', 'phone', '--out', conf);
    assert.equal(statSync(conf).mode & 0o777, 0o600);
    assert.match(r.stderr, /[▀▄█]/, 'no QR code');
    const text = readFileSync(conf, 'utf8');
    assert.match(text, /^\[Interface\]\nPrivateKey = [A-Za-z0-9+/]{43}=\nAddress = 100\.\d+\.\d+\.\d+\/32\n/);
    assert.match(text, /Endpoint = 198\.18\.0\.1:51820/);
    assert.match(text, /AllowedIPs = 100\.64\.0\.0\/10/);
    phoneAddr = /Address = ([\d.]+)\/32/.exec(text)![1];
    const rows = JSON.parse(cli('a', 'devices', '--json').stdout) as { name: string; address: string }[];
    assert.deepEqual(
      rows.map((d) => [d.name, d.address]),
      [['phone', phoneAddr]],
    );
    assert.doesNotMatch(nodes.a.log(), /PrivateKey|[A-Za-z0-9+/]{43}=.*private/);
  });

  it('the phone (wireguard-go from exactly that file) pings C, which is not its gateway, and C pings it', async () => {
    const conf = join(dir, 'phone.conf');
    const text = readFileSync(conf, 'utf8');
    const stripped = join(dir, `${wgIf}.conf`);
    writeFileSync(stripped, text, { mode: 0o600 });
    writeFileSync(stripped, execFileSync('wg-quick', ['strip', stripped], { encoding: 'utf8' }), {
      mode: 0o600,
    });
    spawnWireguardGo(lab, 'ph', wgIf);
    await waitFor('wireguard-go UAPI socket', () => lab.tryExec('ph', 'wg', ['show', wgIf]).ok, 10_000);
    lab.exec('ph', 'wg', ['setconf', wgIf, stripped]);
    lab.exec('ph', 'ip', ['addr', 'add', /Address = (\S+)/.exec(text)![1], 'dev', wgIf]);
    lab.exec('ph', 'ip', ['link', 'set', wgIf, 'up']);
    lab.exec('ph', 'ip', ['route', 'add', /AllowedIPs = (\S+)/.exec(text)![1], 'dev', wgIf]);
    const cAddr = overlay('c');
    await waitFor('the phone pings c', () => pings('ph', cAddr), 20_000, 300);
    await waitFor('c pings the phone', () => pings('c', phoneAddr), 10_000, 300);
    const row = (
      JSON.parse(cli('a', 'devices', '--json').stdout) as { holds: boolean; lastHandshake: number }[]
    )[0];
    assert.ok(row.holds && row.lastHandshake > 0);
  });

  it('remove-device: the phone reaches no one, and no one reaches it', async () => {
    cli('a', 'remove-device', 'phone');
    const cAddr = overlay('c');
    await waitFor('the phone is cut off', () => !pings('ph', cAddr), 10_000, 300);
    await waitFor('c no longer reaches it', () => !pings('c', phoneAddr), 10_000, 300);
    assert.deepEqual(JSON.parse(cli('a', 'devices', '--json').stdout), []);
  });
});
