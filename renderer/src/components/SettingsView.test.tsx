import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Settings } from '../api';
import { appState, fail, node, settings } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { fieldErrorOf, SettingsView } from './SettingsView';

async function shown(over: Parameters<typeof node>[0] = {}) {
  let saved = settings({ advertiseRoutes: ['192.168.1.0/24'] });
  const t = node({
    settings: () => saved,
    'set-settings': (p) => {
      saved = { ...saved, ...(p as Partial<Settings>) };
      return saved;
    },
    ...over,
  });
  const r = renderWith(<SettingsView />, t);
  await screen.findByRole('form', { name: 'Settings' });
  return { t, ...r };
}

const save = () => fireEvent.click(screen.getByRole('button', { name: 'Save' }));

describe('settings', () => {
  it('sends only what changed with set-settings', async () => {
    const { t } = await shown();
    fireEvent.change(screen.getByLabelText('Device name'), { target: { value: 'desk' } });
    fireEvent.change(screen.getByLabelText('Listen port'), { target: { value: '51900' } });
    fireEvent.click(screen.getByLabelText(/Relay traffic/));
    fireEvent.click(screen.getByLabelText('Dark'));
    fireEvent.click(screen.getByRole('button', { name: 'Add route' }));
    fireEvent.change(screen.getByLabelText('Route 2'), { target: { value: '10.1.0.0/16' } });
    save();
    await screen.findByText('Settings saved.');
    expect(t.callsOf('set-settings')).toEqual([
      {
        nodeName: 'desk',
        listenPort: 51900,
        relay: true,
        theme: 'dark',
        advertiseRoutes: ['192.168.1.0/24', '10.1.0.0/16'],
      },
    ]);
    save();
    await screen.findByText('Nothing to save.');
    expect(t.callsOf('set-settings')).toHaveLength(1);
  });

  it('shows a field error from the API next to its field', async () => {
    const { t } = await shown({
      'set-settings': fail(
        'bad_params',
        'params.advertiseRoutes[0]: expected a CIDR such as 192.168.1.0/24 or fd00::/64',
      ),
    });
    fireEvent.change(screen.getByLabelText('Route 1'), { target: { value: '192.168.1.0/33' } });
    save();
    await screen.findByText('Expected a CIDR such as 192.168.1.0/24 or fd00::/64');
    expect(screen.getByLabelText('Route 1').getAttribute('aria-invalid')).toBe('true');
    expect(t.callsOf('set-settings')).toEqual([{ advertiseRoutes: ['192.168.1.0/33'] }]);

    t.handlers['set-settings'] = fail(
      'failed',
      'set-settings: this node runs from a config file; edit it and restart',
    );
    fireEvent.change(screen.getByLabelText('Device name'), { target: { value: 'desk' } });
    save();
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toBe(
        'set-settings: this node runs from a config file; edit it and restart',
      ),
    );
  });

  it('refuses a port that is not a number without asking the node', async () => {
    const { t } = await shown();
    fireEvent.change(screen.getByLabelText('Listen port'), { target: { value: '70000' } });
    save();
    await screen.findByText(/A whole number from 0 to 65535/);
    expect(screen.getByLabelText('Listen port').getAttribute('aria-invalid')).toBe('true');
    expect(t.callsOf('set-settings')).toEqual([]);
    await waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText('Listen port')));
  });

  it('a save the node could not apply: the error, and the form compares with what is really saved', async () => {
    const { t } = await shown({
      'set-settings': fail(
        'failed',
        'UDP port 51900 is used by another program: choose another port (Settings, or --listen)',
      ),
    });
    fireEvent.change(screen.getByLabelText('Listen port'), { target: { value: '51900' } });
    save();
    // beside the field it is about, which gets the focus (not <body>: Save was disabled while saving)
    await screen.findByText(/UDP port 51900 is used by another program/);
    expect(screen.getByLabelText('Listen port').getAttribute('aria-invalid')).toBe('true');
    await waitFor(() => expect(document.activeElement).toBe(screen.getByLabelText('Listen port')));
    fireEvent.change(screen.getByLabelText('Listen port'), { target: { value: '51820' } });
    save();
    await screen.findByText('Nothing to save.');
    expect(t.callsOf('set-settings')).toEqual([{ listenPort: 51900 }]);
    expect(t.callsOf('settings').length).toBeGreaterThan(1); // read again after the failure
  });

  it('hides "Start at login" outside the desktop app', async () => {
    await shown();
    expect(screen.queryByLabelText('Start at login')).toBeNull();
    await screen.findByRole('button', { name: 'Leave network' });
  });

  it('shows "Start at login" in the desktop app', async () => {
    await shown({ state: () => appState({ desktop: true }) });
    await screen.findByLabelText('Start at login');
  });

  it('leaves the network after confirming', async () => {
    const { t, store } = await shown({ leave: () => appState({ state: 'disconnected', network: null }) });
    fireEvent.click(await screen.findByRole('button', { name: 'Leave network' }));
    const dialog = screen.getByRole('dialog', { name: 'Leave “home”?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Leave network' }));
    await waitFor(() => expect(store.getState().app?.network).toBeNull());
    expect(t.callsOf('leave')).toEqual([{}]);
  });
});

describe('fieldErrorOf', () => {
  it('reads the field out of a schema error', () => {
    expect(fieldErrorOf('params.listenPort: expected a whole number from 0 to 65535, got 70000')).toEqual({
      errors: { listenPort: 'Expected a whole number from 0 to 65535, got 70000' },
    });
    expect(fieldErrorOf('cannot bind')).toBeNull();
  });

  it('puts what the node could not apply beside its field', () => {
    const port = 'UDP port 51900 is used by another program: choose another port (Settings, or --listen)';
    expect(fieldErrorOf(port)).toEqual({ errors: { listenPort: port } });
    const iface = 'An interface named pm0 exists: choose another interface name (Settings, or --interface)';
    expect(fieldErrorOf(iface)).toEqual({ errors: { interfaceName: iface } });
  });
});
