// The native TUN helper on its own, in a fresh namespace, driven by the real TypeScript client
// (test/fixtures/tun-echo.ts answers pings through it): data path, privilege drop, teardown when
// either process is killed, argument errors, name collisions, routes.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataplanePath } from '../../main/io/dataplane';
import { defaultHelperPath } from '../../main/io/helper';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';

const skip = netnsSkipReason();
const FIXTURE = join(__dirname, '..', 'fixtures', 'tun-echo.js');

describe('native TUN helper', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const ifname = `pmh${lab.id}`;

  async function startEcho(name: string, args: string[]): Promise<{ proc: ChildProcess; helperPid: number }> {
    // (--pass-fd needs the addon's socketpair/recvFd, whichever data path this run's nodes use.)
    const proc = lab.spawnIn('h', process.execPath, [FIXTURE, name, ...args], {
      env: { ...process.env, PEERMESH_DATAPLANE: 'on' },
    });
    let out = '';
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    proc.stderr?.on('data', (d) => {
      out += d;
    });
    const m = await waitFor(`fixture ${name} ready`, () => {
      if (proc.exitCode !== null) throw new Error(`fixture exited ${proc.exitCode}: ${out}`);
      return /ready (\d+)/.exec(out);
    });
    return { proc, helperPid: Number(m[1]) };
  }

  let echo: { proc: ChildProcess; helperPid: number };

  before(async () => {
    lab.addHost('h');
    echo = await startEcho(ifname, [
      '100.64.7.1/24',
      'fd00:64:7::1/64',
      '--route',
      '100.65.0.0/16',
      '--route',
      'fd00:65::/48',
    ]);
  });

  after(() => lab.cleanup());

  it('carries IPv4 and IPv6 pings, including 1400-byte packets', () => {
    assert.match(lab.exec('h', 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '100.64.7.2']), /3 received/);
    assert.match(
      lab.exec('h', 'ping', ['-6', '-c', '3', '-i', '0.1', '-W', '1', 'fd00:64:7::2']),
      /3 received/,
    );
    assert.match(
      lab.exec('h', 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '-s', '1372', '-M', 'do', '100.64.7.2']),
      /3 received/,
    );
    assert.match(lab.exec('h', 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '100.65.3.4']), /3 received/); // via --route
  });

  it('keeps up with a burst of 2000 pings at 2 ms intervals', () => {
    const out = lab.exec('h', 'ping', ['-q', '-c', '2000', '-i', '0.002', '-W', '1', '100.64.7.2'], 60_000);
    const received = Number(/(\d+) received/.exec(out)?.[1]);
    assert.ok(received >= 1990, out);
  });

  it('installs its routes and runs without privileges after setup', () => {
    assert.match(lab.exec('h', 'ip', ['route']), new RegExp(`100\\.65\\.0\\.0/16 dev ${ifname}`));
    assert.match(lab.exec('h', 'ip', ['-6', 'route']), new RegExp(`fd00:65::/48 dev ${ifname}`));
    const status = readFileSync(`/proc/${echo.helperPid}/status`, 'utf8');
    assert.match(status, /CapEff:\s+0000000000000000/);
    assert.match(status, /CapPrm:\s+0000000000000000/);
    assert.match(status, /Uid:\s+65534\s+65534\s+65534/);
    assert.match(status, /NoNewPrivs:\s+1/);
  });

  it('through a launcher that closes descriptors above 2 (like pkexec), the channel is stdout and works', async () => {
    const name = `pml${lab.id}`;
    const e = await startEcho(name, ['198.18.21.1/24', '--closing-launcher']);
    try {
      const out = lab.exec('h', 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '198.18.21.2']);
      assert.match(out, /3 received/);
    } finally {
      e.proc.kill('SIGTERM');
      await waitFor('launcher echo to stop', () => e.proc.exitCode !== null, 5000);
    }
    await waitFor('device gone', () => !lab.tryExec('h', 'ip', ['link', 'show', name]).ok, 5000);
  });

  it('fd mode (--pass-fd): the core gets the device fd and moves packets itself; the helper keeps no device fd, serves routes, and the device goes with the core (kill -9)', {
    skip: existsSync(dataplanePath()) ? false : 'the data plane addon is not built',
  }, async () => {
    const name = `pmf${lab.id}`;
    const proc = lab.spawnIn(
      'h',
      process.execPath,
      [FIXTURE, name, '100.64.9.1/24', 'fd00:64:9::1/64', '--pass-fd'],
      // The helper's fd mode needs the addon's socketpair/recvFd, whichever data path nodes use.
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PEERMESH_DATAPLANE: 'on' } },
    );
    let out = '';
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    proc.stderr?.on('data', (d) => {
      out += d;
    });
    const helperPid = Number(
      (
        await waitFor('fd-mode fixture ready', () => {
          if (proc.exitCode !== null) throw new Error(`fixture exited ${proc.exitCode}: ${out}`);
          return /ready (\d+)/.exec(out);
        })
      )[1],
    );
    // Echo requests the kernel sends into the device are read from the passed fd by the fixture and
    // its replies written to that fd arrive on the interface: both directions of the descriptor.
    assert.match(lab.exec('h', 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '100.64.9.2']), /3 received/);
    assert.match(
      lab.exec('h', 'ping', ['-6', '-c', '3', '-i', '0.1', '-W', '1', 'fd00:64:9::2']),
      /3 received/,
    );
    const rx = /RX:[^\n]*\n\s*(\d+)\s+(\d+)/.exec(lab.exec('h', 'ip', ['-s', 'link', 'show', name]));
    assert.ok(rx && Number(rx[2]) >= 6, `interface RX counters: ${rx?.[0]}`);
    // The helper holds no descriptor of the device and no privilege; it is alive for the routes.
    const fds = readdirSync(`/proc/${helperPid}/fd`).map((f) => {
      try {
        return readlinkSync(`/proc/${helperPid}/fd/${f}`);
      } catch {
        return '';
      }
    });
    assert.ok(!fds.some((l) => l.includes('/dev/net/tun')), fds.join(' '));
    const status = readFileSync(`/proc/${helperPid}/status`, 'utf8');
    assert.match(status, /CapEff:\s+0000000000000000/);
    assert.match(status, /Uid:\s+65534\s+65534\s+65534/);
    proc.stdin?.write('route add 100.66.0.0/16\n');
    await waitFor('route answer', () => out.includes('route add 100.66.0.0/16 null'), 5000);
    assert.match(lab.exec('h', 'ip', ['route']), new RegExp(`100\\.66\\.0\\.0/16 dev ${name}`));
    proc.kill('SIGKILL');
    await waitFor('helper exit', () => !existsSync(`/proc/${helperPid}/status`), 5000);
    await waitFor('device gone', () => !lab.links('h').includes(name), 5000);
    assert.doesNotMatch(lab.exec('h', 'ip', ['route']), /100\.6[46]\.9|100\.66/);
  });

  it('fd mode through a launcher that closes descriptors above 2 (like pkexec): the descriptor comes over stdin', {
    skip: existsSync(dataplanePath()) ? false : 'the data plane addon is not built',
  }, async () => {
    const name = `pmg${lab.id}`;
    const e = await startEcho(name, ['198.18.23.1/24', '--closing-launcher', '--pass-fd']);
    try {
      assert.match(lab.exec('h', 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '198.18.23.2']), /3 received/);
    } finally {
      e.proc.kill('SIGTERM');
      await waitFor('launcher echo to stop', () => e.proc.exitCode !== null, 5000);
    }
    await waitFor('device gone', () => !lab.tryExec('h', 'ip', ['link', 'show', name]).ok, 5000);
  });

  it('refuses a second device with the same name, with a clear error', async () => {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', lab.ns('h'), process.execPath, FIXTURE, ifname, '100.64.8.1/24'],
      {
        encoding: 'utf8',
        timeout: 15_000,
      },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`create TUN device ${ifname}: File exists`));
  });

  it('exits with a clear message and code 2 on bad arguments', () => {
    const helper = defaultHelperPath();
    const cases: [string[], RegExp][] = [
      [[], /--name is required/],
      [['--name', 'x'], /--mtu is required/],
      [['--name', 'bad name', '--mtu', '1420'], /bad interface name/],
      [['--name', 'waytoolonginterfacename', '--mtu', '1420'], /bad interface name/],
      [['--name', 'x', '--mtu', '9'], /bad --mtu/],
      [['--name', 'x', '--mtu', '1000', '--addr', 'fd00::1/64'], /at least 1280/],
      [['--name', 'x', '--mtu', '1420', '--addr', '10.0.0.1/33'], /bad --addr/],
      [['--name', 'x', '--mtu', '1420', '--route', 'nonsense'], /bad --route/],
      [['--name', 'x', '--mtu', '1420', '--bogus', '1'], /unknown option/],
      [['--name', 'x', '--mtu', '1420'], /fd 3 is not a socket/],
      [['--name', 'x', '--mtu', '1420', '--pass-fd', '2'], /bad --pass-fd/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(helper, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });

  it('kill -9 of the core: the helper exits and the device, addresses and routes are gone', async () => {
    echo.proc.kill('SIGKILL');
    await waitFor(
      'helper exit',
      () => {
        try {
          readFileSync(`/proc/${echo.helperPid}/status`);
          return false;
        } catch {
          return true;
        }
      },
      3000,
    );
    assert.ok(!lab.links('h').includes(ifname));
    assert.doesNotMatch(
      lab.exec('h', 'ip', ['route']) + lab.exec('h', 'ip', ['-6', 'route']),
      /100\.6[45]|fd00:6/,
    );
  });

  it('kill -9 of the helper: the core notices, and the device is gone', async () => {
    echo = await startEcho(ifname, ['100.64.7.1/24']);
    process.kill(echo.helperPid, 'SIGKILL');
    await waitFor('fixture exit', () => echo.proc.exitCode !== null, 3000);
    assert.equal(echo.proc.exitCode, 3);
    assert.ok(!lab.links('h').includes(ifname));
  });
});
