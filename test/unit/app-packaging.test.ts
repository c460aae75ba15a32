// The desktop app's packaging and security review, checked where Electron itself cannot run:
// electron-builder's own configuration loader and schema accept electron-builder.yml with the
// expected targets and resources; the scripts and policy it names exist; and Electronegativity
// (Doyensec's Electron security scanner) finds nothing of high severity in main/app.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../lib/peermesh-proc';
import { inScratchRoot } from '../lib/scratch-root';

const hostHadGroup = spawnSync('getent', ['group', 'peermesh']).status === 0;

describe('desktop packaging', () => {
  it("electron-builder's loader and schema accept the config: AppImage, deb, rpm for x64, helper and policy as resources", async () => {
    const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config');
    const { DebugLogger } = require('builder-util');
    const cfg = await getConfig(REPO, null, null);
    await validateConfiguration(cfg, new DebugLogger(false)); // throws on a schema error
    const targets = (cfg.linux.target as { target: string; arch: string[] }[]).map(
      (t) => `${t.target}:${t.arch}`,
    );
    assert.deepEqual(targets.sort(), ['AppImage:x64', 'deb:x64', 'rpm:x64']);
    const extra = cfg.extraResources as { from: string; to: string }[];
    assert.ok(extra.some((r) => r.from === 'native/build/peermesh-helper' && r.to === 'peermesh-helper'));
    assert.ok(extra.some((r) => r.from.endsWith('net.peermesh.helper.policy')));
    // the native data plane goes along, under the name the packaged main process points the node at
    assert.ok(
      extra.some((r) => r.from === 'native/dataplane/build/dataplane.node' && r.to === 'dataplane.node'),
    );
    assert.match(
      readFileSync(join(REPO, 'main', 'app', 'main.ts'), 'utf8'),
      /PEERMESH_DATAPLANE_ADDON = join\(process\.resourcesPath, 'dataplane\.node'\)/,
    );
    for (const r of extra) assert.ok(existsSync(join(REPO, r.from)), `${r.from} exists (built)`);
    for (const f of [cfg.deb.afterInstall, cfg.deb.afterRemove, cfg.rpm.afterInstall, cfg.rpm.afterRemove]) {
      assert.ok(existsSync(join(REPO, f)), f);
      assert.ok(statSync(join(REPO, f)).mode & 0o100, `${f} is executable`);
    }
    assert.ok(cfg.deb.depends.includes('passwd') && cfg.rpm.depends.includes('shadow-utils'), 'groupadd');
    assert.ok(cfg.deb.depends.includes('libcap2-bin') && cfg.rpm.depends.includes('libcap'), 'setcap');
    // The addon carries libsodium (static): it loads from an AppImage on a machine without libsodium,
    // so no package depends on it.
    const needed = execFileSync('readelf', ['-d', join(REPO, 'native/dataplane/build/dataplane.node')], {
      encoding: 'utf8',
    });
    assert.deepEqual(
      [...needed.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]),
      ['libc.so.6'],
    );
    assert.ok(![...cfg.deb.depends, ...cfg.rpm.depends].some((d: string) => d.includes('sodium')));
    assert.match(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.dist, /SODIUM=static/);
    const postinst = readFileSync(join(REPO, cfg.deb.afterInstall), 'utf8');
    assert.match(postinst, /setcap cap_net_admin,cap_net_bind_service\+ep "\$HELPER"/);
    assert.match(postinst, /chmod 0750 "\$HELPER"/);
    // chown clears file capabilities: the owner and group are set before setcap.
    assert.ok(postinst.indexOf('chown root:"$GROUP" "$HELPER"') < postinst.indexOf('setcap cap_net_admin'));
    assert.ok(existsSync(join(REPO, cfg.linux.icon, '512x512.png')));
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
    assert.equal(pkg.main, 'dist/main/app/main.js');
    assert.ok(existsSync(join(REPO, pkg.main)), 'the main process is built');
    assert.ok(existsSync(join(REPO, 'dist', 'main', 'app', 'preload.js')), 'the preload is built');
  });

  it('post-install in a scratch root: group peermesh, helper root:peermesh 0750 with cap_net_admin,cap_net_bind_service+ep, a message how to join', (t) => {
    // The real script, run as root in a private mount namespace whose /etc, /opt and polkit actions
    // directory are overlays on scratch directories: groupadd, chown, setcap and install act there,
    // and the machine's own files never change.
    const tools = ['unshare', 'setcap', 'getcap', 'groupadd'];
    if (
      process.getuid?.() !== 0 ||
      tools.some((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0)
    ) {
      t.skip(`needs root and ${tools.join(', ')}`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pm-postinst-'));
    try {
      const res = '/opt/PeerMesh/resources';
      const script = join(REPO, 'main', 'app', 'resources', 'linux', 'after-install.sh');
      const policy = join(REPO, 'main', 'app', 'resources', 'linux', 'net.peermesh.helper.policy');
      const r = inScratchRoot(
        dir,
        ['/etc', '/opt', '/usr/share/polkit-1/actions'].filter((d) => existsSync(d)),
        `           mkdir -p ${res}/polkit && cp /bin/true ${res}/peermesh-helper && chmod 0755 ${res}/peermesh-helper
           cp ${policy} ${res}/polkit/
           echo '--- output'; sh ${script}; echo "--- exit $?"
           stat -c 'helper %U:%G %a' ${res}/peermesh-helper; stat -c 'dir %U:%G %a' /etc/peermesh
           getcap ${res}/peermesh-helper; getent group peermesh | cut -d: -f1
           ls /usr/share/polkit-1/actions/net.peermesh.helper.policy 2>/dev/null || true`,
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /--- exit 0/);
      assert.match(r.stdout, /^helper root:peermesh 750$/m);
      assert.match(r.stdout, /^dir root:root 755$/m);
      assert.match(r.stdout, /peermesh-helper cap_net_bind_service,cap_net_admin[=+]ep/);
      assert.match(r.stdout, /^peermesh$/m);
      assert.match(r.stdout, /sudo usermod -aG peermesh USERNAME/);
      if (existsSync('/usr/share/polkit-1/actions'))
        assert.match(r.stdout, /actions\/net\.peermesh\.helper\.policy/);
      assert.equal(
        spawnSync('getent', ['group', 'peermesh']).status === 0,
        hostHadGroup,
        'the host is unchanged',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the shell scripts parse, and the polkit policy names the helper action', () => {
    for (const f of ['after-install.sh', 'after-remove.sh']) {
      const r = spawnSync('sh', ['-n', join(REPO, 'main', 'app', 'resources', 'linux', f)]);
      assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    }
    const policy = readFileSync(
      join(REPO, 'main', 'app', 'resources', 'linux', 'net.peermesh.helper.policy'),
      'utf8',
    );
    assert.match(policy, /<action id="net.peermesh.helper">/);
    assert.match(
      policy,
      /org\.freedesktop\.policykit\.exec\.path">\/opt\/PeerMesh\/resources\/peermesh-helper</,
    );
    // No five-minute window in which any process of the session can start the helper unasked.
    const defaults = /<defaults>([\s\S]*?)<\/defaults>/.exec(policy)?.[1] ?? '';
    assert.doesNotMatch(defaults, /auth_admin_keep|auth_self|>yes</);
    assert.match(policy, /<allow_active>auth_admin<\/allow_active>/);
    // post-remove leaves the policy in place on an upgrade (rpm: $1 = 1; deb: "upgrade").
    const remove = readFileSync(join(REPO, 'main', 'app', 'resources', 'linux', 'after-remove.sh'), 'utf8');
    assert.match(remove, /upgrade .*\| 1\) exit 0/);
  });

  it('Electronegativity: no high or critical finding in main/app', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-en-'));
    try {
      const out = join(dir, 'findings.csv');
      const version = JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')).version;
      const cli = join(REPO, 'node_modules', '@doyensec', 'electronegativity', 'dist', 'index.js');
      const r = spawnSync(
        process.execPath,
        [cli, '-i', join(REPO, 'main', 'app'), '-o', out, '-r', '-v', 'false', '-e', version],
        {
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1);
      const findings = rows.map((l) => {
        const [check, severity, confidence, file] = l.split(',').map((x) => x.replace(/"/g, ''));
        return { check, severity, confidence, file };
      });
      process.stdout.write(
        `# electronegativity ${version}: ${findings.map((f) => `${f.check} ${f.severity}`).join('; ') || 'no findings'}\n`,
      );
      const high = findings.filter((f) => f.severity === 'HIGH' || f.severity === 'CRITICAL');
      assert.deepEqual(high, [], JSON.stringify(high));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
