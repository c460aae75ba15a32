// A local user must not steer the host's routing through our helper (docs/security.md, "local
// user"). The packaged helper is a copy of the built one with the file capability and the mode the
// deb/rpm give it (`setcap cap_net_admin,cap_net_bind_service+ep`, root:<group> 0750; the group here
// is nogroup, 65534),
// run as `nobody` (setpriv) inside a fresh network namespace. It must refuse what would capture the
// host's traffic — routes and addresses outside the overlay, --user root, --forward for a subnet
// root did not list in /etc/peermesh/forward.allow, an interface that exists already — and still
// do its job: a real overlay device with pings through it, routes at runtime through the janitor,
// and forwarding with nft masquerade from the capability-only helper. Port 53 (cap_net_bind_service)
// only on its own device's addresses, handed to the caller (--dns): any other address or port, a
// wildcard, another interface's address are refused, and the janitor keeps cap_net_admin alone.
//
// /etc/peermesh is the helper's compiled-in policy directory (a user cannot point it elsewhere).
// The test bind-mounts its own directory there inside the namespace's private mount namespace
// (`ip netns exec` unshares one), so the host's /etc/peermesh is never read or written; only an
// empty /etc/peermesh mount point is created if there is none, and removed again.
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Cidr } from '../../main/core/ip';
import { dataplanePath, loadDataplane } from '../../main/io/dataplane';
import { defaultHelperPath, TunHelper } from '../../main/io/helper';
import { HELPER_CAPS } from '../../main/node/core-helper';
import { NetnsLab, netnsSkipReason, sh, waitFor } from '../lib/netns';
import { CLI, NATIVE_ONLY_SKIP, startNode, stopNode } from '../lib/peermesh-proc';

const POLICY_DIR = '/etc/peermesh';
const SETUP = [
  'sh',
  '-c',
  'mount --bind "$0" /etc/peermesh && mount --bind "$1" /dev/net/tun && shift && exec "$@"',
];
// nobody's uid and group, no other group, and the exec done by a shell without capabilities
// (setpriv keeps its own until it execs).
const NOBODY = [
  'setpriv',
  '--reuid=65534',
  '--regid=65534',
  '--clear-groups',
  '--',
  'sh',
  '-c',
  'exec "$@"',
  'sh',
];

