// The helper that `peermesh up --ui` as root prepares for the user it drops to
// (main/node/core-helper.ts): the pieces of its checks on their own (mount options, directory
// safety, who shares the user's group, /dev/net/tun's mode, route.allow's 0.0.0.0/0), then, as root
// with setcap: the copy in a scratch directory installed, kept, installed again when the helper
// changes, its directories 0755 under root's umask 077; a helper that already is one for the user
// taken as it is; refused in a directory the user cannot reach or others may write. The whole
// start, drop and reconnect run in test/netns/privdrop-ui.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultHelperPath } from '../../main/io/helper';
import {
  allowsEverything,
  ensureCapableHelper,
  groupSharers,
  HELPER_CAPS,
  mountOptionsOf,
  tunOpenableBy,
  unsafeDirectory,
} from '../../main/node/core-helper';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '23 22 0:21 / /usr/local rw,nosuid,nodev shared:2 - tmpfs tmpfs rw',
  '24 22 0:22 / /usr/local/lib\\040x rw,noexec - tmpfs tmpfs rw',
].join('\n');

const dirStat = (uid: number, mode: number) => ({ uid, mode: 0o40000 | mode, isDirectory: () => true });

describe('the capable helper of up --ui as root', () => {
  const who = { name: 'pm-core-test', uid: 4242420, gid: 4242421 };

  it('finds the mount a path lies on (longest mount point; escaped spaces)', () => {
    assert.ok(mountOptionsOf(MOUNTINFO, '/usr/local/lib/peermesh').includes('nosuid'));
    assert.ok(
      !mountOptionsOf(MOUNTINFO, '/usr/localx').includes('nosuid'),
      'a prefix of a name is no parent',
    );
    assert.ok(mountOptionsOf(MOUNTINFO, '/usr/local/lib x/a').includes('noexec'));
    assert.deepEqual(mountOptionsOf(MOUNTINFO, '/var/lib'), ['rw', 'relatime']);
  });

  it('takes a directory only when it and every directory above are root’s alone (sticky ones above allowed)', () => {
    const tree: Record<string, ReturnType<typeof dirStat>> = {
      '/': dirStat(0, 0o755),
      '/tmp': dirStat(0, 0o1777),
      '/tmp/ok': dirStat(0, 0o755),
      '/tmp/gw': dirStat(0, 0o775),
      '/tmp/user': dirStat(1000, 0o755),
      '/tmp/ok/open': dirStat(0, 0o777),
      '/tmp/ok/open/in': dirStat(0, 0o755),
    };
    const lstat = (p: string) => tree[p];
    assert.equal(unsafeDirectory('/tmp/ok', lstat), null);
    assert.match(
      unsafeDirectory('/tmp', lstat) ?? '',
      /\/tmp is writable by others/,
      'sticky: not as the directory itself',
    );
    assert.match(unsafeDirectory('/tmp/gw', lstat) ?? '', /writable by others than root \(mode 775\)/);
    assert.match(unsafeDirectory('/tmp/user', lstat) ?? '', /not owned by root/);
    assert.match(unsafeDirectory('/tmp/ok/open/in', lstat) ?? '', /\/tmp\/ok\/open is writable/);
  });

  it('names the other accounts of the user’s group: primary group or listed member', () => {
    const primary = (gid: number) => (gid === 65534 ? ['nobody', '_apt', 'sync'] : ['pm-core-test']);
    const group = (gid: number | string) =>
      gid === 4242421 ? { name: 'pmc', gid: 4242421, members: ['pm-core-test', 'alice'] } : null;
    assert.deepEqual(groupSharers(who, primary, group), ['alice']);
    assert.deepEqual(groupSharers({ ...who, gid: 65534, name: 'nobody' }, primary, group), ['_apt', 'sync']);
    assert.deepEqual(
      groupSharers(who, primary, () => null),
      [],
    );
  });

  it('checks /dev/net/tun for read and write by owner, group or others', () => {
    const dev = (uid: number, gid: number, mode: number) => ({ uid, gid, mode: 0o20000 | mode });
    assert.equal(tunOpenableBy(dev(0, 0, 0o666), who), true);
    assert.equal(tunOpenableBy(dev(0, 0, 0o600), who), false);
    assert.equal(tunOpenableBy(dev(0, who.gid, 0o660), who), true);
    assert.equal(tunOpenableBy(dev(0, 0, 0o664), who), false, 'read only');
  });

  it('finds 0.0.0.0/0 in route.allow (comments and blanks ignored, nothing wider taken for it)', () => {
    assert.equal(allowsEverything('# everything\n0.0.0.0/0 # exit\n'), true);
    assert.equal(allowsEverything('198.19.0.0/16\n# 0.0.0.0/0\n'), false);
    assert.equal(allowsEverything(''), false);
  });

  // As root with setcap, on a /tmp where file capabilities apply.
  const tmpOpts = mountOptionsOf(readFileSync('/proc/self/mountinfo', 'utf8'), realpathSync(tmpdir()));
  const canSetcap =
    process.getuid?.() === 0 &&
    !tmpOpts.includes('nosuid') &&
    !tmpOpts.includes('noexec') &&
    spawnSync('sh', ['-c', 'command -v setcap && command -v getcap']).status === 0;
  const base = mkdtempSync(join(tmpdir(), 'pm-core-helper-'));
  chmodSync(base, 0o755); // the user passes it to reach the copies
  after(() => rmSync(base, { recursive: true, force: true }));
  /** A new directory in `base` with exactly `mode` (whatever the umask). */
  const dirWithMode = (name: string, mode: number) => {
    const d = join(base, name);
    mkdirSync(d);
    chmodSync(d, mode);
    return d;
  };

  it('installs a root:<group> 0750 copy with cap_net_admin and cap_net_bind_service, keeps it, replaces it when the helper changes', {
    skip: canSetcap ? false : 'needs root and setcap',
  }, () => {
    const dir = join(base, 'lib');
    const src = join(base, 'peermesh-helper');
    copyFileSync(defaultHelperPath(), src);
    const first = ensureCapableHelper(src, who, dir);
    assert.equal(first.how, 'installed');
    assert.equal(first.path, join(dir, 'peermesh-helper.pm-core-test'));
    const st = statSync(first.path);
    assert.deepEqual(
      [st.uid, st.gid, st.mode & 0o7777, statSync(dir).mode & 0o777],
      [0, who.gid, 0o750, 0o755],
    );
    assert.match(
      spawnSync('getcap', [first.path], { encoding: 'utf8' }).stdout,
      /cap_net_bind_service,cap_net_admin[=+]ep|cap_net_admin,cap_net_bind_service[=+]ep/,
    );
    assert.equal(ensureCapableHelper(src, who, dir).how, 'kept');
    // A copy an earlier version made (cap_net_admin alone: no DNS on port 53) is made again.
    spawnSync('setcap', ['cap_net_admin+ep', first.path]);
    assert.equal(
      ensureCapableHelper(src, who, dir).how,
      'installed',
      'cap_net_bind_service missing: copied again',
    );
    spawnSync('sh', ['-c', `printf x >> '${src}'`]);
    assert.equal(ensureCapableHelper(src, who, dir).how, 'installed', 'another helper: copied again');
    assert.deepEqual(readdirSync(dir), ['peermesh-helper.pm-core-test'], 'no temporary file left');
    // Directories it makes are 0755 whatever root's umask: the user must pass them.
    const old = process.umask(0o077);
    try {
      const deep = join(base, 'made', 'deeper');
      assert.equal(ensureCapableHelper(src, who, deep).how, 'installed');
      for (const d of [join(base, 'made'), deep]) assert.equal(statSync(d).mode & 0o777, 0o755, d);
    } finally {
      process.umask(old);
    }
  });

  it('takes a helper that already is one for the user as it is (root:<its group> 0750, both capabilities), no copy', {
    skip: canSetcap ? false : 'needs root and setcap',
  }, () => {
    const helper = join(dirWithMode('pkg', 0o755), 'peermesh-helper');
    copyFileSync(defaultHelperPath(), helper);
    chownSync(helper, 0, who.gid);
    chmodSync(helper, 0o750);
    assert.equal(spawnSync('setcap', [HELPER_CAPS, helper]).status, 0);
    const lib = join(base, 'unused');
    assert.deepEqual(ensureCapableHelper(helper, who, lib), { path: helper, how: 'as-is' });
    assert.equal(existsSync(lib), false, 'nothing installed');
    // Another group's (the user could not start it): a copy after all.
    chownSync(helper, 0, who.gid + 1);
    spawnSync('setcap', [HELPER_CAPS, helper]);
    assert.equal(ensureCapableHelper(helper, who, lib).how, 'installed');
  });

  it('refuses a directory the user cannot reach (one above it is root’s 0700)', {
    skip: canSetcap ? false : 'needs root and setcap',
  }, () => {
    assert.throws(
      () => ensureCapableHelper(defaultHelperPath(), who, join(dirWithMode('closed', 0o700), 'lib')),
      /pm-core-test cannot reach .*closed is mode 700.*--stay-root/,
    );
  });

  it('refuses a directory others may write, naming --stay-root', {
    skip: canSetcap ? false : 'needs root and setcap',
  }, () => {
    assert.throws(
      () => ensureCapableHelper(defaultHelperPath(), who, dirWithMode('open', 0o777)),
      /no helper with cap_net_admin that pm-core-test may start \(.*open is writable by others than root.*--stay-root/,
    );
  });
});
