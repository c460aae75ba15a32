// `peermesh up --ui` as root drops to an unprivileged user too (docs/security.md section 12): the web
// UI's manager starts and stops the node (and so the TUN helper) at runtime, so root first makes a
// helper copy with cap_net_admin that the user may start (main/node/core-helper.ts), then drops. Real
// processes in namespaces, as root: A runs `up --ui 0` (the default user `peermesh`), B a plain root
// `up` to ping through the tunnel. Read from /proc: every thread of A runs as the user with no group
// and no capability; the helper it started runs as the user, its janitor with cap_net_admin alone.
// A disconnect and a connect through the web UI's API (WebSocket, with the printed token) bring the
// node back, helper, tunnel and members' names in the hosts file included, without root; members'
// names answered by A's DNS responder on its overlay address, port 53, on a socket the helper bound
// for it (the process itself cannot bind below 1024 and has no capability; on the TypeScript data
// path, which takes no sockets from the helper, the node says it has no responder). The refusals are
// one line naming --stay-root: a file system without extended attributes for the copy (ramfs: setcap fails, as on
// any file system without file capabilities), one mounted nosuid (the kernel would ignore the
// capability), a /dev/net/tun the user may not open, a user whose group others share. Options the
// helper's policy refuses a user: an offered subnet not in forward.allow ends the start with the
// helper's reason and a line naming the allow file and --stay-root; --exit-node without 0.0.0.0/0 in
// route.allow is refused before the drop.
//
// Test hook: PEERMESH_CORE_HELPER_DIR puts the helper copy in a scratch directory (by default
// /usr/local/lib/peermesh); the refusals point it at a ramfs and a nosuid tmpfs mounted for them.
// This machine's /dev/net/tun is 0600 (distributions ship 0666): A runs with a 0666 node of the same
// device bind-mounted over it, in its own mount namespace (`ip netns exec` makes one).
//
//   a 198.18.0.1   b 198.18.0.2
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NsApiClient } from '../lib/app-client';
import { resolveAt } from '../lib/dns-query';
import { NetnsLab, netnsSkipReason, sh, sleep, trySh, waitFor } from '../lib/netns';
import {
  CLI,
  DATA_PATH,
  type RunningNode,
  removeDir,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

function skipReason(): string | null {
  const ns = netnsSkipReason();
  if (ns) return ns;
  for (const tool of ['setcap', 'getcap', 'mknod'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `skipped: needs ${tool}`;
  return null;
}
const skip = skipReason();

function field(status: string, name: string): string {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1].trim() ?? '';
}

/** The processes below `pid` (children, their children...), from /proc/PID/stat's ppid field. */
function descendants(pid: number): number[] {
  const kids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(e));
    } catch {
      /* ended meanwhile */
    }
  }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

/** How many lines of `text` match `re` (a log line printed twice counts twice). */
function linesMatching(text: string, re: RegExp): number {
  return text.split('\n').filter((l) => re.test(l)).length;
}

/**
 * Lets this process read what the node wrote on stderr before lines are counted: the test before
 * can end on synchronous checks alone (spawnSync pings, a first waitFor try that succeeds), and
 * then no turn of this event loop has read the pipe since the connect's answer. Waits (at most 5 s)
 * until `want` lines match, then 300 ms more so that a line printed twice is there too; the count
 * itself is the caller's assertion.
 */
async function stderrSettled(text: () => string, re: RegExp, want: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (linesMatching(text(), re) < want && Date.now() < deadline) await sleep(50);
  await sleep(300);
}

/** A plain root `up` on b, a member of `network` that bootstraps from a (198.18.0.1); its overlay IPv4. */
async function startMemberB(
  lab: NetnsLab,
  stateDir: string,
  network: string,
  secret: string,
): Promise<string> {
  await startNode(lab, 'b', stateDir, [
    ...lab.memberArgs('b', network, secret),
    '--bootstrap',
    '198.18.0.1:51820',
  ]);
  const st = JSON.parse(
    sh('ip', [
      'netns',
      'exec',
      lab.ns('b'),
      process.execPath,
      CLI,
      'status',
      '--json',
      '--state-dir',
      stateDir,
    ]),
  ) as { addresses: string[] };
  return st.addresses[0].split('/')[0];
}

