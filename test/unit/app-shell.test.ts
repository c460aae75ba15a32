// The desktop shell's logic, in Node without Electron (main/app/*.ts except main.ts and preload.ts,
// which are thin glue type-checked against electron's own types): the tray's model per state, the
// notification rules, the checks every IPC message passes, the helper's privilege decision (with a
// real file capability set by setcap), the window's security policy and the autostart entry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { applyLinuxAutostart, desktopEntry, quoteExecArg } from '../../main/app/autostart';
import {
  checkIpcMessage,
  handleIpcCall,
  type RendererPolicy,
  type SenderInfo,
  type TrustedWindow,
} from '../../main/app/ipc-validate';
import {
  capTextHasNetAdmin,
  decideHelperLaunch,
  probeHelperLaunch,
  readFileCaps,
  refuseRoot,
} from '../../main/app/privilege';
import { CSP, navigationAllowed, permissionAllowed, withCsp } from '../../main/app/security';
import { menuText, trayModel } from '../../main/app/tray-state';
import type { ApiEvent, AppState, PeerRow } from '../../main/control/api';
import { NotifyRules, PEER_INTERVAL_MS, SETTLE_MS } from '../../main/control/notify-rules';
import { ManagerError } from '../../main/node/manager';

const KEY = (i: number) => Buffer.alloc(32, i).toString('base64');

function state(s: AppState['state'], withNet = true, error: string | null = null): AppState {
  return {
    state: s,
    error,
    network: withNet
      ? {
          name: 'home',
          nodeName: 'laptop',
          publicKey: KEY(9),
          ipv4: '100.64.0.9',
          ipv6: null,
          dnsName: 'laptop.home',
          listenPort: 51820,
          interface: 'pm0',
          memberCount: 3,
          onlineCount: 2,
        }
      : null,
    desktop: true,
  };
}

function peer(i: number, name: string, online: boolean, rttMs: number | null = 12.3): PeerRow {
  return {
    key: KEY(i),
    name,
    alias: null,
    dnsName: `${name}.home`,
    access: 'everything',
    unansweredMs: null,
    ipv4: `100.64.0.${i}`,
    ipv6: null,
    online,
    path: 'direct',
    via: null,
    endpoint: '198.18.0.1:51820',
    rttMs,
    rttAgeMs: rttMs === null ? null : 1000,
    lastSeen: online ? Date.now() : null,
    loss: 0,
    rxBps: 0,
    txBps: 0,
    rxBytes: 0,
    txBytes: 0,
    lastHandshake: null,
    relay: false,
    routes: [],
    spark: [],
  };
}

