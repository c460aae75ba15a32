import { screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { appState, node } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { Header } from './Header';

describe('Header: this device', () => {
  it('shows name, addresses, DNS name and key with copy buttons, also while disconnected', async () => {
    const t = node({ state: () => appState({ state: 'disconnected' }) });
    renderWith(<Header />, t);
    expect(await screen.findByText('laptop.home')).toBeTruthy();
    for (const what of ['own IPv4 address', 'own DNS name', 'own public key'])
      expect(screen.getByRole('button', { name: `Copy ${what}` })).toBeTruthy();
    // The key is shortened on screen, whole in the tooltip and for screen readers.
    const key = `${'S'.repeat(43)}=`;
    expect(screen.getByTitle(key).textContent).toContain(key);
    expect(screen.getByTestId('member-counts').textContent).toMatch(/^— of/);
  });
});