/** The processes below `pid` with their command and status. */
function processesBelow(pid: number): { pid: number; cmd: string; st: string }[] {
  return descendants(pid).flatMap((p) => {
    try {
      const st = readFileSync(`/proc/${p}/status`, 'utf8');
      return [{ pid: p, cmd: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0], st }];
    } catch {
      return []; // ended meanwhile
    }
  });
}

/** The helper processes a node started: the user's, the pump without capabilities, the janitor with cap_net_admin only. */
function checkHelperProcs(
  all: { pid: number; cmd: string; st: string }[],
  copy: string,
  uid: number,
  gid: number,
) {
  const procs = all.filter((p) => p.cmd.endsWith(copy));
  assert.ok(procs.length >= 2, `a helper and its janitor: ${JSON.stringify(all.map((p) => p.cmd))}`);
  const caps = new Set<string>();
  for (const p of procs) {
    assert.deepEqual(
      field(p.st, 'Uid').split(/\s+/).map(Number),
      [uid, uid, uid, uid],
      `helper ${p.pid} uid`,
    );
    assert.deepEqual(
      field(p.st, 'Gid').split(/\s+/).map(Number),
      [gid, gid, gid, gid],
      `helper ${p.pid} gid`,
    );
    const eff = BigInt(`0x${field(p.st, 'CapEff')}`);
    assert.equal(eff & ~0x1000n, 0n, `helper ${p.pid}: cap_net_admin (bit 12) at most, CapEff ${eff}`);
    caps.add(eff.toString(16));
  }
  assert.deepEqual([...caps].sort(), ['0', '1000'], 'the pump has none, the janitor cap_net_admin');
}

/**
 * The dropped node answers members' names on its overlay address `addrA`, port 53 (a socket its
 * helper bound: the process has no capability), to a member through the tunnel and to itself. That
 * is the native path's: the TypeScript path takes no sockets from the helper (no descriptor socket)
 * and the dropped process may not bind port 53, so there the node says so in one line and members'
 * names stay in the hosts file only (docs/dns.md "Who binds port 53"). Each checks the path it ran.
 */