describe('tray model', () => {
  it('one icon per state; Connect / Disconnect enabled only where they make sense', () => {
    for (const s of ['disconnected', 'connecting', 'connected', 'error'] as const) {
      const m = trayModel(state(s, true, s === 'error' ? 'helper exited' : null), []);
      assert.equal(m.icon, s);
      const item = (id: string) =>
        m.items.find((x) => x.type === 'action' && x.id === id) as { enabled: boolean };
      assert.equal(item('connect').enabled, s === 'disconnected' || s === 'error', s);
      assert.equal(item('disconnect').enabled, s === 'connecting' || s === 'connected', s);
      assert.ok(m.items.some((x) => x.type === 'action' && x.id === 'open'));
      assert.ok(m.items.some((x) => x.type === 'action' && x.id === 'quit'));
    }
    const err = trayModel(state('error', true, 'the helper exited'), []);
    assert.ok(err.items.some((x) => x.type === 'info' && /Error: the helper exited/.test(x.label)));
    // no network yet: nothing to connect to
    const first = trayModel(state('disconnected', false), []);
    assert.equal(
      (first.items.find((x) => x.type === 'action' && x.id === 'connect') as { enabled: boolean }).enabled,
      false,
    );
  });

  it('connected: network and counts, online peers by name with latency, a click copies the IP', () => {
    const m = trayModel(state('connected'), [
      peer(3, 'pi', true, 4.26),
      peer(2, 'Office', true, null),
      peer(4, 'nas', false),
    ]);
    assert.ok(m.items.some((x) => x.type === 'info' && /network home — 2 of 3 peers online/.test(x.label)));
    const peers = m.items.filter((x) => x.type === 'action' && x.id.startsWith('peer:')) as {
      label: string;
      action: { kind: string; text?: string };
    }[];
    assert.equal(peers.length, 2);
    assert.match(peers[0].label, /^Office\s+100\.64\.0\.2/);
    assert.match(peers[1].label, /^pi\s+100\.64\.0\.3\s+\(4 ms\)/);
    assert.deepEqual(peers[1].action, { kind: 'copy', text: '100.64.0.3' });
    assert.match(m.tooltip, /home: 2 of 3 peers online/);
    // a long list is cut, the rest summed up
    const many = Array.from({ length: 30 }, (_, i) => peer(i + 10, `n${String(i).padStart(2, '0')}`, true));
    const cut = trayModel(state('connected'), many, { maxPeers: 5 });
    assert.equal(cut.items.filter((x) => x.type === 'action' && x.id.startsWith('peer:')).length, 5);
    assert.ok(cut.items.some((x) => x.type === 'info' && /25 more/.test(x.label)));
  });

  it('Exit node ▸: none and the members that offer, the chosen one checked, its state told; a click chooses', () => {
    const exit = {
      node: 'p',
      key: 'K',
      state: 'blocked' as const,
      reason: 'the exit node is unavailable ("p" is offline); failing closed',
      allowLan: false,
      failOpen: false,
      offeredBy: ['p', 'q&r'],
    };
    const m = trayModel(state('connected'), [peer(1, 'p', false)], { exit });
    const sub = m.items.find((x) => x.type === 'submenu' && x.id === 'exit');
    assert.ok(sub && sub.type === 'submenu');
    assert.equal(sub.label, 'Exit node: p (unavailable — traffic blocked)');
    const choices = sub.items.filter((x) => x.type === 'choice');
    assert.deepEqual(
      choices.map((c) => c.type === 'choice' && [c.label, c.checked, c.action]),
      [
        ['None', false, { kind: 'exit-node', node: 'none' }],
        ['p', true, { kind: 'exit-node', node: 'p' }],
        ['q&&r', false, { kind: 'exit-node', node: 'q&r' }],
      ],
    );
    const none = trayModel(state('connected'), [], {
      exit: { ...exit, node: null, key: null, state: 'none', reason: null },
    });
    const s2 = none.items.find((x) => x.type === 'submenu');
    assert.ok(s2 && s2.type === 'submenu' && s2.label === 'Exit node: none');
    assert.ok(s2.items.some((x) => x.type === 'choice' && x.label === 'None' && x.checked));
    // Not connected: no exit menu (nothing is known).
    assert.ok(!trayModel(state('disconnected'), null, { exit }).items.some((x) => x.type === 'submenu'));
  });

  it('names from the network cannot smuggle control, bidi or mnemonic characters into the menu', () => {
    assert.equal(menuText('evil\u202Eexe.txt\u0007 & co'), 'evil exe.txt  && co');
    assert.equal(menuText('x'.repeat(200), 10).length, 10);
  });
});

describe('notification rules', () => {
  const all = { notifyPeerUp: true, notifyPeerDown: true, notifyErrors: true };
  const up = (name: string, online = true): ApiEvent => ({
    type: 'peer',
    key: KEY(name.length),
    name,
    online,
  });

  it('no notification for the burst of peers right after connecting; then up and down as set', () => {
    const r = new NotifyRules();
    const t0 = 1_000_000;
    assert.equal(r.onEvent({ type: 'state', state: 'connected' }, all, t0), null);
    assert.equal(r.onEvent(up('pi'), all, t0 + 1000), null, 'initial burst');
    const n = r.onEvent(up('nas', false), all, t0 + SETTLE_MS + 1);
    assert.equal(n?.kind, 'peer-down');
    assert.match(n!.title, /nas went offline/);
    assert.equal(
      r.onEvent(up('box'), { ...all, notifyPeerUp: false }, t0 + SETTLE_MS + 2),
      null,
      'turned off',
    );
  });

  it('a flapping peer gives at most one notification a minute, and its final state after', () => {
    const r = new NotifyRules();
    r.reset('connected', 0);
    const t = SETTLE_MS + 10;
    assert.equal(r.onEvent(up('pi', false), all, t)?.kind, 'peer-down');
    assert.equal(r.onEvent(up('pi', true), all, t + 1000), null);
    assert.equal(r.onEvent(up('pi', false), all, t + 2000), null);
    assert.equal(r.onEvent(up('pi', true), all, t + 3000), null);
    assert.deepEqual(r.tick(all, t + 5000), [], 'window not over');
    const trailing = r.tick(all, t + PEER_INTERVAL_MS + 1);
    assert.equal(trailing.length, 1);
    assert.equal(trailing[0].kind, 'peer-up');
  });

  it('errors: shown when wanted, the same text once a minute', () => {
    const r = new NotifyRules();
    const e: ApiEvent = { type: 'error', message: 'the helper exited' };
    assert.equal(r.onEvent(e, all, 1000)?.kind, 'error');
    assert.equal(r.onEvent(e, all, 2000), null);
    assert.equal(r.onEvent(e, all, 1000 + 61_000)?.kind, 'error');
    assert.equal(new NotifyRules().onEvent(e, { ...all, notifyErrors: false }, 1000), null);
  });
});

