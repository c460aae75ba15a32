import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../App';
import { appState, fail, node } from '../test/fake-transport';
import { renderWith } from '../test/render';

const fresh = () => appState({ state: 'disconnected', network: null });

function form(name: string) {
  return screen.getByRole('form', { name });
}

describe('first run', () => {
  it('creates a network with the default device name from the settings', async () => {
    let state = fresh();
    const t = node({
      state: () => state,
      'create-network': () => {
        state = appState();
        return state;
      },
    });
    renderWith(<App />, t);
    await screen.findByRole('heading', { name: 'Welcome to PeerMesh' });
    await waitFor(() =>
      expect((screen.getAllByLabelText('Device name')[0] as HTMLInputElement).value).toBe('laptop'),
    );
    fireEvent.change(screen.getByLabelText('Network name'), { target: { value: 'home' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create network' }));
    await screen.findByTestId('network-name');
    expect(t.callsOf('create-network')).toEqual([{ name: 'home', nodeName: 'laptop' }]);
  });

  it('checks the network name before asking the node', async () => {
    const t = node({ state: fresh });
    renderWith(<App />, t);
    await screen.findByRole('heading', { name: 'Welcome to PeerMesh' });
    fireEvent.change(screen.getByLabelText('Network name'), { target: { value: 'my network' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create network' }));
    expect(form('Create a network').querySelector('[role=alert]')?.textContent).toMatch(/letters, digits/);
    expect(t.callsOf('create-network')).toEqual([]);
  });

  it('joins with a pasted code and an edited device name', async () => {
    let state = fresh();
    const t = node({
      state: () => state,
      join: () => {
        state = appState();
        return state;
      },
    });
    renderWith(<App />, t);
    await screen.findByRole('heading', { name: 'Welcome to PeerMesh' });
    const join = form('Join with a code');
    fireEvent.change(screen.getByLabelText('Join code'), { target: { value: '  pm1-abcdefghijklmnop  ' } });
    const nodeName = join.querySelector('input') as HTMLInputElement;
    fireEvent.change(nodeName, { target: { value: 'desk' } });
    fireEvent.click(screen.getByRole('button', { name: 'Join network' }));
    await screen.findByTestId('network-name');
    expect(t.callsOf('join')).toEqual([{ code: 'pm1-abcdefghijklmnop', nodeName: 'desk' }]);
  });

  it.each([
    ['bad_params', 'bad join code: checksum mismatch'],
    ['failed', 'this invitation expired at 2024-01-01T00:00:00.000Z; ask for a new one'],
    ['failed', 'no answer from 198.18.0.1:51820 (is the inviting node running and reachable?)'],
  ])('shows the API error of a failed join (%s: %s)', async (code, message) => {
    const t = node({ state: fresh, join: fail(code, message) });
    renderWith(<App />, t);
    await screen.findByRole('heading', { name: 'Welcome to PeerMesh' });
    fireEvent.change(screen.getByLabelText('Join code'), { target: { value: 'pm1-abcdefghijklmnop' } });
    fireEvent.click(screen.getByRole('button', { name: 'Join network' }));
    const join = form('Join with a code');
    await waitFor(() => expect(join.querySelector('[role=alert]')?.textContent).toBe(message));
    expect((screen.getByRole('button', { name: 'Join network' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('shows the API error of a failed create', async () => {
    const t = node({ state: fresh, 'create-network': fail('failed', 'cannot write the profile: disk full') });
    renderWith(<App />, t);
    await screen.findByRole('heading', { name: 'Welcome to PeerMesh' });
    fireEvent.change(screen.getByLabelText('Network name'), { target: { value: 'home' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create network' }));
    await waitFor(() =>
      expect(form('Create a network').querySelector('[role=alert]')?.textContent).toBe(
        'cannot write the profile: disk full',
      ),
    );
  });
});