function skipReason(): string | null {
  const ns = netnsSkipReason();
  if (ns) return ns;
  for (const tool of ['setcap', 'getcap', 'setpriv', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `skipped: needs ${tool}`;
  }
  return null;
}

const skip = skipReason();

describe('the helper run by a local user (file capability, as nobody)', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  let dir = '';
  let helper = '';
  let allowDir = '';
  let createdPolicyDir = false;
  const name = (tag: string) => `pmp${lab.id}${tag}`;

  /**
   * argv that runs `cmd` in namespace h as nobody, with our allow directory at /etc/peermesh and a
   * /dev/net/tun that every user may open, as distributions ship it (udev: 0666; on this build
   * machine it is 0600) — both bind mounts only in the namespace's own mount namespace.
   */
  const asNobody = (cmd: string[], policyDir = allowDir) => [
    'ip',
    'netns',
    'exec',
    lab.ns('h'),
    ...SETUP,
    policyDir,
    join(dir, 'tun'),
    ...NOBODY,
    ...cmd,
  ];

  /** Start the capability helper as nobody, driven by the real client (channel = its stdout). */
  const startHelper = (
    args: {
      name: string;
      addresses: string[];
      routes?: string[];
      forward?: string[];
      dynamicRoutes?: boolean;
      exit?: boolean;
      dns?: string[];
    },
    policyDir = allowDir,
  ) => {
    const launcher = asNobody([], policyDir);
    // --dns needs fd mode: the sockets come over the descriptor socket, beside the device's.
    const passFd = args.dns ? (loadDataplane() ?? undefined) : undefined;
    return TunHelper.start({ helperPath: helper, launcher, mtu: 1420, passFd, ...args });
  };

  /** The helper with raw arguments (no channel client): exit code and stderr. */
  const runRaw = (args: string[]) => {
    const [cmd, ...rest] = asNobody([helper, ...args, '--fd', '1']);
    return spawnSync(cmd, rest, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  };

  /**
   * Start `cmd` in namespace h as nobody, the capability helper as its PEERMESH_HELPER (as the app
   * or node of a user starts it); resolves with `ready`'s match on its output.
   */
  async function startAsNobody(what: string, ready: RegExp, cmd: string[]) {
    const [shell, ...pre] = SETUP;
    const proc: ChildProcess = lab.spawnIn(
      'h',
      shell,
      [...pre, allowDir, join(dir, 'tun'), ...NOBODY, ...cmd],
      {
        env: { ...process.env, PEERMESH_HELPER: helper },
      },
    );
    let out = '';
    const add = (d: Buffer) => {
      out += d;
    };
    proc.stdout?.on('data', add);
    proc.stderr?.on('data', add);
    const m = await waitFor(what, () => {
      if (proc.exitCode !== null) throw new Error(`${what}: exited ${proc.exitCode}: ${out}`);
      return ready.exec(out);
    });
    return { proc, m, output: () => out };
  }

  async function refused(args: Parameters<typeof startHelper>[0], why: RegExp, policyDir = allowDir) {
    let started: TunHelper | null = null;
    try {
      started = await startHelper(args, policyDir);
    } catch (e) {
      assert.match((e as Error).message, why);
      return;
    } finally {
      await started?.close();
    }
    assert.fail(`the helper accepted ${JSON.stringify(args)}`);
  }

  before(() => {
    lab.addHost('h');
    dir = mkdtempSync(join(tmpdir(), 'pm-helper-cap-'));
    chmodSync(dir, 0o755);
    helper = join(dir, 'peermesh-helper');
    copyFileSync(defaultHelperPath(), helper);
    chownSync(helper, 0, 65534);
    chmodSync(helper, 0o750);
    const set = spawnSync('setcap', [HELPER_CAPS, helper], { encoding: 'utf8' });
    assert.equal(set.status, 0, `setcap on ${helper} (a file system with xattrs is needed): ${set.stderr}`);
    assert.match(
      spawnSync('getcap', [helper], { encoding: 'utf8' }).stdout,
      /cap_net_bind_service,cap_net_admin[=+]ep/,
    );
    sh('mknod', ['-m', '0666', join(dir, 'tun'), 'c', '10', '200']);
    // The echo fixture and the client it uses, where nobody can read them whatever the checkout's
    // directory modes (CI clones elsewhere).
    for (const f of [
      'test/fixtures/tun-echo.js',
      'main/io/helper.js',
      'main/io/dataplane.js',
      'main/core/ip.js',
    ]) {
      mkdirSync(join(dir, 'js', f, '..'), { recursive: true, mode: 0o755 });
      copyFileSync(join(__dirname, '..', '..', f), join(dir, 'js', f));
    }
    sh('chmod', ['-R', 'a+rX', join(dir, 'js')]);
    allowDir = join(dir, 'policy');
    mkdirSync(allowDir, { mode: 0o755 });
    chmodSync(allowDir, 0o755);
    writeFileSync(
      join(allowDir, 'forward.allow'),
      '# offered by this node\n198.19.200.0/24\n\nfd00:beef::/48\n',
      {
        mode: 0o644,
      },
    );
    writeFileSync(join(allowDir, 'route.allow'), "198.19.210.0/24 # a member's LAN\n", { mode: 0o644 });
    if (!existsSync(POLICY_DIR)) {
      mkdirSync(POLICY_DIR, { mode: 0o755 });
      createdPolicyDir = true;
    }
  });

  after(async () => {
    await lab.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (createdPolicyDir && readdirSync(POLICY_DIR).length === 0) rmdirSync(POLICY_DIR);
  });

  it('refuses routes 0.0.0.0/1 and 128.0.0.0/1 with a clear error, and nothing reaches the kernel', async () => {
    await refused(
      { name: name('a'), addresses: ['100.64.9.1/24'], routes: ['0.0.0.0/1', '128.0.0.0/1'] },
      /refused: --route 0\.0\.0\.0\/1: wider than IPv4 \/8 or IPv6 \/16/,
    );
    assert.doesNotMatch(lab.exec('h', 'ip', ['route']), /0\.0\.0\.0\/1|128\.0\.0\.0\/1/);
    assert.ok(!lab.links('h').includes(name('a')), 'no device was created');
    await refused(
      { name: name('a'), addresses: ['100.64.9.1/24'], routes: ['::/1'] },
      /refused: --route ::\/1/,
    );
    const r = runRaw(['--name', name('a'), '--mtu', '1420', '--route', '128.0.0.0/1']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /refused: --route 128\.0\.0\.0\/1/);
    // Narrow enough for the floor, but outside the overlay and not in route.allow:
    await refused(
      { name: name('a'), addresses: ['100.64.9.1/24'], routes: ['198.18.0.0/16'] },
      /refused: --route 198\.18\.0\.0\/16: outside the overlay ranges 100\.64\.0\.0\/10 and fd00::\/8 and not in \/etc\/peermesh\/route\.allow/,
    );
  });

  it('refuses addresses outside the overlay or with a prefix wider than it (the kernel would route it)', async () => {
    for (const [addr, re] of [
      ['1.2.3.4/32', /refused: --addr 1\.2\.3\.4\/32: outside the overlay/],
      ['100.64.0.1/1', /refused: --addr 100\.64\.0\.1\/1: wider than IPv4 \/8/],
      ['100.64.0.1/9', /refused: --addr 100\.64\.0\.1\/9: outside the overlay/],
      ['fd00::1/7', /refused: --addr fd00::1\/7: wider than/],
      ['fe80::1/64', /refused: --addr fe80::1\/64: outside the overlay/],
    ] as const) {
      await refused({ name: name('b'), addresses: [addr] }, re);
    }
    assert.doesNotMatch(lab.exec('h', 'ip', ['route']), /^(0|1|100)\.\d+\.\d+\.\d+\/[1-9] /m);
  });

  it('refuses --user root (and any --user: it runs as its caller)', () => {
    const r = runRaw(['--name', name('c'), '--mtu', '1420', '--addr', '100.64.9.1/24', '--user', 'root']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /refused: --user needs a caller that is root/);
    assert.ok(!lab.links('h').includes(name('c')));
  });

  it('refuses to attach to an interface that exists already (IFF_TUN_EXCL), persistent or in use', async () => {
    const existing = name('x');
    lab.exec('h', 'ip', ['tuntap', 'add', 'dev', existing, 'mode', 'tun']); // persistent, nobody attached
    try {
      await refused(
        { name: existing, addresses: ['100.64.9.1/24'] },
        new RegExp(`create TUN device ${existing}: File exists`),
      );
      assert.doesNotMatch(lab.exec('h', 'ip', ['addr', 'show', existing]), /100\.64\.9\.1/);
    } finally {
      lab.exec('h', 'ip', ['tuntap', 'del', 'dev', existing, 'mode', 'tun']);
    }
    const first = await startHelper({ name: name('y'), addresses: ['100.64.11.1/24'] });
    try {
      await refused({ name: name('y'), addresses: ['100.64.12.1/24'] }, /File exists/);
    } finally {
      await first.close();
    }
  });

  it('a legitimate overlay setup works: device, routes inside 100.64.0.0/10, pings both ways, no privilege left', async () => {
    const ifname = name('e');
    // The user's own process (the fixture, as the app or node would) starts the helper directly.
    const { proc, m } = await startAsNobody('fixture ready', /ready (\d+)/, [
      process.execPath,
      join(dir, 'js', 'test', 'fixtures', 'tun-echo.js'),
      ifname,
      '100.64.9.1/24',
      'fd00:64:9::1/64',
      '--route',
      '100.65.0.0/16',
      '--route',
      '198.19.210.0/25', // inside route.allow
    ]);
    try {
      const pid = Number(m[1]);
      assert.match(lab.exec('h', 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '100.64.9.2']), /3 received/);
      assert.match(lab.exec('h', 'ping', ['-c', '3', '-i', '0.1', '-W', '1', '100.65.3.4']), /3 received/);
      assert.match(lab.exec('h', 'ping', ['-c', '2', '-i', '0.1', '-W', '1', '198.19.210.5']), /2 received/);
      assert.match(
        lab.exec('h', 'ping', ['-6', '-c', '2', '-i', '0.1', '-W', '1', 'fd00:64:9::2']),
        /2 received/,
      );
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /Uid:\s+65534\s+65534\s+65534/);
      assert.match(status, /CapEff:\s+0000000000000000/);
      assert.match(status, /CapPrm:\s+0000000000000000/);
    } finally {
      proc.kill('SIGTERM');
      await waitFor('fixture to stop', () => proc.exitCode !== null || proc.signalCode !== null, 5000);
    }
    await waitFor('device gone', () => !lab.links('h').includes(ifname), 5000);
  });

  it('binds UDP port 53 only on its own device’s addresses (--dns), hands the sockets over, refuses anything else', {
    // Only the native path takes the helper's DNS sockets (the TypeScript path binds its own).
    skip:
      NATIVE_ONLY_SKIP ||
      (existsSync(dataplanePath()) ? false : 'the data plane addon is not built (it receives the sockets)'),
  }, async () => {
    const ifname = name('d');
    const addresses = ['100.64.17.1/24', 'fd00:64:17::1/64'];
    const port53 = () =>
      lab
        .exec('h', 'ss', ['-Hlun'])
        .split('\n')
        .filter((l) => /:53\s/.test(l));
    for (const [dns, why] of [
      [
        '100.64.17.2',
        /refused: --dns 100\.64\.17\.2 port 53: not an address of this device \(give it with --addr\)/,
      ],
      ['1.2.3.4', /refused: --dns 1\.2\.3\.4 port 53: not an address of this device/],
      ['198.18.0.1', /refused: --dns 198\.18\.0\.1 port 53: not an address of this device/],
      [
        '100.64.17.1:5353',
        /refused: --dns 100\.64\.17\.1 port 5353: only port 53 \(DNS\) is bound by the helper/,
      ],
      ['[fd00:64:17::1]:80', /refused: --dns fd00:64:17::1 port 80: only port 53/],
      ['0.0.0.0', /refused: --dns 0\.0\.0\.0 port 53: a wildcard address/],
      ['::', /refused: --dns :: port 53: a wildcard address/],
      ['127.0.0.1', /refused: --dns 127\.0\.0\.1 port 53: a loopback address/],
    ] as const) {
      await refused({ name: ifname, addresses, dns: [dns] }, why);
    }
    // An address another interface has (here a TUN device's in the overlay range: another user's node, a
    // service of root's), even when the caller gives it to its own device too: not bound, and the
    // reason goes to the caller (the node keeps the hosts file; the device itself is allowed).
    const other = name('o');
    lab.exec('h', 'ip', ['tuntap', 'add', 'dev', other, 'mode', 'tun']);
    lab.exec('h', 'ip', ['addr', 'add', '100.64.18.1/24', 'dev', other]);
    try {
      const t = await startHelper({ name: ifname, addresses: ['100.64.18.1/24'], dns: ['100.64.18.1'] });
      try {
        assert.deepEqual(t.takeDnsSockets(), [
          { address: '100.64.18.1', fd: null, error: `refused: an address of another interface ${other}` },
        ]);
        assert.deepEqual(port53(), [], 'nothing bound on port 53');
      } finally {
        await t.close();
        loadDataplane()!.closeFd(t.tunFd);
      }
      await waitFor('device gone', () => !lab.links('h').includes(ifname), 5000);
    } finally {
      lab.exec('h', 'ip', ['tuntap', 'del', 'dev', other, 'mode', 'tun']);
    }
    // Without the descriptor socket there is nothing to hand them over on.
    const raw = runRaw([
      '--name',
      ifname,
      '--mtu',
      '1420',
      '--addr',
      '100.64.17.1/24',
      '--dns',
      '100.64.17.1',
    ]);
    assert.equal(raw.status, 2, raw.stderr);
    assert.match(raw.stderr, /--dns needs --pass-fd/);
    assert.deepEqual(port53(), [], 'no socket on port 53 after the refusals');
    assert.ok(!lab.links('h').includes(ifname), 'no device was created');

    // Its own addresses: bound by the helper as nobody, passed to the caller, who answers on them.
    const tun = await startHelper({
      name: ifname,
      addresses,
      dns: ['100.64.17.1', 'fd00:64:17::1'],
      dynamicRoutes: true,
    });
    const socks: dgram.Socket[] = [];
    try {
      const given = tun.takeDnsSockets();
      assert.deepEqual(
        given.map((g) => [g.address, g.error, typeof g.fd]),
        [
          ['100.64.17.1', null, 'number'],
          ['fd00:64:17::1', null, 'number'],
        ],
      );
      const bound = port53()
        .map((l) => l.split(/\s+/)[3])
        .sort();
      assert.deepEqual(
        bound,
        ['100.64.17.1:53', '[fd00:64:17::1]:53'],
        'exactly the two addresses, no wildcard',
      );
      for (const g of given) {
        const s = dgram.createSocket(g.address.includes(':') ? 'udp6' : 'udp4');
        socks.push(s);
        await new Promise<void>((r) => s.bind({ fd: g.fd! }, r));
        assert.deepEqual([s.address().address, s.address().port], [g.address, 53]);
        s.on('message', (m, from) =>
          s.send(Buffer.concat([Buffer.from('echo '), m]), from.port, from.address),
        );
      }
      // From a process in the namespace (asynchronously: this process answers on the sockets).
      const ask = (to: string) =>
        new Promise<string>((resolve) => {
          const script = `const s = require('node:dgram').createSocket('${to.includes(':') ? 'udp6' : 'udp4'}');
             s.on('message', (m) => { console.log(String(m)); process.exit(0); });
             s.send('hi', 53, '${to}'); setTimeout(() => { console.log('none'); process.exit(0); }, 2000);`;
          const p = lab.spawnIn('h', process.execPath, ['-e', script]);
          let out = '';
          p.stdout?.on('data', (d) => {
            out += d;
          });
          p.once('close', () => resolve(out.trim()));
        });
      assert.equal(await ask('100.64.17.1'), 'echo hi');
      assert.equal(await ask('fd00:64:17::1'), 'echo hi');
      // Least privilege: the pump holds nothing, its janitor cap_net_admin alone (no bind service).
      const caps = (pid: number | string) => {
        const st = readFileSync(`/proc/${pid}/status`, 'utf8');
        return ['CapPrm', 'CapEff'].map((c) => new RegExp(`^${c}:\\s*(\\w+)`, 'm').exec(st)![1]);
      };
      assert.deepEqual(caps(tun.pid), ['0000000000000000', '0000000000000000']);
      const janitor = readdirSync('/proc').filter((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          return stat.includes('(pm-janitor)') && Number(stat.split(') ')[1].split(' ')[1]) === tun.pid;
        } catch {
          return false;
        }
      });
      assert.equal(janitor.length, 1, 'the helper’s janitor');
      assert.deepEqual(caps(janitor[0]), ['0000000000001000', '0000000000001000']);
    } finally {
      for (const s of socks) s.close();
      await tun.close();
      loadDataplane()!.closeFd(tun.tunFd); // fd mode: the device goes with our descriptor
    }
    await waitFor('device gone', () => !lab.links('h').includes(ifname), 5000);
    assert.deepEqual(port53(), []);
  });

  it('the janitor applies the same check at runtime: no /1 address, no route outside the overlay', async () => {
    const tun = await startHelper({ name: name('j'), addresses: ['100.64.13.1/24'], dynamicRoutes: true });
    const answers: [string, string, string | null][] = [];
    tun.onRoute = (op, route, error) => answers.push([op, route, error]);
    const v4 = (a: number[], prefix: number): Cidr => ({ family: 4, bytes: Uint8Array.from(a), prefix });
    try {
      tun.setRoute('add-address', v4([100, 64, 0, 1], 1));
      tun.setRoute('add-address', v4([1, 2, 3, 4], 24));
      tun.setRoute('add', v4([0, 0, 0, 0], 1));
      tun.setRoute('add', v4([10, 0, 0, 0], 8));
      tun.setRoute('add', v4([100, 66, 0, 0], 16));
      tun.setRoute('add-address', v4([100, 64, 14, 1], 24));
      await waitFor('six answers', () => answers.length === 6, 5000);
      const no =
        'refused by the policy for callers that are not root: outside 100.64.0.0/10 and fd00::/8 (a route: and not in /etc/peermesh/route.allow)';
      assert.deepEqual(answers, [
        ['add-address', '100.64.0.1/1', no],
        ['add-address', '1.2.3.4/24', no],
        ['add', '0.0.0.0/1', no],
        ['add', '10.0.0.0/8', no],
        ['add', '100.66.0.0/16', null],
        ['add-address', '100.64.14.1/24', null],
      ]);
      const routes = lab.exec('h', 'ip', ['route']);
      assert.doesNotMatch(routes, /^(0\.0\.0\.0|1\.2\.3\.0|10\.0\.0\.0|100\.0\.0\.0|0\.0\.0\.0)\/\d+ /m);
      assert.match(routes, new RegExp(`100\\.66\\.0\\.0/16 dev ${name('j')}`));
    } finally {
      await tun.close();
    }
  });

  it('--forward: refused for a subnet not in forward.allow, works with nft masquerade for one in it', async () => {
    const ifname = name('f');
    await refused(
      { name: ifname, addresses: ['100.64.15.1/24'], forward: ['198.19.100.0/24'] },
      /refused: --forward 198\.19\.100\.0\/24: not in \/etc\/peermesh\/forward\.allow/,
    );
    await refused(
      { name: ifname, addresses: ['100.64.15.1/24'], forward: ['198.19.0.0/16'] }, // wider than the entry
      /refused: --forward 198\.19\.0\.0\/16/,
    );
    assert.equal(lab.exec('h', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '0');
    const table = `peermesh_${ifname}`;
    const tun = await startHelper({
      name: ifname,
      addresses: ['100.64.15.1/24'],
      forward: ['198.19.200.0/25', 'fd00:beef:0:1::/64'],
    });
    try {
      const rules = lab.exec('h', 'nft', ['list', 'table', 'inet', table]);
      assert.match(rules, new RegExp(`iifname "${ifname}" ip daddr 198\\.19\\.200\\.0/25 masquerade`));
      assert.match(rules, /ip6 daddr fd00:beef:0:1::\/64 masquerade/);
      assert.equal(lab.exec('h', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '1');
    } finally {
      await tun.close();
    }
    await waitFor('table removed', () => !lab.tryExec('h', 'nft', ['list', 'table', 'inet', table]).ok, 5000);
    assert.equal(lab.exec('h', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '0');
  });

  it('an exit node (--exit) and using one (all traffic through the device) need root to list 0.0.0.0/0', async () => {
    await refused(
      { name: name('x'), addresses: ['100.64.16.1/24'], exit: true },
      /refused: --exit: 0\.0\.0\.0\/0 is not in \/etc\/peermesh\/forward\.allow/,
    );
    const tun = await startHelper({ name: name('y'), addresses: ['100.64.17.1/24'], dynamicRoutes: true });
    const answers: [string, string | null][] = [];
    tun.onRoute = (op, _route, error) => answers.push([op, error]);
    try {
      tun.setExitRouting(true, 51820, false);
      await waitFor('an answer', () => answers.length === 1, 5000);
      assert.deepEqual(answers, [
        ['exit-on', 'refused for callers that are not root: 0.0.0.0/0 is not in /etc/peermesh/route.allow'],
      ]);
      assert.doesNotMatch(lab.exec('h', 'ip', ['rule', 'list']), /^1\d{4}:/m);
    } finally {
      await tun.close();
    }
  });

  it('a root caller: still no route or address wider than /8, no --user root, and the janitor agrees; under pkexec the local-user policy', async () => {
    const asRoot = (args: string[]) =>
      spawnSync('ip', ['netns', 'exec', lab.ns('h'), defaultHelperPath(), ...args, '--fd', '1'], {
        encoding: 'utf8',
        timeout: 10_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    for (const [args, re] of [
      [['--route', '0.0.0.0/1'], /refused: --route 0\.0\.0\.0\/1: wider than IPv4 \/8/],
      [['--addr', '100.64.0.1/1'], /refused: --addr 100\.64\.0\.1\/1: wider than IPv4 \/8/],
      [['--user', 'root'], /refused: --user with uid 0: the packet pump never runs as root/],
    ] as const) {
      const r = asRoot(['--name', name('r'), '--mtu', '1420', ...args]);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, re);
    }
    // Started by pkexec (root, PKEXEC_UID set): the same policy as for a user who is not root.
    const viaPkexec = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        lab.ns('h'),
        'env',
        'PKEXEC_UID=1000',
        defaultHelperPath(),
        '--name',
        name('r'),
      ].concat(['--mtu', '1420', '--addr', '198.18.30.1/24', '--fd', '1']),
      { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    assert.equal(viaPkexec.status, 3, viaPkexec.stderr);
    assert.match(viaPkexec.stderr, /refused: --addr 198\.18\.30\.1\/24: outside the overlay/);
    const tun = await TunHelper.start({
      helperPath: defaultHelperPath(),
      launcher: ['ip', 'netns', 'exec', lab.ns('h')],
      name: name('r'),
      mtu: 1420,
      addresses: ['198.18.30.1/24'], // a root caller may use addresses outside the overlay
      dynamicRoutes: true,
    });
    const answers: (string | null)[] = [];
    tun.onRoute = (_op, _route, error) => answers.push(error);
    try {
      tun.setRoute('add-address', { family: 4, bytes: Uint8Array.from([100, 64, 0, 1]), prefix: 1 });
      tun.setRoute('add', { family: 4, bytes: Uint8Array.from([10, 0, 0, 0]), prefix: 8 });
      await waitFor('two answers', () => answers.length === 2, 5000);
      assert.deepEqual(answers, ['refused: wider than IPv4 /8 or IPv6 /16', null]);
      assert.doesNotMatch(lab.exec('h', 'ip', ['route']), /^100\.0\.0\.0\/1 /m);
    } finally {
      await tun.close();
    }
  });

  it("another user's helper cannot take over a forwarding helper's NAT table by a look-alike name (pm-t vs pm_t)", async () => {
    const [a, b] = [`p${lab.id}_t`, `p${lab.id}-t`];
    const first = await startHelper({ name: a, addresses: ['100.64.17.1/24'], forward: ['198.19.200.0/26'] });
    try {
      const second = await startHelper({
        name: b,
        addresses: ['100.64.18.1/24'],
        forward: ['198.19.200.64/26'],
      });
      await second.close();
      const tables = lab.exec('h', 'nft', ['list', 'tables']);
      const mine = /table inet (peermesh_\S+)/g;
      const names = [...tables.matchAll(mine)].map((m) => m[1]);
      assert.equal(names.length, 1, tables);
      const rules = lab.exec('h', 'nft', ['list', 'table', 'inet', names[0]]);
      assert.match(rules, new RegExp(`iifname "${a}" ip daddr 198\\.19\\.200\\.0/26 masquerade`));
    } finally {
      await first.close();
    }
  });

  it('peermesh up --advertise-route as nobody with the capability helper: a member reaches the LAN behind it', async (t) => {
    // B (namespace h) runs the real CLI as nobody; A (root) is a member on another network; P is
    // a host on B's LAN 198.19.200.0/24, which forward.allow lists.
    const readable = spawnSync('setpriv', [...NOBODY.slice(0, 5), 'test', '-r', CLI]).status === 0;
    if (!readable) {
      t.skip(`nobody cannot read ${CLI} (the checkout's directory modes)`);
      return;
    }
    for (const h of ['a', 'p']) lab.addHost(h);
    lab.link('a', '198.18.40.1/24', 'h', '198.18.40.2/24', { aIf: `v${lab.id}a`, bIf: `u${lab.id}h` });
    lab.link('h', '198.19.200.1/24', 'p', '198.19.200.2/24', { aIf: `l${lab.id}h`, bIf: `l${lab.id}p` });
    const stateB = join(dir, 'state-b');
    mkdirSync(stateB, { mode: 0o700 });
    chownSync(stateB, 65534, 65534);
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'printing as nobody\n', { mode: 0o600 });
    chownSync(secret, 65534, 65534);
    const common = (h: string) => ['--network', 'home', '--secret-file', secret, '--name', `node-${h}`];
    const { proc: b, output } = await startAsNobody('B up', / up: interface /, [
      process.execPath,
      CLI,
      'up',
      '--state-dir',
      stateB,
      ...['--interface', name('B'), ...common('b'), '--advertise-route', '198.19.200.0/24'],
    ]);
    const a = await startNode(lab, 'a', join(dir, 'state-a'), [
      '--interface',
      name('A'),
      ...common('a'),
      '--bootstrap',
      '198.18.40.2:51820',
      '--accept-routes', // offers are not routed unless the member's user accepts them (docs/mesh.md)
    ]);
    try {
      await waitFor(
        'A pings P through B',
        () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '198.19.200.2']).ok,
        20_000,
      );
      assert.equal(lab.exec('h', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '1');
      const helperPid = Number(
        lab.exec('h', 'sh', ['-c', `pgrep -u 65534 -x peermesh-helper | head -1`]).trim() || '0',
      );
      assert.ok(helperPid > 0, 'a helper runs as nobody');
    } finally {
      await stopNode(a);
      await stopNode({ proc: b, log: output, stateDir: stateB });
    }
    assert.equal(lab.exec('h', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(), '0', 'forwarding restored');
    assert.doesNotMatch(lab.exec('h', 'nft', ['list', 'tables']), /peermesh_/);
  });

  it('refuses an allow file a user could have written: not root-owned, group/other-writable, a symlink', async () => {
    const bad = join(dir, 'bad-policy');
    const attempt = async (setup: () => void, re: RegExp) => {
      rmSync(bad, { recursive: true, force: true });
      mkdirSync(bad, { mode: 0o755 });
      chmodSync(bad, 0o755);
      setup();
      await refused(
        { name: name('g'), addresses: ['100.64.16.1/24'], forward: ['198.19.100.0/24'] },
        re,
        bad,
      );
    };
    const file = join(bad, 'forward.allow');
    await attempt(() => {
      writeFileSync(file, '198.19.100.0/24\n', { mode: 0o644 });
      chownSync(file, 65534, 65534);
    }, /refusing \/etc\/peermesh\/forward\.allow: not a regular file owned by root/);
    await attempt(() => {
      writeFileSync(file, '198.19.100.0/24\n');
      chmodSync(file, 0o666);
    }, /refusing \/etc\/peermesh\/forward\.allow: not a regular file owned by root/);
    await attempt(() => {
      writeFileSync(join(bad, 'elsewhere'), '198.19.100.0/24\n', { mode: 0o644 });
      symlinkSync(join(bad, 'elsewhere'), file);
    }, /refusing \/etc\/peermesh\/forward\.allow: Too many levels of symbolic links/);
    await attempt(() => {
      writeFileSync(file, '198.19.100.0/24\n', { mode: 0o644 });
      chmodSync(bad, 0o777);
    }, /refusing \/etc\/peermesh: not a directory owned by root/);
    await attempt(() => {
      writeFileSync(file, '198.19.100.0/24 extra\n', { mode: 0o644 });
    }, /refusing \/etc\/peermesh\/forward\.allow: line 1 is not a CIDR/);
  });
});
