import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ConnectionState } from '../api';
import { appState, node } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { ConnectToggle } from './ConnectToggle';

describe('ConnectToggle', () => {
  it('shows each connection state with the matching buttons', async () => {
    const t = node({ state: () => appState({ state: 'disconnected' }) });
    renderWith(<ConnectToggle />, t);
    const status = screen.getByRole('status');
    await waitFor(() => expect(status.textContent).toBe('Disconnected'));
    expect(screen.getByRole('button', { name: 'Connect' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Disconnect' })).toBeNull();

    const expected: [ConnectionState, string, string[]][] = [
      ['connecting', 'Connecting…', ['Disconnect']],
      ['connected', 'Connected', ['Disconnect']],
      ['error', 'Error: bootstrap 198.18.0.1:51820 unreachable', ['Retry', 'Disconnect']],
      ['disconnected', 'Disconnected', ['Connect']],
    ];
    for (const [state, text, buttons] of expected) {
      act(() =>
        t.emit(
          state === 'error'
            ? { type: 'state', state, error: 'bootstrap 198.18.0.1:51820 unreachable' }
            : { type: 'state', state },
        ),
      );
      expect(status.textContent).toBe(text);
      expect(screen.getAllByRole('button').map((b) => b.textContent)).toEqual(buttons);
    }
  });

  it('calls connect and disconnect', async () => {
    let state: ConnectionState = 'disconnected';
    const t = node({
      state: () => appState({ state }),
      connect: () => {
        state = 'connected';
        return appState({ state });
      },
      disconnect: () => {
        state = 'disconnected';
        return appState({ state });
      },
    });
    renderWith(<ConnectToggle />, t);
    fireEvent.click(await screen.findByRole('button', { name: 'Connect' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Disconnect' }));
    await screen.findByRole('button', { name: 'Connect' });
    expect(
      t.calls.filter((c) => c.method === 'connect' || c.method === 'disconnect').map((c) => c.method),
    ).toEqual(['connect', 'disconnect']);
  });

  it('Retry connects again after an error', async () => {
    const t = node({
      state: () => appState({ state: 'error', error: 'interface pm0 exists' }),
      connect: () => appState(),
    });
    renderWith(<ConnectToggle />, t);
    expect((await screen.findByRole('status')).textContent).toContain('interface pm0 exists');
    fireEvent.click(await screen.findByRole('button', { name: 'Retry' }));
    await screen.findByText('Connected');
    expect(t.callsOf('connect')).toHaveLength(1);
  });
});
