// The UI says what is true at a glance (issue 19): the tab's title, a colour that stays with its
// peer, Invite only while connected, a detail the filter hides closes.
import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App, titleOf } from './App';
import { Header } from './components/Header';
import { PeersView } from './components/PeersView';
import { colorSlots } from './palette';
import { appState, node, peer } from './test/fake-transport';
import { renderWith } from './test/render';

describe('what the UI shows at a glance', () => {
  it('the title says the state and how many peers are online', async () => {
    const connected = appState({ state: 'connected' });
    const peers = [peer('a'), peer('b', { online: false }), peer('c')];
    expect(titleOf(connected, peers, 1)).toBe('PeerMesh — connected, 2 of 3 online');
    expect(titleOf(appState({ state: 'disconnected' }), [], 0)).toBe('PeerMesh — disconnected');
    expect(titleOf(appState({ network: null }), [], 0)).toBe('PeerMesh — no network yet');
    renderWith(<App />, node({ peers: () => peers }));
    await waitFor(() => expect(document.title).toBe('PeerMesh — connected, 2 of 3 online'));
  });

  it('a peer keeps its chart colour when others come and go or the list is sorted', () => {
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    const all = colorSlots(keys);
    expect(new Set(all.values()).size).toBe(5);
    const reordered = colorSlots([...keys].reverse());
    for (const k of keys) expect(reordered.get(k)).toBe(all.get(k));
    // one going offline changes nobody else's colour unless they had collided with it
    const fewer = colorSlots(keys.slice(1));
    const moved = keys.slice(1).filter((k) => fewer.get(k) !== all.get(k));
    expect(moved.length).toBeLessThanOrEqual(1);
  });

  it('Invite… only while connected', async () => {
    renderWith(<Header />, node({ state: () => appState({ state: 'disconnected' }) }));
    const invite = await screen.findByRole('button', { name: 'Invite…' });
    await waitFor(() => expect((invite as HTMLButtonElement).disabled).toBe(true));
    expect(invite.getAttribute('title')).toMatch(/Connect first/);
  });

  it('an online peer without a session yet is idle, not "never"', async () => {
    const rows = [
      peer('alice', { lastHandshake: null, online: true }),
      peer('bob', { lastHandshake: null, online: false }),
    ];
    renderWith(<PeersView />, node({ peers: () => rows }));
    await screen.findByRole('table', { name: 'Peers' });
    expect(screen.getByText('no session yet (idle)')).toBeTruthy();
    expect(screen.getByText('never')).toBeTruthy();
  });

  it('a peer detail the filter hides closes', async () => {
    const rows = [peer('alice'), peer('bob')];
    const { store } = renderWith(<PeersView />, node({ peers: () => rows }));
    await screen.findByRole('table', { name: 'Peers' });
    store.getState().select(rows[1].key);
    fireEvent.change(screen.getByLabelText('Filter peers'), { target: { value: 'alice' } });
    await waitFor(() => expect(store.getState().selected).toBeNull());
  });
});
