import { describe, expect, it, vi } from 'vitest';
import type { ApiEvent } from './api';
import { parseApiEvent } from './events';
import { createAppStore, MAX_LOGS } from './store';
import { appState, type FakeTransport, fail, node, peer, settings } from './test/fake-transport';

const flush = () => new Promise((r) => setTimeout(r, 0));

async function started(t: FakeTransport) {
  const store = createAppStore(t);
  const stop = store.getState().start();
  await flush();
  return { store, stop };
}

describe('store', () => {
  it('loads state, settings and logs when the link opens, and again after a reconnect', async () => {
    const t = node({ logs: () => [{ time: 1, level: 'info', message: 'hello' }] });
    t.setStatus('connecting');
    const store = createAppStore(t);
    store.getState().start();
    await flush();
    expect(store.getState().link).toBe('connecting');
    expect(t.calls).toEqual([]);

    t.setStatus('open');
    await flush();
    const s = store.getState();
    expect(s.app?.network?.name).toBe('home');
    expect(s.settings?.nodeName).toBe('laptop');
    expect(s.logs.map((l) => l.message)).toEqual(['hello']);
    expect(t.callsOf('logs')).toEqual([{ limit: MAX_LOGS }]);

    t.setStatus('closed');
    expect(store.getState().link).toBe('closed');
    expect(store.getState().linkWasOpen).toBe(true);
    t.setStatus('open');
    await flush();
    expect(t.callsOf('state')).toHaveLength(2);
  });

  it('follows state events at once and reads the full state shortly after', async () => {
    vi.useFakeTimers();
    try {
      const t = node();
      const store = createAppStore(t);
      store.getState().start();
      await vi.advanceTimersByTimeAsync(0);
      t.emit({ type: 'state', state: 'error', error: 'no route to bootstrap' });
      expect(store.getState().app?.state).toBe('error');
      expect(store.getState().app?.error).toBe('no route to bootstrap');
      const before = t.callsOf('state').length;
      t.emit({ type: 'state', state: 'connecting' });
      t.emit({ type: 'state', state: 'connected' });
      await vi.advanceTimersByTimeAsync(300);
      // two events in a burst: one `state` call
      expect(t.callsOf('state')).toHaveLength(before + 1);
      expect(store.getState().app?.state).toBe('connected');
    } finally {
      vi.useRealTimers();
    }
  });

  it('notification settings work in the web UI: peer notices become toasts by the desktop app’s rules', async () => {
    vi.useFakeTimers();
    try {
      let notify = settings({ notifyPeerUp: false, notifyPeerDown: true });
      const t = node({ settings: () => notify });
      const store = createAppStore(t);
      store.getState().start();
      await vi.advanceTimersByTimeAsync(0);
      await store.getState().refreshPeers();
      const bob = store.getState().peers.find((p) => p.name === 'bob')!;
      const texts = () => store.getState().toasts.map((x) => x.text);
      // The burst right after connecting is no news.
      t.emit({ type: 'peer', key: bob.key, name: 'bob', online: false });
      expect(texts()).toEqual([]);
      await vi.advanceTimersByTimeAsync(21_000);
      t.emit({ type: 'peer', key: bob.key, name: 'bob', online: true });
      expect(texts()).toEqual([]); // peer up is off in the settings
      t.emit({ type: 'peer', key: bob.key, name: 'bob', online: false });
      expect(texts()).toEqual(['bob went offline']);
      // One per peer a minute: a flap inside the window is summed up by the tick, if it differs.
      t.emit({ type: 'peer', key: bob.key, name: 'bob', online: true });
      t.emit({ type: 'peer', key: bob.key, name: 'bob', online: false });
      await vi.advanceTimersByTimeAsync(61_000);
      expect(texts()).toEqual(['bob went offline']);
      // Settings changed to peer-up too.
      notify = settings({ notifyPeerUp: true, notifyPeerDown: true });
      await store.getState().refreshSettings();
      t.emit({ type: 'peer', key: bob.key, name: 'bob', online: true });
      expect(texts()).toEqual(['bob went offline', 'bob is online']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('patches peer rows from peer, path, rtt, handshake and removed events', async () => {
    const t = node();
    const { store } = await started(t);
    await store.getState().refreshPeers();
    const alice = store.getState().peers.find((p) => p.name === 'alice')!;
    const bob = store.getState().peers.find((p) => p.name === 'bob')!;

    t.emit({ type: 'peer', key: bob.key, name: 'bob', online: true });
    t.emit({ type: 'path', key: alice.key, name: 'alice', kind: 'relayed', via: 'carol' });
    t.emit({ type: 'rtt', key: alice.key, ms: 77 });
    t.emit({ type: 'handshake', key: bob.key });
    const rows = store.getState().peers;
    const a = rows.find((p) => p.key === alice.key)!;
    const b = rows.find((p) => p.key === bob.key)!;
    expect(b.online).toBe(true);
    expect(a.path).toBe('relayed');
    expect(a.via).toBe('carol');
    expect(a.rttMs).toBe(77);
    expect(Date.now() - b.lastHandshake!).toBeLessThan(1000);

    t.emit({ type: 'path', key: alice.key, name: 'alice', kind: 'direct', endpoint: '203.0.113.5:4000' });
    const a2 = store.getState().peers.find((p) => p.key === alice.key)!;
    expect([a2.path, a2.via, a2.endpoint]).toEqual(['direct', null, '203.0.113.5:4000']);

    store.getState().select(alice.key);
    t.emit({ type: 'removed', key: alice.key, name: 'alice', by: bob.key });
    expect(store.getState().peers.map((p) => p.name)).toEqual(['bob']);
    expect(store.getState().selected).toBeNull();
  });

  it('tells route offers and withdrawals in the event feed, in words', async () => {
    const t = node();
    const { store } = await started(t);
    const key = `${'alpha'.padEnd(43, 'A')}=`;
    const route = (prefix: string, exit: boolean, offered: boolean): ApiEvent => ({
      type: 'route',
      key,
      name: 'alpha',
      prefix,
      exit,
      offered,
    });
    const events = [
      route('10.1.0.0/24', false, true),
      route('0.0.0.0/0', true, true),
      route('10.1.0.0/24', false, false),
      route('0.0.0.0/0', true, false),
    ];
    // as from the wire: the events pass the check every received event goes through
    for (const e of events) t.emit(parseApiEvent(JSON.parse(JSON.stringify(e)))!);
    expect(store.getState().feed.map((f) => [f.kind, f.text])).toEqual([
      ['route', 'alpha offers the route 10.1.0.0/24'],
      ['route', 'alpha offers to be an exit node'],
      ['route', 'alpha withdrew the route 10.1.0.0/24'],
      ['route', 'alpha no longer offers to be an exit node'],
    ]);
    expect(parseApiEvent({ ...events[0], offered: 'yes' })).toBeNull();
    expect(parseApiEvent({ ...events[0], prefix: 7 })).toBeNull();
  });

  it('keeps the last MAX_LOGS log lines and shows error events as toasts', async () => {
    const t = node();
    const { store } = await started(t);
    for (let i = 0; i < MAX_LOGS + 5; i++) t.emit({ type: 'log', time: i, level: 'debug', message: `m${i}` });
    const logs = store.getState().logs;
    expect(logs).toHaveLength(MAX_LOGS);
    expect(logs[0].message).toBe('m5');
    expect(logs.at(-1)?.message).toBe(`m${MAX_LOGS + 4}`);

    t.emit({ type: 'error', message: 'tun device vanished' });
    expect(store.getState().toasts.map((x) => [x.kind, x.text])).toEqual([['error', 'tun device vanished']]);
  });

  it('asks for metrics of the selected peer with the window and its point count', async () => {
    const t = node({
      metrics: (p) => ({ peer: p.peer, name: 'alice', path: 'direct', summary: null, series: null }),
    });
    const { store } = await started(t);
    await store.getState().refreshMetrics();
    expect(t.callsOf('metrics')).toEqual([]);
    store.getState().select('KEY');
    store.getState().setMetricsWindow(900);
    await store.getState().refreshMetrics();
    expect(t.callsOf('metrics')).toEqual([{ peer: 'KEY', window: 900, points: 180 }]);
    expect(store.getState().metrics?.name).toBe('alice');
  });

  it('connect failing into the error state shows it in the header, not as a toast', async () => {
    let state = appState({ state: 'disconnected' });
    const t = node({
      state: () => state,
      connect: () => {
        state = appState({ state: 'error', error: 'interface pm0: permission denied' });
        throw Object.assign(new Error('interface pm0: permission denied'), { code: 'failed' });
      },
    });
    const { store } = await started(t);
    await store.getState().connect();
    expect(store.getState().app?.state).toBe('error');
    expect(store.getState().toasts).toEqual([]);
    expect(store.getState().toggleBusy).toBe(false);
  });

  it('removing a member updates the list; a failure rejects with the API message', async () => {
    const t = node({ remove: () => ({ removed: 'x', name: 'alice' }) });
    const { store } = await started(t);
    await store.getState().refreshPeers();
    const alice = store.getState().peers[0];
    await store.getState().remove(alice.key);
    expect(store.getState().peers.map((p) => p.name)).toEqual(['bob']);
    t.handlers.remove = fail('failed', 'no member "zed"');
    await expect(store.getState().remove('zed')).rejects.toThrow('no member "zed"');
  });

  it('ping shows the answer as a toast', async () => {
    const t = node({
      peers: () => [peer('alice')],
      'ping-peer': () => ({ peer: 'k', name: 'alice', rttMs: 12.5, path: 'relayed', via: 'carol' }),
    });
    const { store } = await started(t);
    await store.getState().refreshPeers();
    await store.getState().pingPeer(store.getState().peers[0].key);
    expect(store.getState().toasts.at(-1)?.text).toBe('Ping alice: 12.5 ms (relayed via carol)');
  });

  it('saving settings keeps what the node answered', async () => {
    const t = node({ 'set-settings': (p) => settings(p) });
    const { store } = await started(t);
    const saved = await store.getState().saveSettings({ relay: true });
    expect(saved.relay).toBe(true);
    expect(store.getState().settings?.relay).toBe(true);
    expect(t.callsOf('set-settings')).toEqual([{ relay: true }]);
  });
});
