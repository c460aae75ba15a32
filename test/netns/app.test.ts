// The app without a desktop (`peermesh ui`) on two real machines (namespaces): everything a person
// does in the UI, through the web UI's WebSocket Control API: first run, create a network, invite,
// join from the second machine (bad and good codes), both connected with the other online on a
// direct path and RTT samples flowing, rename, disconnect (interface gone) and reconnect, remove, leave.
// The node runs in a worker thread of the `ui` process (manager.ts).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AppState, MetricsResult, PeerRow } from '../../main/control/api';
import { startUi as startUiIn, stopUi, type Ui } from '../lib/app-client';
import { NetnsLab, netnsSkipReason, sleep, waitFor } from '../lib/netns';
import { removeDir, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('the app (peermesh ui) on two machines', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('app');
  const ui: Record<string, Ui> = {};

  const startUi = (host: string) => startUiIn(lab, host, join(dir, host));
  const peersOf = (h: string) => ui[h].api.call<PeerRow[]>('peers');
  const ifname = (h: string) => `pm${lab.id}${h}`;

  before(async () => {
    for (const h of ['a', 'b']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
    ]);
    ui.a = await startUi('a');
    ui.b = await startUi('b');
  });

  after(async () => {
    for (const u of Object.values(ui)) await stopUi(u);
    await lab.cleanup();
    removeDir(dir);
  });

  it('first run: no network yet, and connect says what to do', async () => {
    const s = await ui.a.api.call<AppState>('state');
    assert.equal(s.network, null);
    assert.equal(s.state, 'disconnected');
    assert.equal(s.desktop, false);
    await assert.rejects(ui.a.api.call('connect'), /create one or join/);
    await assert.rejects(
      ui.a.api.call('create-network', { name: 'bad name' }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'bad_params');
        return true;
      },
    );
  });

  it('create a network, invite, join from the other machine: both online on a direct path', async () => {
    for (const h of ['a', 'b'])
      await ui[h].api.call('set-settings', { interfaceName: ifname(h), startConnected: false });
    const s = await ui.a.api.call<AppState>('create-network', { name: 'home', nodeName: 'alpha' });
    assert.equal(s.state, 'connected');
    assert.equal(s.network?.name, 'home');
    assert.match(s.network?.ipv4 ?? '', /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./);
    assert.ok(ui.a.api.events.some((e) => e.type === 'state' && e.state === 'connecting'));
    assert.ok(lab.tryExec('a', 'ip', ['link', 'show', ifname('a')]).ok, 'interface created');

    const inv = await ui.a.api.call<{ code: string; expires: string }>('invite', { expiresSeconds: 3600 });
    assert.ok(inv.code.length > 20);
    await assert.rejects(ui.b.api.call('join', { code: `${inv.code.slice(0, -4)}AAAA` }), /bad join code/);

    const sb = await ui.b.api.call<AppState>('join', { code: inv.code, nodeName: 'beta' });
    assert.equal(sb.state, 'connected');
    assert.equal(sb.network?.name, 'home');

    let rowB: PeerRow | undefined;
    await waitFor(
      'a sees beta online, direct',
      async () => {
        rowB = (await peersOf('a')).find((r) => r.name === 'beta');
        return rowB?.online && rowB.path === 'direct';
      },
      20_000,
      250,
    ).catch((e) => {
      throw new Error(
        `${e.message}; row ${JSON.stringify(rowB)}\n--- a:\n${ui.a.out()}\n--- b:\n${ui.b.out()}`,
      );
    });
    await waitFor(
      'b sees alpha online',
      async () => (await peersOf('b')).some((r) => r.name === 'alpha' && r.online),
      20_000,
      250,
    );
    assert.ok(
      lab.tryExec('b', 'ping', ['-c', '1', '-W', '2', s.network!.ipv4!]).ok,
      'b pings a over the overlay',
    );
    // someone watches (peers read each second): RTT probes every second, the sparkline moves
    await waitFor(
      'RTT samples for beta',
      async () => {
        const r = (await peersOf('a')).find((x) => x.name === 'beta');
        return r && r.rttMs !== null && r.spark.filter((v) => v !== null).length >= 2;
      },
      15_000,
      500,
    );
    assert.ok(ui.a.api.events.some((e) => e.type === 'peer' && e.name === 'beta' && e.online));
    const st = await ui.a.api.call<AppState>('state');
    assert.equal(st.network?.memberCount, 1);
    assert.equal(st.network?.onlineCount, 1);
  });

  it('rename is a local name, kept by this node only', async () => {
    const r = await ui.a.api.call<{ alias: string }>('rename', { peer: 'beta', name: 'Laptop' });
    assert.equal(r.alias, 'Laptop');
    const row = (await peersOf('a')).find((x) => x.name === 'beta');
    assert.equal(row?.alias, 'Laptop');
    const rowOnB = (await peersOf('b')).find((x) => x.name === 'alpha');
    assert.equal(rowOnB?.alias, null);
  });

  it('a settings change that cannot be applied is not saved: a clear error, the old settings run on', async () => {
    const before = await ui.a.api.call<{ listenPort: number }>('settings');
    // Another program holds UDP port 51900 on A's machine.
    const squatter = lab.spawnIn('a', process.execPath, [
      '-e',
      "require('node:dgram').createSocket('udp4').bind(51900, () => console.log('bound'))",
    ]);
    try {
      await waitFor(
        'the squatter bound',
        () => lab.tryExec('a', 'ss', ['-uln']).out.includes(':51900'),
        5000,
        100,
      );
      await assert.rejects(
        ui.a.api.call('set-settings', { listenPort: 51900 }),
        /UDP port 51900 is used by another program: choose another port/,
      );
      assert.equal((await ui.a.api.call<{ listenPort: number }>('settings')).listenPort, before.listenPort);
      await waitFor(
        'a connected again on the old settings',
        async () => {
          const st = await ui.a.api.call<AppState>('state');
          return st.state === 'connected' && st.network?.listenPort === before.listenPort;
        },
        15_000,
      );
      const saved = JSON.parse(readFileSync(join(dir, 'a', 'settings.json'), 'utf8')) as {
        listenPort: number;
      };
      assert.equal(saved.listenPort, before.listenPort, 'the failed port was written to settings.json');
    } finally {
      squatter.kill();
    }
  });

  it('disconnect removes the interface, the other side sees it offline at once; connect brings it back', async () => {
    const beta = (await peersOf('a')).find((r) => r.name === 'beta')!.key;
    const metricsOf = () =>
      ui.a.api
        .call<MetricsResult>('metrics', { peer: beta, window: 900, points: 900 })
        .then((m) => m.series!);
    const before = await metricsOf();
    const measured = before.t.filter((_, i) => before.rtt[i] !== null);
    assert.ok(
      measured.length >= 2,
      `RTT samples before the disconnect: ${before.rtt.filter((x) => x !== null)}`,
    );
    const s = await ui.a.api.call<AppState>('disconnect');
    assert.equal(s.state, 'disconnected');
    // a said goodbye: b shows alpha offline within seconds, not after the 65 s path timeout
    await waitFor(
      'b sees alpha offline',
      async () => (await peersOf('b')).some((r) => r.name === 'alpha' && !r.online),
      5000,
      100,
    ).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await peersOf('b'))}\n${ui.b.out().slice(-3000)}`);
    });
    await waitFor('the offline event', () =>
      ui.b.api.events.some((e) => e.type === 'peer' && e.name === 'alpha' && !e.online),
    ).catch((e) => {
      throw new Error(
        `${e.message}; events at b: ${JSON.stringify(ui.b.api.events.slice(-20))}\n${ui.b.out().slice(-3000)}`,
      );
    });
    await sleep(3000);
    assert.ok(
      (await peersOf('b')).some((r) => r.name === 'alpha' && !r.online),
      'alpha stays offline',
    );
    assert.ok(!lab.tryExec('a', 'ip', ['link', 'show', ifname('a')]).ok, 'interface gone');
    assert.deepEqual(await peersOf('a'), []);
    const s2 = await ui.a.api.call<AppState>('connect');
    assert.equal(s2.state, 'connected');
    await waitFor(
      'beta online again',
      async () => (await peersOf('a')).some((r) => r.name === 'beta' && r.online),
      20_000,
      250,
    );
    // the alias is kept across reconnects (state directory)
    assert.equal((await peersOf('a')).find((r) => r.name === 'beta')?.alias, 'Laptop');
    // ... and so are the charts (issue 19): the seconds measured before are still there, the time
    // the node was down is "nothing recorded" (reach 0, not an outage), the path changes go on
    const m = await ui.a.api.call<MetricsResult>('metrics', { peer: beta, window: 900, points: 900 });
    const after = m.series!;
    for (const t of measured)
      assert.notEqual(after.rtt[after.t.indexOf(t)], null, `the RTT of second ${t} kept`);
    const last = measured[measured.length - 1];
    const gap = after.t.filter((t, i) => t > last && after.reach[i] === 0);
    assert.ok(
      gap.length >= 2,
      `the 3 s the node was down show as not recorded: ${JSON.stringify(after.reach.slice(-30))}`,
    );
    const kinds = m.summary!.pathChanges.map((c) => c.kind);
    assert.ok(kinds.indexOf('direct') < kinds.lastIndexOf('unknown'), `path history kept: ${kinds}`);
  });

  it('remove: the member disappears and cannot reach the network any more', async () => {
    const aIp = (await ui.a.api.call<AppState>('state')).network!.ipv4!;
    assert.match(aIp, /^100\./, 'an address to fail to reach');
    await ui.a.api.call('remove', { peer: 'beta' });
    assert.ok(!(await peersOf('a')).some((r) => r.name === 'beta'));
    await waitFor(
      'b cannot ping a',
      () => !lab.tryExec('b', 'ping', ['-c', '1', '-W', '1', aIp]).ok,
      15_000,
      500,
    );
  });

  it('leave: the profile forgets the network and its secret', async () => {
    const s = await ui.b.api.call<AppState>('leave');
    assert.equal(s.network, null);
    assert.equal(s.state, 'disconnected');
    assert.ok(!existsSync(join(ui.b.profile, 'networks', 'home.secret')));
    assert.ok(!lab.tryExec('b', 'ip', ['link', 'show', ifname('b')]).ok, 'interface gone');
    const logs = await ui.b.api.call<{ message: string }[]>('logs', { level: 'info' });
    assert.ok(logs.some((l) => /left network "home"/.test(l.message)));
  });
});