describe('IPC checks (every message from the renderer)', () => {
  const fileUrl = pathToFileURL('/opt/PeerMesh/resources/app/renderer/dist/index.html').href;
  const policy: RendererPolicy = { rendererFileUrl: fileUrl, devServerOrigin: null };
  const trusted: TrustedWindow = { webContentsId: 1, mainFrame: { processId: 5, routingId: 1 } };
  const good: SenderInfo = { webContentsId: 1, frame: { url: fileUrl, processId: 5, routingId: 1 } };

  it('a valid request from our window passes; its params come back checked', () => {
    const r = checkIpcMessage(good, trusted, policy, {
      id: 1,
      method: 'metrics',
      params: { peer: 'pi', window: 900 },
    });
    assert.deepEqual(r, { ok: true, id: 1, method: 'metrics', params: { peer: 'pi', window: 900 } });
    assert.equal(
      checkIpcMessage({ ...good, frame: { ...good.frame!, url: `${fileUrl}#/peers` } }, trusted, policy, {
        id: 1,
        method: 'state',
      }).ok,
      true,
    );
  });

  it('other senders are refused: another webContents, a subframe, another page, a gone frame, no window', () => {
    const bad: [SenderInfo, TrustedWindow | null][] = [
      [{ ...good, webContentsId: 2 }, trusted],
      [{ ...good, frame: { ...good.frame!, routingId: 7 } }, trusted],
      [{ ...good, frame: { ...good.frame!, url: 'https://evil.example/' } }, trusted],
      [{ ...good, frame: { ...good.frame!, url: pathToFileURL('/tmp/evil.html').href } }, trusted],
      [{ ...good, frame: null }, trusted],
      [good, null],
    ];
    for (const [s, t] of bad) {
      const r = checkIpcMessage(s, t, policy, { id: 1, method: 'state' });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.error.code, 'forbidden', JSON.stringify(s));
    }
  });

  it('malformed, oversized and unknown messages get structured errors, never a throw', () => {
    const cyclic: Record<string, unknown> = { id: 1, method: 'state' };
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [null, 'bad_request'],
      ['state', 'bad_request'],
      [{ id: 1, method: 'nope' }, 'unknown_method'],
      [{ id: 1, method: 'remove', params: { peer: '' } }, 'bad_params'],
      [{ id: 1, method: 'set-settings', params: { listenPort: -1 } }, 'bad_params'],
      [{ id: 1, method: 'state', params: { pad: 'x'.repeat(70_000) } }, 'too_large'],
      [{ id: 1n, method: 'state' }, 'bad_request'],
      [cyclic, 'bad_request'],
    ];
    for (const [raw, code] of cases) {
      const r = checkIpcMessage(good, trusted, policy, raw);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.error.code, code, String(code));
    }
  });

  it('a handler error reaches the renderer as {code, message}; a bad message never reaches the handler', async () => {
    const calls: string[] = [];
    const handler = async (m: string) => {
      calls.push(m);
      if (m === 'connect') throw new ManagerError('failed', 'no network yet: create one or join with a code');
      return { ok: m };
    };
    assert.deepEqual(await handleIpcCall(good, trusted, policy, { id: 1, method: 'state' }, handler), {
      ok: true,
      result: { ok: 'state' },
    });
    assert.deepEqual(await handleIpcCall(good, trusted, policy, { id: 2, method: 'connect' }, handler), {
      ok: false,
      error: { code: 'failed', message: 'no network yet: create one or join with a code' },
    });
    const r = await handleIpcCall(
      { ...good, webContentsId: 9 },
      trusted,
      policy,
      { id: 3, method: 'leave' },
      handler,
    );
    assert.equal(r.ok, false);
    assert.deepEqual(calls, ['state', 'connect']);
  });
});

