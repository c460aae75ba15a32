// The desktop app's decision when the packaged helper (root:peermesh 0750, cap_net_admin+ep) is not
// executable by the user — not in the group, or added but not logged in again — and which password
// prompt appears under pkexec (PeerMesh's own polkit action only where the packages installed it
// for this very helper path; an AppImage's helper gets the generic one, said beforehand).
// With real files: the permission decision is checked against the kernel's own exec by a process
// of that uid and groups (setpriv).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  canExecute,
  decideHelperLaunch,
  groupName,
  joinGroupExplanation,
  polkitExecPath,
  probeHelperLaunch,
} from '../../main/app/privilege';
import { REPO } from '../lib/peermesh-proc';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

describe('helper access for a user outside the group', () => {
  it('a packaged helper (root:<group> 0750 + cap_net_admin): direct for a member, pkexec or an explanation otherwise; the kernel agrees', (t) => {
    if (process.getuid?.() !== 0 || !has('setcap') || !has('setpriv')) {
      t.skip('needs root, setcap and setpriv');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pm-group-'));
    try {
      chmodSync(dir, 0o755);
      const bin = join(dir, 'peermesh-helper');
      copyFileSync('/bin/true', bin);
      chownSync(bin, 0, 65534);
      chmodSync(bin, 0o750);
      assert.equal(spawnSync('setcap', ['cap_net_admin+ep', bin]).status, 0);
      const group = groupName(readFileSync('/etc/group', 'utf8'), 65534) ?? '65534';
      const policyPath = join(dir, 'none.policy');

      // What the kernel says, for a user outside the group and for a member.
      // (exec by a shell: setpriv itself keeps its capabilities until its own exec)
      const run = (groups: string[]) =>
        spawnSync('setpriv', ['--reuid=1000', '--regid=1000', ...groups, '--', 'sh', '-c', '"$0"', bin])
          .status;
      assert.notEqual(run(['--clear-groups']), 0, 'the kernel refuses exec outside the group');
      assert.equal(run(['--groups=65534']), 0, 'the kernel allows exec for a member');

      const outside = probeHelperLaunch(bin, 1000, { gids: [1000], pkexecPaths: ['/bin/true'], policyPath });
      assert.equal(outside.mode, 'pkexec');
      assert.equal(outside.reason, 'not-in-group');
      assert.match(outside.explanation ?? '', new RegExp(`not in the group '${group}'`));
      assert.match(outside.explanation ?? '', new RegExp(`sudo usermod -aG ${group} \\$USER`));
      assert.match(outside.explanation ?? '', /log out and in again/);
      assert.match(outside.explanation ?? '', /administrator password/);

      const noPkexec = probeHelperLaunch(bin, 1000, { gids: [1000], pkexecPaths: [], policyPath });
      assert.equal(noPkexec.mode, 'unavailable');
      assert.equal(noPkexec.reason, 'not-in-group');
      assert.match(noPkexec.explanation, /usermod -aG/);

      const member = probeHelperLaunch(bin, 1000, { gids: [1000, 65534], policyPath });
      assert.equal(member.mode, 'direct');
      assert.equal(member.reason, 'file-capability');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('canExecute follows owner, group, other bits (root: any x bit)', () => {
    const st = { mode: 0o100750, uid: 0, gid: 65534 };
    assert.equal(canExecute(st, 1000, [1000]), false);
    assert.equal(canExecute(st, 1000, [1000, 65534]), true);
    assert.equal(canExecute(st, 0, []), true);
    assert.equal(canExecute({ ...st, mode: 0o100755 }, 1000, []), true);
    assert.equal(
      canExecute({ ...st, mode: 0o100705 }, 1000, [65534]),
      false,
      'group bits decide for a member',
    );
    assert.equal(canExecute({ ...st, mode: 0o100644 }, 0, []), false);
  });

  it("pkexec: PeerMesh's own prompt only where its action names this helper; otherwise the explanation says the generic prompt comes", () => {
    const shipped = readFileSync(
      join(REPO, 'main', 'app', 'resources', 'linux', 'net.peermesh.helper.policy'),
      'utf8',
    );
    assert.equal(polkitExecPath(shipped), '/opt/PeerMesh/resources/peermesh-helper');
    assert.equal(polkitExecPath('<policyconfig/>'), null);
    const dir = mkdtempSync(join(tmpdir(), 'pm-polkit-'));
    try {
      const policyPath = join(dir, 'net.peermesh.helper.policy');
      writeFileSync(policyPath, shipped);
      const bin = join(dir, 'peermesh-helper');
      copyFileSync('/bin/true', bin);
      const appImage = probeHelperLaunch(bin, 1000, { gids: [], pkexecPaths: ['/bin/true'], policyPath });
      assert.equal(appImage.mode, 'pkexec');
      assert.equal(appImage.mode === 'pkexec' && appImage.prompt, 'generic');
      assert.match(
        appImage.explanation ?? '',
        new RegExp(`generic prompt for this, naming the helper ${bin}`),
      );
      writeFileSync(policyPath, shipped.replace('/opt/PeerMesh/resources/peermesh-helper', bin));
      const installed = probeHelperLaunch(bin, 1000, { gids: [], pkexecPaths: ['/bin/true'], policyPath });
      assert.equal(installed.mode === 'pkexec' && installed.prompt, 'peermesh');
      assert.doesNotMatch(installed.explanation ?? '', /generic/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const base = {
      uid: 1000,
      helperPath: '/x/peermesh-helper',
      helperExists: true,
      pkexec: '/usr/bin/pkexec',
    };
    const caps = { known: true, netAdmin: true, text: '' };
    assert.equal(decideHelperLaunch({ ...base, caps }).mode, 'direct');
    assert.equal(
      decideHelperLaunch({ ...base, caps, executable: false, group: 'peermesh' }).reason,
      'not-in-group',
    );
    assert.match(joinGroupExplanation('peermesh'), /sudo usermod -aG peermesh \$USER/);
  });
});
