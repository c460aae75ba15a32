// Electron smoke test: the real app starts, its window shows the UI, and the tray follows the
// connection state. Runs wherever an Electron binary is installed (a developer machine after
// `npm install` with internet); on build machines that cannot download it, it reports itself
// skipped ("skipped: no Electron binary"). Everything the app does without Electron is tested in
// test/unit/app-shell.test.ts and app-packaging.test.ts, and its UI in test/netns/ui-e2e.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../lib/peermesh-proc';

function electronBinary(): string | null {
  let path: string;
  try {
    path = require('electron') as unknown as string; // the package exports its binary's path
  } catch {
    return null;
  }
  if (typeof path !== 'string' || !existsSync(path)) return null;
  const r = spawnSync(path, ['--version'], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
  });
  return r.status === 0 ? path : null;
}

const binary = electronBinary();
// The desktop app refuses to run as root (docs/app.md); a root CI machine with Electron skips too.
const skip = !binary
  ? 'skipped: no Electron binary'
  : process.getuid?.() === 0
    ? 'skipped: the desktop app does not run as root'
    : null;
if (skip) process.stdout.write(`# ${skip}\n`);

describe('Electron app smoke test', { skip: skip ?? false }, () => {
  it('starts, shows the UI in its window, and the tray state follows connect', async () => {
    const { _electron } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'pm-electron-'));
    const app = await _electron.launch({
      executablePath: binary!,
      args: [REPO],
      env: { ...process.env, PEERMESH_PROFILE_DIR: profile, PEERMESH_TEST_HOOKS: '1' },
      timeout: 60_000,
    });
    try {
      const win = await app.firstWindow();
      await win.getByRole('button', { name: 'Create network' }).waitFor({ timeout: 30_000 });
      // the preload exposes exactly the typed API; no Node in the page
      assert.deepEqual(
        await win.evaluate(() => Object.keys((globalThis as { peermesh?: object }).peermesh ?? {})),
        ['call', 'onEvent'],
      );
      assert.equal(
        await win.evaluate(() => typeof (globalThis as { process?: unknown }).process),
        'undefined',
      );
      const tray = () =>
        app.evaluate(
          () =>
            (globalThis as { __peermeshTest?: { tray(): { icon: string } | null } }).__peermeshTest?.tray()
              ?.icon ?? null,
        );
      assert.equal(await tray(), 'disconnected');
      await win.getByLabel('Network name').fill('smoke');
      await win.getByRole('button', { name: 'Create network' }).click();
      // connecting needs the helper's privileges: connected where it has them, an error otherwise;
      // either way the tray must leave "disconnected" and show the same state as the window
      const deadline = Date.now() + 30_000;
      let icon = await tray();
      while (icon === 'disconnected' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        icon = await tray();
      }
      assert.ok(icon === 'connecting' || icon === 'connected' || icon === 'error', String(icon));
      const shown = await win.getByTestId('connection-state').getAttribute('data-state');
      // (the element always carries data-state: renderer/src/components/ConnectToggle.tsx)
      assert.ok(['connecting', 'connected', 'error'].includes(shown ?? 'missing'), String(shown));
    } finally {
      await app.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

// The native data plane is a Node-API addon built for Node by `npm ci`; the same file must load in
// Electron's Node (the packaged app ships it, electron-builder.yml). Needs only the binary, any user.
describe("the native data plane in Electron's Node", {
  skip: binary ? false : 'skipped: no Electron binary',
}, () => {
  it('loads the addon the build made and finds its functions', () => {
    const addon = join(REPO, 'native', 'dataplane', 'build', 'dataplane.node');
    assert.ok(existsSync(addon), 'the addon is built (make -C native/dataplane)');
    const r = spawnSync(
      binary!,
      ['-e', 'const a = require(process.argv[1]); console.log(Object.keys(a).length)', addon],
      { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number(r.stdout.trim()) > 0, r.stdout);
  });
});
