import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { AccessStatus } from '../api';
import { appState, FakeTransport, fail } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { AccessPanel } from './AccessPanel';

const KEY = `${'L'.repeat(43)}=`;
const base: AccessStatus = {
  default: 'deny',
  rules: [
    { action: 'allow', peer: KEY, name: 'laptop', what: 'tcp/22', inNetwork: true },
    { action: 'allow', peer: 'all', name: 'all', what: 'icmp', inNetwork: true },
  ],
  applied: true,
  error: null,
  dropped: 17,
};

function transport(onSet: (p: Record<string, unknown>, now: AccessStatus) => AccessStatus) {
  let now = base;
  return new FakeTransport({
    state: () => appState({ state: 'connected' }),
    peers: () => [],
    access: () => now,
    'set-access': (p) => {
      now = onSet(p, now);
      return now;
    },
  });
}

describe('AccessPanel', () => {
  it('shows the node’s rules in order, the default and the dropped count', async () => {
    renderWith(
      <AccessPanel />,
      transport((_, n) => n),
    );
    expect(await screen.findByText(/Applied; 17 packets dropped/)).toBeTruthy();
    expect((screen.getByLabelText('When no rule matches') as HTMLSelectElement).value).toBe('deny');
    const items = screen.getAllByRole('listitem').map((li) => li.textContent);
    expect(items[0]).toContain('allow laptop tcp/22');
    expect(items[1]).toContain('allow every member icmp');
  });

  it('changes the default and removes a rule by its number; what is shown is the node’s answer', async () => {
    const t = transport((p, n) =>
      p.op === 'default'
        ? { ...n, default: p.policy as 'allow' | 'deny' }
        : { ...n, rules: n.rules.filter((_, i) => i !== Number(p.index) - 1), dropped: 20 },
    );
    renderWith(<AccessPanel />, t);
    fireEvent.change(await screen.findByLabelText('When no rule matches'), { target: { value: 'allow' } });
    await waitFor(() =>
      expect((screen.getByLabelText('When no rule matches') as HTMLSelectElement).value).toBe('allow'),
    );
    fireEvent.click(screen.getByRole('button', { name: /Remove rule 1: allow laptop tcp\/22/ }));
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(1));
    expect(screen.getByText(/20 packets dropped/)).toBeTruthy();
    expect(t.callsOf('set-access')).toEqual([
      { op: 'default', policy: 'allow' },
      { op: 'remove', index: 1 },
    ]);
  });

  it('a refusal is shown, not swallowed; rules the host could not apply say so', async () => {
    const t = transport((_, n) => n);
    t.handlers.access = () => ({
      ...base,
      applied: false,
      error: 'access rules not applied: Input/output error',
    });
    t.handlers['set-access'] = fail('failed', 'no rule 9 (there are 2)');
    renderWith(<AccessPanel />, t);
    expect(await screen.findByText(/Not applied: access rules not applied/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: /Remove rule 2/ }));
    // (an empty alert region may be there already: wait for its text, not for the element)
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('no rule 9'));
  });
});