describe('helper privileges', () => {
  it('reads the real file capability set by setcap (libcap2-bin), and decides direct or pkexec', (t) => {
    if (!existsSync('/usr/sbin/setcap') || process.getuid?.() !== 0) {
      t.skip('needs root and setcap (libcap2-bin)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'pm-caps-'));
    try {
      const bin = join(dir, 'peermesh-helper');
      copyFileSync('/bin/true', bin);
      assert.deepEqual(
        { known: readFileCaps(bin).known, netAdmin: readFileCaps(bin).netAdmin },
        { known: true, netAdmin: false },
      );
      const uid = 1000;
      assert.equal(probeHelperLaunch(bin, uid, { pkexecPaths: ['/bin/true'] }).mode, 'pkexec');
      assert.equal(spawnSync('/usr/sbin/setcap', ['cap_net_admin+ep', bin]).status, 0);
      assert.equal(readFileCaps(bin).netAdmin, true);
      const l = probeHelperLaunch(bin, uid);
      assert.equal(l.mode, 'direct');
      assert.equal(l.mode === 'direct' && l.reason, 'file-capability');
      assert.equal(probeHelperLaunch(bin, 0).mode, 'direct');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('capability texts, missing helper or pkexec, and the app refusing root', () => {
    assert.equal(capTextHasNetAdmin('cap_net_admin=ep'), true);
    assert.equal(capTextHasNetAdmin('cap_net_admin+p'), false, 'permitted only');
    assert.equal(capTextHasNetAdmin('cap_net_raw,cap_net_admin+ep'), true);
    assert.equal(capTextHasNetAdmin('cap_net_raw+ep'), false);
    assert.equal(capTextHasNetAdmin('=ep cap_net_admin-e'), false);
    const base = { uid: 1000, helperPath: '/x/peermesh-helper', helperExists: true };
    const none = { known: true, netAdmin: false, text: '' };
    assert.equal(
      decideHelperLaunch({ ...base, helperExists: false, caps: none, pkexec: '/usr/bin/pkexec' }).mode,
      'unavailable',
    );
    assert.match(
      decideHelperLaunch({ ...base, caps: none, pkexec: null }).explanation ?? '',
      /setcap cap_net_admin,cap_net_bind_service\+ep/,
    );
    const pk = decideHelperLaunch({ ...base, caps: none, pkexec: '/usr/bin/pkexec' });
    assert.equal(pk.mode, 'pkexec');
    assert.deepEqual(pk.helperCommand, ['/usr/bin/pkexec']);
    assert.match(pk.explanation ?? '', /administrator password/i);
    assert.match(refuseRoot(0) ?? '', /does not run its desktop app as root/);
    assert.equal(refuseRoot(1000), null);
  });
});

describe('window security policy', () => {
  it('a strict CSP replaces whatever a response says; permissions and navigation are denied', () => {
    assert.doesNotMatch(CSP, /unsafe-eval/);
    assert.match(CSP, /script-src 'self'/);
    assert.match(CSP, /connect-src 'none'/);
    const h = withCsp({ 'content-security-policy': ['default-src *'], 'X-Other': 'x' });
    assert.deepEqual(h['Content-Security-Policy'], [CSP]);
    assert.equal(h['content-security-policy'], undefined);
    assert.deepEqual(h['X-Other'], ['x']);
    const policy: RendererPolicy = {
      rendererFileUrl: pathToFileURL('/app/renderer/dist/index.html').href,
      devServerOrigin: null,
    };
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal'])
      assert.equal(permissionAllowed(p, policy.rendererFileUrl, policy), false, p);
    assert.equal(permissionAllowed('clipboard-sanitized-write', policy.rendererFileUrl, policy), true);
    assert.equal(permissionAllowed('clipboard-sanitized-write', 'https://evil.example/', policy), false);
    assert.equal(navigationAllowed('https://example.com/'), false);
  });
});

describe('launch at login (XDG autostart)', () => {
  it('writes a desktop entry with a safely quoted command, and removes it', () => {
    assert.equal(quoteExecArg('/opt/PeerMesh/peermesh'), '/opt/PeerMesh/peermesh');
    assert.equal(quoteExecArg('/home/a b/$x"y'), '"/home/a b/\\$x\\"y"');
    assert.equal(quoteExecArg('100%'), '100%%');
    const dir = mkdtempSync(join(tmpdir(), 'pm-autostart-'));
    try {
      assert.equal(applyLinuxAutostart(true, ['/home/me/PeerMesh.AppImage', '--hidden'], dir), true);
      const text = readFileSync(join(dir, 'net.peermesh.app.desktop'), 'utf8');
      assert.equal(text, desktopEntry(['/home/me/PeerMesh.AppImage', '--hidden']));
      assert.match(text, /^Exec=\/home\/me\/PeerMesh\.AppImage --hidden$/m);
      assert.equal(
        applyLinuxAutostart(true, ['/home/me/PeerMesh.AppImage', '--hidden'], dir),
        false,
        'unchanged',
      );
      assert.equal(applyLinuxAutostart(false, [], dir), true);
      assert.equal(existsSync(join(dir, 'net.peermesh.app.desktop')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