async function checkDropped53(
  lab: NetnsLab,
  log: () => string,
  addrA: string,
  nameB: string,
  addrB: string,
): Promise<void> {
  if (DATA_PATH === 'typescript') {
    assert.doesNotMatch(log(), /native data path \(/);
    const line = new RegExp(
      `no DNS responder on ${addrA.replace(/\./g, '\\.')}:53 \\(\\w+\\): names stay in the hosts file only`,
    );
    await waitFor(`a’s "no DNS responder on ${addrA}:53" line`, () => line.test(log()), 15_000, 200);
    assert.notEqual(resolveAt(lab, 'b', addrA, nameB), addrB, 'an answer from port 53');
    return;
  }
  assert.match(log(), /native data path \(/);
  await waitFor(
    `${nameB} through a’s responder at ${addrA}:53`,
    () => resolveAt(lab, 'b', addrA, nameB) === addrB,
    15_000,
    300,
  );
  assert.equal(resolveAt(lab, 'a', addrA, nameB), addrB, 'on a itself');
  assert.doesNotMatch(log(), /no DNS responder/);
  assert.match(log(), new RegExp(`answered on ${addrA.replace(/\./g, '\\.')}\\b.* port 53`));
}

/** Every thread of `pid` runs as uid/gid, with no supplementary group and no capability. */
function checkThreads(pid: number, uid: number, gid: number): void {
  const tasks = readdirSync(`/proc/${pid}/task`);
  assert.ok(tasks.length > 3, 'the UI server, the node worker, libuv and V8 threads');
  for (const tid of tasks) {
    const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    assert.deepEqual(field(st, 'Uid').split(/\s+/).map(Number), [uid, uid, uid, uid], `thread ${tid}`);
    assert.deepEqual(field(st, 'Gid').split(/\s+/).map(Number), [gid, gid, gid, gid], `thread ${tid}`);
    assert.equal(field(st, 'Groups'), '', `thread ${tid} groups`);
    for (const cap of ['CapPrm', 'CapEff', 'CapAmb'])
      assert.match(field(st, cap), /^0+$/, `thread ${tid} ${cap}`);
  }
}

describe('peermesh up --ui as root runs the web UI and its node unprivileged', {
  skip: skip ?? false,
}, () => {
  const lab = new NetnsLab();
  const dir = tempDir('privdrop-ui');
  const secret = join(dir, 'secret');
  const helpers = join(dir, 'helpers'); // root's, 0755: where the copy goes (test hook)
  const tun = join(dir, 'tun');
  const mounts: string[] = [];
  const env = { ...process.env, PEERMESH_CORE_HELPER_DIR: helpers };
  const ifA = () => `pm${lab.id}a`;
  const hostsA = () => `/etc/netns/${lab.ns('a')}/hosts`;
  let a: {
    proc: ReturnType<NetnsLab['spawnIn']>;
    out: () => string;
    err: () => string;
    api: NsApiClient | null;
  } | null = null;
  let uid = -1;
  let gid = -1;
  let addrB = '';
  let addrA = '';

  /** `peermesh up ARGS` in a's namespace with /dev/net/tun bind-mounted from `tunNode` (or as it is). */
  const upArgs = (tunNode: string | null, args: string[]) =>
    tunNode
      ? [
          'sh',
          [
            '-c',
            'mount --bind "$0" /dev/net/tun && exec "$@"',
            tunNode,
            process.execPath,
            CLI,
            'up',
            ...args,
          ],
        ]
      : [process.execPath, [CLI, 'up', ...args]];
  const aArgs = (extra: string[] = []) => [
    '--ui',
    '0',
    '--state-dir',
    join(dir, 'a'),
    ...lab.memberArgs('a', 'uidrop', secret),
    ...extra,
  ];

  /** A start that must fail: exit code and stderr. */
  const refusedStart = (tunNode: string | null, args: string[], hookDir = helpers) => {
    const [cmd, rest] = upArgs(tunNode, args) as [string, string[]];
    const r = spawnSync('ip', ['netns', 'exec', lab.ns('a'), cmd, ...rest], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, PEERMESH_CORE_HELPER_DIR: hookDir },
    });
    return { code: r.status, stderr: r.stderr };
  };

  const helperProcs = () => processesBelow(a!.proc.pid!);
  const checkHelpers = () => checkHelperProcs(helperProcs(), 'peermesh-helper.peermesh', uid, gid);

  const pingB = (what: string) =>
    waitFor(what, () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', addrB]).ok, 20_000, 200);

  before(async () => {
    lab.lanOf(['a', 'b']);
    writeFileSync(secret, 'the web UI has no root either\n', { mode: 0o600 });
    mkdirSync(helpers, { mode: 0o755 });
    sh('mknod', ['-m', '0666', tun, 'c', '10', '200']);
    const [cmd, rest] = upArgs(tun, aArgs()) as [string, string[]];
    const proc = lab.spawnIn('a', cmd, rest, { env });
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    proc.stderr?.on('data', (d) => {
      out += d;
      err += d;
    });
    a = { proc, out: () => out, err: () => err, api: null };
    await waitFor(
      'up --ui on a to come up',
      () => {
        if (proc.exitCode !== null) throw new Error(`up --ui exited ${proc.exitCode}: ${out}`);
        return / up: interface /.test(out) && /web UI: http:\S+/.test(out);
      },
      20_000,
    );
    uid = Number(sh('id', ['-u', 'peermesh']).trim());
    gid = Number(sh('id', ['-g', 'peermesh']).trim());
    a.api = await NsApiClient.open(lab, 'a', /web UI: (http:\S+)/.exec(out)![1]);
    addrB = await startMemberB(lab, join(dir, 'b'), 'uidrop', secret);
  });

  after(async () => {
    a?.api?.close();
    await lab.cleanup();
    for (const m of mounts.reverse()) trySh('umount', [m]);
    removeDir(dir);
  });

  it('every thread of the process runs as the user: no root, no groups, no capabilities', () => {
    assert.ok(uid > 0 && gid > 0);
    assert.match(a!.out(), / running as peermesh \(uid \d+, gid \d+\) without capabilities/);
    checkThreads(a!.proc.pid!, uid, gid);
    for (const d of [join(dir, 'a'), join(dir, 'a', 'private.key')]) assert.equal(statSync(d).uid, uid, d);
  });

  it('the node is up: its TUN device, a helper copy root:<group> 0750 with cap_net_admin and cap_net_bind_service, the helper running as the user; pings', async () => {
    assert.ok(lab.links('a').includes(ifA()));
    const copy = join(helpers, 'peermesh-helper.peermesh');
    const st = statSync(copy);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, gid, 0o750]);
    assert.match(sh('getcap', [copy]), /cap_net_bind_service,cap_net_admin[=+]ep/);
    assert.match(
      a!.out(),
      /starts the helper \S+peermesh-helper\.peermesh \(cap_net_admin, cap_net_bind_service, (installed|kept)\)/,
    );
    checkHelpers();
    await pingB('a pings b');
  });

  it('a disconnect and a connect from the web UI bring the node back without root: device, helper, tunnel', async () => {
    const api = a!.api!;
    const oldHelpers = helperProcs().map((p) => p.pid);
    const down = (await api.call('disconnect')) as { state: string };
    assert.equal(down.state, 'disconnected');
    await waitFor('the interface gone', () => !lab.links('a').includes(ifA()), 5000, 100);
    await waitFor('the helper gone', () => helperProcs().length === 0, 5000, 100);
    const up = (await api.call('connect')) as { state: string; network: { ipv4: string } };
    assert.equal(up.state, 'connected');
    assert.ok(lab.links('a').includes(ifA()), 'the device is back');
    const now = helperProcs().map((p) => p.pid);
    assert.ok(now.length > 0 && now.every((p) => !oldHelpers.includes(p)), 'a new helper');
    checkHelpers();
    await pingB('a pings b after the reconnect');
    // Members' names go on into the hosts file (a's own, bind-mounted over /etc/hosts in its
    // namespace) through the descriptor root opened before the drop, after the reconnect too.
    await waitFor(
      'node-b.uidrop in a’s hosts file',
      () => readFileSync(hostsA(), 'utf8').includes(`${addrB}\tnode-b.uidrop`),
      15_000,
      200,
    );
    lab.exec('b', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', up.network.ipv4]);
    addrA = up.network.ipv4;
  });

  it(`${DATA_PATH === 'native' ? 'answers members’ names on its overlay address, port 53, bound by its helper' : 'no port 53 on the TypeScript path (no helper sockets): says so, names in the hosts file'}; the process still has no capability`, async () => {
    await checkDropped53(lab, a!.out, addrA, 'node-b.uidrop', addrB);
    checkThreads(a!.proc.pid!, uid, gid);
  });

  it('prints each log line once on stderr: the node’s start line once per start (the worker’s and the manager’s writes were both there)', async () => {
    await stderrSettled(a!.err, new RegExp(` up: interface ${ifA()} `), 2);
    assert.equal(linesMatching(a!.err(), new RegExp(` up: interface ${ifA()} `)), 2, a!.err());
    assert.equal(linesMatching(a!.err(), / running as peermesh \(uid/), 1);
  });

  it('stops cleanly on SIGTERM: exit 0, device and hosts block gone', async () => {
    const node: RunningNode = { proc: a!.proc, log: a!.out, stateDir: join(dir, 'a') };
    a!.api?.close();
    assert.equal(await stopNode(node), 0);
    assert.ok(!lab.links('a').includes(ifA()));
    assert.doesNotMatch(readFileSync(hostsA(), 'utf8'), /peermesh/, 'its hosts block removed');
  });

  it('refuses with one line naming --stay-root when no capable helper can be made', () => {
    const expect = (r: { code: number | null; stderr: string }, why: RegExp, what: string) => {
      assert.equal(r.code, 2, `${what}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${what}: one line: ${r.stderr}`);
      assert.match(lines[0], why, what);
      assert.match(lines[0], /--stay-root/, what);
      assert.ok(!lab.links('a').includes(ifA()), `${what}: no interface`);
    };
    // A file system without extended attributes (ramfs): setcap cannot give the copy its capability.
    const noXattr = join(dir, 'ramfs');
    mkdirSync(noXattr, { mode: 0o755 });
    sh('mount', ['-t', 'ramfs', '-o', 'mode=0755', 'pmtest', noXattr]);
    mounts.push(noXattr);
    expect(
      refusedStart(tun, aArgs(), noXattr),
      /setcap on \S+ failed: .*(not supported|Operation)/i,
      'ramfs',
    );
    assert.deepEqual(readdirSync(noXattr), [], 'no copy and no temporary file left');
    // nosuid: the kernel would ignore the file capability.
    const nosuid = join(dir, 'nosuid');
    mkdirSync(nosuid, { mode: 0o755 });
    sh('mount', ['-t', 'tmpfs', '-o', 'nosuid,mode=0755', 'pmtest', nosuid]);
    mounts.push(nosuid);
    expect(refusedStart(tun, aArgs(), nosuid), /mounted nosuid/, 'nosuid');
    // This machine's own /dev/net/tun (0600): the user could not open it.
    const mode = (statSync('/dev/net/tun').mode & 0o777).toString(8);
    if (mode === '600') expect(refusedStart(null, aArgs()), /\/dev\/net\/tun is mode 600/, 'tun 0600');
    // nobody's group nogroup is other accounts' too (Debian: sync, _apt): the copy would be theirs.
    const sharers = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .filter((l) => l.split(':')[3] === '65534' && !l.startsWith('nobody:'));
    if (sharers.length)
      expect(refusedStart(tun, aArgs(['--user', 'nobody'])), /group nogroup is also .*'s/, '--user nobody');
    assert.equal(existsSync(join(helpers, 'peermesh-helper.nobody')), false);
  });

  it('options the helper refuses a user: an offered subnet stops the start with its reason, --exit-node before the drop', () => {
    // Where /etc/peermesh/forward.allow does not exist (this machine), the helper run by the user
    // refuses it; the start ends (exit 1) with the helper's reason and what to do.
    if (!existsSync('/etc/peermesh/forward.allow')) {
      const offered = refusedStart(tun, aArgs(['--advertise-route', '198.19.100.0/24']));
      assert.equal(offered.code, 1, offered.stderr);
      assert.match(
        offered.stderr,
        /refused: --forward 198\.19\.100\.0\/24: not in \/etc\/peermesh\/forward\.allow/,
      );
      assert.match(
        offered.stderr,
        /the node runs as peermesh, .*forward\.allow, or keep root with --stay-root/,
      );
      assert.ok(!lab.links('a').includes(ifA()), 'no interface');
    }
    if (!existsSync('/etc/peermesh/route.allow')) {
      const exit = refusedStart(tun, aArgs(['--exit-node', 'node-b']));
      assert.equal(exit.code, 2, exit.stderr);
      assert.match(
        exit.stderr.trim(),
        /^peermesh: --exit-node with --ui as root: .*lists 0\.0\.0\.0\/0 in \/etc\/peermesh\/route\.allow.*--stay-root$/,
      );
    }
  });
});

// `peermesh ui` (the profile's web UI, no fixed config) as root drops the same way: root makes the
// helper copy, opens the hosts file, gives the profile directory to the user (here one an earlier
// root run left root's), drops, and only then serves the web UI. A network created from the web API
// (its secret written by the manager at runtime) is the user's; the node and helper run as the user.
describe('peermesh ui as root runs the profile web UI and its node unprivileged', {
  skip: skip ?? false,
}, () => {
  const lab = new NetnsLab();
  const dir = tempDir('privdrop-ui-profile');
  const profile = join(dir, 'profile');
  const helpers = join(dir, 'helpers');
  const tun = join(dir, 'tun');
  const ifA = () => `pm${lab.id}a`;
  const hostsA = () => `/etc/netns/${lab.ns('a')}/hosts`;
  let proc: ReturnType<NetnsLab['spawnIn']> | null = null;
  let out = '';
  let err = '';
  let api: NsApiClient | null = null;
  let uid = -1;
  let gid = -1;
  let addrB = '';
  const uiArgs = (tunNode: string | null, args: string[]): [string, string[]] => {
    const cli = [process.execPath, CLI, 'ui', '--profile-dir', profile, ...args];
    return tunNode
      ? ['sh', ['-c', 'mount --bind "$0" /dev/net/tun && exec "$@"', tunNode, ...cli]]
      : [cli[0], cli.slice(1)];
  };
  const pingB = (what: string) =>
    waitFor(what, () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', addrB]).ok, 20_000, 200);
  /** Every file and directory of the profile with its owner (links not followed). */
  const owners = (p: string): { path: string; uid: number }[] => {
    const st = lstatSync(p);
    const here = [{ path: p, uid: st.uid }];
    return st.isDirectory() ? here.concat(...readdirSync(p).map((e) => owners(join(p, e)))) : here;
  };

  before(async () => {
    lab.lanOf(['a', 'b']);
    mkdirSync(helpers, { mode: 0o755 });
    sh('mknod', ['-m', '0666', tun, 'c', '10', '200']);
    // A profile an earlier root `peermesh ui` left: root's directory and settings (0700/0600).
    mkdirSync(profile, { mode: 0o700 });
    writeFileSync(
      join(profile, 'settings.json'),
      `${JSON.stringify({ nodeName: 'node-a', listenPort: 51820, interfaceName: ifA() })}\n`,
      { mode: 0o600 },
    );
    const [cmd, rest] = uiArgs(tun, ['--port', '0']);
    proc = lab.spawnIn('a', cmd, rest, { env: { ...process.env, PEERMESH_CORE_HELPER_DIR: helpers } });
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    proc.stderr?.on('data', (d) => {
      out += d;
      err += d;
    });
    await waitFor(
      'peermesh ui on a to serve',
      () => {
        if (proc!.exitCode !== null) throw new Error(`ui exited ${proc!.exitCode}: ${out}`);
        return /web UI: http:\S+/.test(out);
      },
      20_000,
    );
    uid = Number(sh('id', ['-u', 'peermesh']).trim());
    gid = Number(sh('id', ['-g', 'peermesh']).trim());
    api = await NsApiClient.open(lab, 'a', /web UI: (http:\S+)/.exec(out)![1]);
  });

  after(async () => {
    api?.close();
    await lab.cleanup();
    removeDir(dir);
  });

  it('every thread runs as the user before any network exists; the profile is the user’s', () => {
    assert.ok(uid > 0 && gid > 0);
    assert.match(out, / running as peermesh \(uid \d+, gid \d+\) without capabilities/);
    checkThreads(proc!.pid!, uid, gid);
    for (const o of owners(profile)) assert.equal(o.uid, uid, o.path);
  });

  it('a network created from the web API connects as the user: secret and state the user’s, helper as the user, pings', async () => {
    const st = (await api!.call('create-network', { name: 'uiprof' })) as { state: string };
    assert.equal(st.state, 'connected', out);
    assert.ok(lab.links('a').includes(ifA()));
    const secret = join(profile, 'networks', 'uiprof.secret');
    const s = statSync(secret);
    assert.deepEqual([s.uid, s.mode & 0o777], [uid, 0o600], 'the secret the manager wrote');
    assert.equal(statSync(join(profile, 'state', 'uiprof', 'private.key')).uid, uid);
    for (const o of owners(profile)) assert.equal(o.uid, uid, `${o.path}: nothing in the profile is root's`);
    checkHelperProcs(processesBelow(proc!.pid!), 'peermesh-helper.peermesh', uid, gid);
    checkThreads(proc!.pid!, uid, gid);
    // b joins with the secret the manager wrote (root reads it for the test).
    const secretB = join(dir, 'secret-b');
    writeFileSync(secretB, readFileSync(secret), { mode: 0o600 });
    addrB = await startMemberB(lab, join(dir, 'b'), 'uiprof', secretB);
    await pingB('a pings b');
  });

  it('a disconnect and a connect bring the node back as the user: device, a new helper, tunnel, hosts file', async () => {
    const old = processesBelow(proc!.pid!).map((p) => p.pid);
    assert.equal(((await api!.call('disconnect')) as { state: string }).state, 'disconnected');
    await waitFor('the interface gone', () => !lab.links('a').includes(ifA()), 5000, 100);
    await waitFor('the helper gone', () => processesBelow(proc!.pid!).length === 0, 5000, 100);
    const up = (await api!.call('connect')) as { state: string; network: { ipv4: string } };
    assert.equal(up.state, 'connected');
    assert.ok(lab.links('a').includes(ifA()));
    const now = processesBelow(proc!.pid!);
    assert.ok(now.length > 0 && now.every((p) => !old.includes(p.pid)), 'a new helper');
    checkHelperProcs(now, 'peermesh-helper.peermesh', uid, gid);
    await pingB('a pings b after the reconnect');
    await waitFor(
      'node-b.uiprof in a’s hosts file (written through the descriptor root opened)',
      () => readFileSync(hostsA(), 'utf8').includes(`${addrB}\tnode-b.uiprof`),
      15_000,
      200,
    );
    lab.exec('b', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', up.network.ipv4]);
    await checkDropped53(lab, () => out, up.network.ipv4, 'node-b.uiprof', addrB);
    checkThreads(proc!.pid!, uid, gid);
  });

  it('prints each log line once on stderr: the node’s start line once per start, the manager’s once', async () => {
    await stderrSettled(() => err, new RegExp(` up: interface ${ifA()} `), 2);
    assert.equal(linesMatching(err, new RegExp(` up: interface ${ifA()} `)), 2, err);
    // The Logs view holds the same lines, each once.
    const kept = (await api!.call('logs', { level: 'info', limit: 1000 })) as { message: string }[];
    const text = kept.map((l) => l.message).join('\n');
    assert.equal(linesMatching(text, new RegExp(`^up: interface ${ifA()} `)), 2, text);
    assert.equal(linesMatching(err, / created network "uiprof"/), 1, err);
  });

  it('stops cleanly on SIGTERM: exit 0, device gone', async () => {
    api?.close();
    api = null;
    assert.equal(await stopNode({ proc: proc!, log: () => out, stateDir: profile }), 0);
    assert.ok(!lab.links('a').includes(ifA()));
    assert.doesNotMatch(readFileSync(hostsA(), 'utf8'), /peermesh/, 'its hosts block removed');
  });

  it('refuses with one line naming --stay-root: a port below 1024, this machine’s 0600 /dev/net/tun', () => {
    const refused = (tunNode: string | null, args: string[]) => {
      const [cmd, rest] = uiArgs(tunNode, args);
      const r = spawnSync('ip', ['netns', 'exec', lab.ns('a'), cmd, ...rest], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, PEERMESH_CORE_HELPER_DIR: helpers },
      });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /--stay-root/);
      return r.stderr;
    };
    assert.match(refused(tun, ['--port', '80']), /--port 80: the web UI runs as an unprivileged user/);
    if ((statSync('/dev/net/tun').mode & 0o777) === 0o600)
      assert.match(refused(null, ['--port', '0']), /\/dev\/net\/tun is mode 600/);
  });
});
