// NodeManager's public API without a running node: the profile on disk, the app-level calls, the
// errors a user sees before anything starts. (Connecting, the worker and the web UI are covered by
// test/netns/app.test.ts with real processes.)
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ApiEvent, LogLine, Settings } from '../../main/control/api';
import { defaultSettings, LOG_LINES_KEPT, ManagerError, NodeManager } from '../../main/node/manager';

const root = mkdtempSync(join(tmpdir(), 'pm-manager-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const profileDir = () => join(root, `p${dirs++}`);

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ManagerError, `a ManagerError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe('NodeManager without a network', () => {
  it('creates the profile directory 0700, answers the app-level queries, refuses node calls', async () => {
    const dir = profileDir();
    const m = await NodeManager.open({ profileDir: dir, desktop: false });
    try {
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.deepEqual(await m.handle('ping', {}), { pong: true });
      const { network: _n, ...defaults } = defaultSettings();
      assert.deepEqual(await m.handle('settings', {}), defaults);
      assert.deepEqual(m.getState(), { state: 'disconnected', error: null, network: null, desktop: false });
      assert.deepEqual(await m.handle('peers', {}), [], 'peers while disconnected: none');
      await rejects(m.handle('status', {}), 'failed', /not connected/);
      await rejects(m.handle('connect', {}), 'failed', /no network yet/);
      await rejects(m.handle('leave', {}), 'failed', /not a member/);
      await rejects(m.handle('nope' as never, {}), 'unknown_method', /unknown method nope/);
      assert.throws(() => m.nodeConfig(), /no network yet/);
    } finally {
      await m.close();
    }
  });

  it('one app per profile: a second refuses clearly; a lock left by a crash does not block', async () => {
    const dir = profileDir();
    const m = await NodeManager.open({ profileDir: dir, desktop: false });
    try {
      // The lock names this process: a second manager here stands for a second app of another process.
      writeFileSync(join(dir, 'app.lock'), `${process.ppid}\n`);
      await rejects(
        NodeManager.open({ profileDir: dir, desktop: false }),
        'busy',
        /PeerMesh already runs on this profile/,
      );
    } finally {
      await m.close();
    }
    writeFileSync(join(dir, 'app.lock'), '999999999\n'); // a pid that no process has: stale
    const again = await NodeManager.open({ profileDir: dir, desktop: false });
    assert.equal(readFileSync(join(dir, 'app.lock'), 'utf8').trim(), String(process.pid));
    await again.close();
    assert.ok(!existsSync(join(dir, 'app.lock')), 'the lock stays after close');
  });

  it('set-settings persists (0600) and a new manager on the same profile reads it back', async () => {
    const dir = profileDir();
    const events: ApiEvent[] = [];
    const m = await NodeManager.open({ profileDir: dir, desktop: true });
    m.onEvent((e) => events.push(e));
    const changed = (await m.handle('set-settings', { theme: 'dark', nodeName: 'box-1' })) as Settings;
    assert.equal(changed.theme, 'dark');
    assert.equal(changed.nodeName, 'box-1');
    await m.close();
    const file = join(dir, 'settings.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).theme, 'dark');

    const again = await NodeManager.open({ profileDir: dir, desktop: true });
    try {
      assert.equal(again.getSettings().theme, 'dark');
      assert.equal(again.getSettings().nodeName, 'box-1');
      assert.equal(again.getState().desktop, true);
    } finally {
      await again.close();
    }
  });

  it('an unreadable settings.json: defaults, a warning in the Logs view; a known network without its files: a clear error', async () => {
    const dir = profileDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'settings.json'), '{"theme": "purple"', { mode: 0o600 });
    const written: LogLine[] = [];
    const m = await NodeManager.open({ profileDir: dir, desktop: false, logWrite: (l) => written.push(l) });
    try {
      assert.equal(m.getSettings().theme, 'system');
      const logs = (await m.handle('logs', { level: 'warn' })) as LogLine[];
      assert.equal(logs.length, 1, JSON.stringify(logs));
      assert.match(logs[0].message, /ignoring unreadable .*settings\.json/);
      assert.deepEqual(written, logs, 'log lines also go to logWrite');
    } finally {
      await m.close();
    }

    // A valid file naming a network whose config is missing.
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ network: 'home', theme: 'light' }), {
      mode: 0o600,
    });
    const n = await NodeManager.open({ profileDir: dir, desktop: false });
    try {
      assert.equal(n.getState().network?.name, 'home');
      assert.equal(n.getState().network?.dnsName, `${n.getSettings().nodeName}.home`.toLowerCase());
      await rejects(n.handle('connect', {}), 'failed', /cannot read .*networks\/home\.json/);
      await rejects(n.handle('create-network', { name: 'other' }), 'failed', /already a member of "home"/);
      // A restart setting is checked like a start before anything is saved.
      await rejects(n.handle('set-settings', { listenPort: 51821 }), 'failed', /cannot read/);
      assert.equal(n.getSettings().listenPort, 51820);
    } finally {
      await n.close();
    }
  });

  it('keeps log lines at or above its level only', async () => {
    const dir = profileDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'settings.json'), '[', { mode: 0o600 });
    const written: LogLine[] = [];
    const m = await NodeManager.open({
      profileDir: dir,
      desktop: false,
      logLevel: 'error',
      logWrite: (l) => written.push(l),
    });
    try {
      assert.deepEqual(await m.handle('logs', {}), [], 'the warning is below the level');
      assert.deepEqual(written, []);
      assert.equal(m.getSettings().theme, 'system');
    } finally {
      await m.close();
    }
    assert.equal(LOG_LINES_KEPT, 1000);
  });
});
