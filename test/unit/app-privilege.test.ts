// The desktop app's decision when the packaged helper (root:peermesh 0750, cap_net_admin+ep) is not
// executable by the user — not in the group, or added but not logged in again — and which password
// prompt appears under pkexec (PeerMesh's own polkit action only where the packages installed it
// for this very helper path); an AppImage installing its helper on the first connect (the real
// install script, in a scratch root) and starting the installed copy under its own action after.
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
  appImageProbe,
  canExecute,
  decideHelperLaunch,
  groupName,
  joinGroupExplanation,
  LOCAL_ACTION_ID,
  LOCAL_HELPER_PATH,
  polkitExecPath,
  probeHelperLaunch,
} from '../../main/app/privilege';
import { REPO } from '../lib/peermesh-proc';
import { inScratchRoot } from '../lib/scratch-root';

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

  it('AppImage: the first connect installs its helper through pkexec (generic prompt, said beforehand); later connects start the installed copy under its own action; a changed helper installs again', (t) => {
    // install-helper.sh runs for real as root in a private mount namespace whose /etc, /usr/local and
    // /usr/share are overlays on scratch directories (groupadd, chown, setcap and the policy act
    // there; the machine's own files never change); the app's probe runs in the same namespace.
    const tools = ['unshare', 'setcap', 'getcap', 'groupadd', 'sha256sum'];
    if (process.getuid?.() !== 0 || tools.some((c) => !has(c))) {
      t.skip(`needs root and ${tools.join(', ')}`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pm-appimage-'));
    try {
      chmodSync(dir, 0o755);
      const src = join(dir, 'peermesh-helper'); // the AppImage's helper: echo, to see its arguments
      copyFileSync('/bin/echo', src);
      chmodSync(src, 0o755);
      const script = join(REPO, 'main', 'app', 'resources', 'linux', 'install-helper.sh');
      const lib = join(REPO, 'dist', 'main', 'app', 'privilege.js');
      const probe = (label: string, gids: string) =>
        `node -e 'const P = require(process.argv[1]); const o = { gids: JSON.parse(process.argv[4]), pkexecPaths: ["/bin/true"], appImage: { installScript: process.argv[2] } };
          console.log("${label} " + JSON.stringify(P.probeHelperLaunch(process.argv[3], 1000, o)))' ${lib} ${script} ${src} "${gids}"`;
      const r = inScratchRoot(
        dir,
        ['/etc', '/usr/local', '/usr/share'],
        `mkdir -p /usr/share/polkit-1/actions
           ${probe('BEFORE', '[]')}
           echo "--- install"; sh ${script} ${src} hello from the helper; echo "--- exit $?"
           stat -c 'helper %U:%G %a' ${LOCAL_HELPER_PATH}; getcap ${LOCAL_HELPER_PATH}
           echo "sha $(cat ${LOCAL_HELPER_PATH}.sha256) $(sha256sum ${src} | cut -d' ' -f1)"
           grep -o 'exec.path">[^<]*' /usr/share/polkit-1/actions/net.peermesh.helper-local.policy
           echo "keep $(grep -c '>auth_admin_keep<' /usr/share/polkit-1/actions/net.peermesh.helper-local.policy || true) admin $(grep -c '>auth_admin<' /usr/share/polkit-1/actions/net.peermesh.helper-local.policy)"
           ${probe('OUTSIDE', '[]')}
           G=$(getent group peermesh | cut -d: -f3); ${probe('MEMBER', '[$G]')}
           echo changed >> ${src}
           ${probe('CHANGED', '[]')}`,
      );
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const line = (label: string) =>
        JSON.parse(new RegExp(`^${label} (.*)$`, 'm').exec(r.stdout)?.[1] ?? 'null');
      const before = line('BEFORE');
      assert.equal(before.mode, 'pkexec');
      assert.equal(before.reason, 'install');
      assert.equal(before.prompt, 'generic');
      assert.deepEqual(before.helperCommand, ['/bin/true', '/bin/sh', script]);
      assert.equal(before.helperPath, src);
      assert.match(before.explanation, /installs its small network helper .* once/);
      // the installed copy ran with the arguments given (the node's, in real use)
      assert.match(r.stdout, /--- install\nhello from the helper\n--- exit 0/);
      assert.match(r.stdout, /^helper root:peermesh 750$/m);
      assert.match(r.stdout, /peermesh-helper cap_net_bind_service,cap_net_admin[=+]ep/);
      const sha = /^sha (\w+) (\w+)$/m.exec(r.stdout);
      assert.ok(sha && sha[1] === sha[2], "the sha256 beside it is the helper's");
      assert.match(r.stdout, new RegExp(`exec.path">${LOCAL_HELPER_PATH}$`, 'm'));
      assert.match(r.stdout, /^keep 0 admin 3$/m, 'auth_admin for every case, no kept authorization');
      const outside = line('OUTSIDE');
      assert.equal(outside.mode, 'pkexec');
      assert.equal(outside.helperPath, LOCAL_HELPER_PATH);
      assert.deepEqual(outside.helperCommand, ['/bin/true']);
      assert.equal(outside.prompt, 'peermesh', "PeerMesh's own action names the installed helper");
      assert.equal(outside.actionId, LOCAL_ACTION_ID);
      const member = line('MEMBER');
      assert.equal(member.mode, 'direct');
      assert.equal(member.helperPath, LOCAL_HELPER_PATH);
      const changed = line('CHANGED');
      assert.equal(changed.reason, 'install', 'another AppImage helper installs again');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('appImageProbe: only for a helper inside the running AppImage', () => {
    const env = { APPIMAGE: '/home/u/PeerMesh.AppImage', APPDIR: '/tmp/.mount_PeerMeXYZ' };
    const res = '/tmp/.mount_PeerMeXYZ/resources';
    assert.deepEqual(appImageProbe(`${res}/peermesh-helper`, res, env), {
      installScript: `${res}/linux/install-helper.sh`,
    });
    assert.equal(appImageProbe('/opt/PeerMesh/resources/peermesh-helper', res, env), undefined);
    assert.equal(appImageProbe(`${res}/peermesh-helper`, res, { APPDIR: env.APPDIR }), undefined);
    assert.equal(appImageProbe('/tmp/.mount_PeerMeXYZother/peermesh-helper', res, env), undefined);
    const none = decideHelperLaunch({
      uid: 1000,
      helperPath: '/x/peermesh-helper',
      helperExists: true,
      caps: { known: false, netAdmin: false, text: '' },
      pkexec: null,
      installScript: '/x/linux/install-helper.sh',
    });
    assert.equal(none.mode, 'unavailable');
    assert.match(
      none.explanation,
      /sudo sh '\/x\/linux\/install-helper.sh' '\/x\/peermesh-helper' --version/,
    );
  });
});
