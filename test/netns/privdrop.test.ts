// `peermesh up` as root drops the core's privileges once it is up (docs/security.md "The core after
// `up` as root"): real nodes in namespaces, as root. A runs as the default user `peermesh` (created
// when missing), B with `--user nobody`. Read from /proc: every thread of each core runs as its user,
// with no supplementary group and no capability left. And the node still does everything it did as
// root afterwards: pings through the tunnel, a member's name written to the hosts file (B joins after
// A dropped, so only the held descriptor can have written it), DNS answers on port 53, the state
// directory written (0700/0600, owned by the user), `peermesh status` and `invite` over the control
// socket, a clean stop that removes its hosts block and control socket. `--user root` is refused.
//
//   a 198.18.0.1   b 198.18.0.2   (test/run.js runs it on both data paths)
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveAt } from '../lib/dns-query';
import { iperfTransfer, NetnsLab, netnsSkipReason, sh, waitFor } from '../lib/netns';
import {
  assertDataPath,
  type NodeStatus,
  type RunningNode,
  removeDir,
  runCli,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();

function field(status: string, name: string): string {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1].trim() ?? '';
}

describe('peermesh up as root runs the core unprivileged', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('privdrop');
  const hostsA = join(dir, 'hosts-a');
  const nodes: Record<string, RunningNode> = {};
  // B's state directory is two levels below directories that do not exist yet: the node makes them
  // (0700) and they must be the user's too.
  const stateOf: Record<string, string> = { a: join(dir, 'a'), b: join(dir, 'new', 'nest', 'b') };
  const addr: Record<string, string> = {};
  let uidA = -1;
  let uidNobody = -1;

  const cli = (h: string, ...args: string[]) => {
    const r = runCli([...args, '--state-dir', stateOf[h]], lab.ns(h));
    assert.equal(r.code, 0, `${h} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const args = (h: string, extra: string[] = []) => [
    ...lab.memberArgs(h, 'drop', join(dir, 'secret'), h),
    ...extra,
  ];

  before(async () => {
    lab.lanOf(['a', 'b']);
    writeFileSync(join(dir, 'secret'), 'no root for strangers\n', { mode: 0o600 });
    writeFileSync(hostsA, '127.0.0.1\tlocalhost\n', { mode: 0o644 });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--hosts-file', hostsA]));
    nodes.b = await startNode(
      lab,
      'b',
      stateOf.b,
      args('b', ['--bootstrap', '198.18.0.1:51820', '--hosts-file', 'none', '--user', 'nobody']),
    );
    uidA = Number(sh('id', ['-u', 'peermesh']).trim());
    uidNobody = Number(sh('id', ['-u', 'nobody']).trim());
    for (const h of ['a', 'b']) {
      const s = JSON.parse(cli(h, 'status', '--json')) as NodeStatus;
      assertDataPath(s); // the dropped node's sockets and descriptors depend on it
      addr[h] = s.addresses[0].split('/')[0];
    }
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('every thread of each core runs as its user, no groups, no capabilities', () => {
    for (const [h, uid] of [
      ['a', uidA],
      ['b', uidNobody],
    ] as const) {
      assert.ok(uid > 0);
      const pid = nodes[h].proc.pid!;
      assert.match(nodes[h].log(), / running as \S+ \(uid \d+, gid \d+\) without capabilities/);
      const tasks = readdirSync(`/proc/${pid}/task`);
      assert.ok(tasks.length > 1, 'the core has several threads');
      for (const tid of tasks) {
        const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        assert.deepEqual(
          field(st, 'Uid').split(/\s+/).map(Number),
          [uid, uid, uid, uid],
          `${h} thread ${tid}`,
        );
        assert.ok(!field(st, 'Gid').split(/\s+/).map(Number).includes(0), `${h} thread ${tid} gid`);
        assert.equal(field(st, 'Groups'), '', `${h} thread ${tid} groups`);
        for (const cap of ['CapPrm', 'CapEff', 'CapAmb'])
          assert.match(field(st, cap), /^0+$/, `${h} thread ${tid} ${cap}`);
      }
    }
  });

  it('the tunnel works: pings and a bulk TCP transfer both ways (the data plane’s threads survived the drop)', async () => {
    await waitFor(
      'a pings b',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', addr.b]).ok,
      20_000,
      200,
    );
    lab.exec('b', 'ping', ['-c', '3', '-i', '0.2', '-W', '2', addr.a]);
    // Bulk traffic takes the native path's receive thread (a ping is served by the send thread alone).
    assert.ok(iperfTransfer(lab, 'b', addr.b, 'a', 5301) > 1_000_000);
    assert.ok(iperfTransfer(lab, 'a', addr.a, 'b', 5302) > 1_000_000);
    lab.exec('a', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', addr.b]);
  });

  it('the hosts file gets B (who joined after A dropped), and A answers DNS on port 53', async () => {
    await waitFor(
      'b.drop in A’s hosts file',
      () => readFileSync(hostsA, 'utf8').includes(`${addr.b}\tb.drop`),
      15_000,
      200,
    );
    assert.match(readFileSync(hostsA, 'utf8'), /^127\.0\.0\.1\tlocalhost$/m, 'the rest of the file is kept');
    const st = JSON.parse(cli('a', 'status', '--json')) as { network: { dns: { servedOn: string[] } } };
    assert.ok(st.network.dns.servedOn.includes(addr.a));
    assert.equal(resolveAt(lab, 'b', addr.a, 'b.drop'), addr.b);
  });

  it('the state directory belongs to the user and is written after the drop (0700, files 0600)', async () => {
    const sd = stateOf.a;
    assert.equal(statSync(sd).uid, uidA);
    assert.equal(statSync(sd).mode & 0o777, 0o700);
    assert.equal(statSync(join(sd, 'private.key')).mode & 0o777, 0o600);
    assert.equal(existsSync(join(sd, 'invites-drop.json')), false);
    const code = cli('a', 'invite').trim(); // the core saves its invitations at once
    assert.match(code, /pm1-/);
    await waitFor('invitation saved', () => existsSync(join(sd, 'invites-drop.json')), 5_000, 100);
    await waitFor('mesh state saved', () => existsSync(join(sd, 'mesh-drop.json')), 10_000, 200);
    for (const f of readdirSync(sd)) {
      const s = statSync(join(sd, f));
      assert.equal(s.uid, uidA, `${f} owner`);
      if (s.isFile()) assert.equal(s.mode & 0o777, 0o600, `${f} mode`);
    }
  });

  it('stops cleanly: exit 0, its hosts block and control socket gone', async () => {
    assert.equal(await stopNode(nodes.a), 0);
    assert.equal(readFileSync(hostsA, 'utf8'), '127.0.0.1\tlocalhost\n');
    assert.equal(existsSync(join(dir, 'a', 'peermesh.sock')), false);
    assert.ok(!lab.links('a').includes(`pm${lab.id}a`));
  });

  it('restarts on the same state directory (owned by the user now)', async () => {
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--hosts-file', hostsA]));
    await waitFor(
      'a pings b again',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', addr.b]).ok,
      20_000,
      200,
    );
  });

  it('refuses --user root and a user that does not exist, with a clear error', () => {
    for (const [user, why] of [
      ['root', /never keeps running as root/],
      ['no-such-user-pm', /no such user/],
    ] as const) {
      const r = runCli(['up', '--state-dir', join(dir, 'c'), ...args('c'), '--user', user], lab.ns('a'));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, why);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('made B’s missing parent directories its user’s; refuses a state directory the user cannot reach', async () => {
    for (const d of [join(dir, 'new'), join(dir, 'new', 'nest'), stateOf.b]) {
      assert.equal(statSync(d).uid, uidNobody, d);
      assert.equal(statSync(d).mode & 0o777, 0o700, d);
    }
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 }); // root's, not made by the node: never given away
    const r = runCli(['up', '--state-dir', join(closed, 'c'), ...args('c'), '--listen', '0'], lab.ns('a'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`not reachable by the user peermesh \\(${closed} is mode 700`));
    assert.equal(statSync(closed).uid, 0);
    assert.ok(!lab.links('a').includes(`pm${lab.id}c`), 'its interface is gone');
  });
});
