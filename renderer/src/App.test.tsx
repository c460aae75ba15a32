import { act, fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from './App';
import { node, settings } from './test/fake-transport';
import { renderWith } from './test/render';

describe('App', () => {
  it('shows the header and tabs once there is a network, and moves between tabs', async () => {
    const t = node({
      logs: () => [
        { time: 1, level: 'debug', message: 'probe sent' },
        { time: 2, level: 'warn', message: 'bootstrap slow' },
      ],
    });
    renderWith(<App />, t);
    expect((await screen.findByTestId('network-name')).textContent).toBe('home');
    expect(screen.getByTestId('own-ipv4').textContent).toBe('100.64.0.1');
    expect(screen.getByRole('tab', { name: 'Peers' }).getAttribute('aria-selected')).toBe('true');
    await screen.findByRole('table', { name: 'Peers' });

    // Network: the mesh as a graph
    fireEvent.keyDown(screen.getByRole('tab', { name: 'Peers' }), { key: 'ArrowRight' });
    expect(screen.getByRole('tab', { name: 'Network' }).getAttribute('aria-selected')).toBe('true');
    await screen.findByTestId('network-graph');

    // Events: what happened since the page opened, newest first, in words
    fireEvent.keyDown(screen.getByRole('tab', { name: 'Network' }), { key: 'ArrowRight' });
    expect(screen.getByRole('tab', { name: 'Events' }).getAttribute('aria-selected')).toBe('true');
    expect(screen.getByText('Nothing has happened since this page opened.')).toBeTruthy();
    const bob = `${'bob'.padEnd(43, 'K')}=`;
    const alice = `${'alice'.padEnd(43, 'K')}=`;
    act(() => {
      t.emit({ type: 'member', key: `${'dan'.padEnd(43, 'K')}=`, name: 'dan' });
      t.emit({ type: 'peer', key: bob, name: 'bob', online: true });
      t.emit({ type: 'path', key: bob, name: 'bob', kind: 'relayed', via: 'alice' });
      t.emit({ type: 'rtt', key: bob, ms: 12 });
      t.emit({ type: 'removed', key: bob, name: 'bob', by: alice });
    });
    const feed = screen.getByRole('list', { name: 'Events' });
    expect([...feed.querySelectorAll('li')].map((li) => li.textContent?.replace(/^\S+ /, ''))).toEqual([
      'bob was removed by alice',
      'bob: relayed via alice',
      'bob is online',
      'dan joined the network',
    ]);

    fireEvent.keyDown(screen.getByRole('tab', { name: 'Events' }), { key: 'ArrowRight' });
    expect(screen.getByRole('tab', { name: 'Logs' }).getAttribute('aria-selected')).toBe('true');
    expect(document.activeElement).toBe(screen.getByRole('tab', { name: 'Logs' }));
    // info and above by default; debug on request; live lines arrive
    expect(screen.queryByText('probe sent')).toBeNull();
    expect(screen.getByText('bootstrap slow')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'debug' } });
    expect(screen.getByText('probe sent')).toBeTruthy();
    act(() => t.emit({ type: 'log', time: 3, level: 'error', message: 'tunnel down' }));
    expect(screen.getByText('tunnel down')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'error' } });
    expect(screen.queryByText('bootstrap slow')).toBeNull();

    fireEvent.click(screen.getByRole('tab', { name: 'Settings' }));
    await screen.findByRole('form', { name: 'Settings' });
  });

  it('says when the link to the node is lost, and applies the theme', async () => {
    const t = node({ settings: () => settings({ theme: 'dark' }) });
    t.setStatus('connecting');
    renderWith(<App />, t);
    expect(screen.getByTestId('link-banner').textContent).toBe('Connecting to the node…');
    act(() => t.setStatus('open'));
    await waitFor(() => expect(screen.queryByTestId('link-banner')).toBeNull());
    await waitFor(() => expect(document.documentElement.dataset.theme).toBe('dark'));
    act(() => t.setStatus('closed'));
    expect(screen.getByTestId('link-banner').textContent).toMatch(/Lost connection to the node/);
  });
});
