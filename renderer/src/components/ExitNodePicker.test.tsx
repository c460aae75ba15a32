import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { ExitStatus } from '../api';
import { appState, FakeTransport, fail } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { ExitNodePicker } from './ExitNodePicker';

const base: ExitStatus = {
  node: null,
  key: null,
  state: 'none',
  reason: null,
  allowLan: false,
  failOpen: false,
  offeredBy: ['p'],
};

function transport(exit: ExitStatus, onChoose?: (p: Record<string, unknown>) => ExitStatus) {
  let now = exit;
  const t = new FakeTransport({
    state: () => appState({ state: 'connected' }),
    status: () => ({ network: { exitNode: now } }),
    'exit-node': (p) => {
      now = onChoose ? onChoose(p) : now;
      return now;
    },
  });
  return t;
}

describe('ExitNodePicker', () => {
  it('lists the members that offer to be an exit and chooses one; the state shown is the node’s answer', async () => {
    const t = transport(base, (p) => ({ ...base, node: String(p.node), key: 'K', state: 'active' }));
    renderWith(<ExitNodePicker />, t);
    const select = await screen.findByLabelText('Send all traffic through');
    expect(screen.getByText(/Not used: traffic goes out/)).toBeTruthy();
    fireEvent.change(select, { target: { value: 'p' } });
    await waitFor(() => expect(screen.getByText(/p: All traffic goes through it/)).toBeTruthy());
    expect(t.callsOf('exit-node')).toEqual([{ node: 'p' }]);
  });

  it('says why traffic is blocked when the exit is away (fail closed)', async () => {
    const t = transport({
      ...base,
      node: 'p',
      key: 'K',
      state: 'blocked',
      reason: 'the exit node is unavailable ("p" is offline); failing closed',
    });
    renderWith(<ExitNodePicker />, t);
    expect(await screen.findByText(/traffic to the internet is blocked/)).toBeTruthy();
    expect(screen.getByText(/"p" is offline/)).toBeTruthy();
  });

  it('options go with the current choice; a refusal is shown, not swallowed', async () => {
    const t = transport({ ...base, node: 'p', key: 'K', state: 'active' });
    t.handlers['exit-node'] = fail('failed', '"p" does not offer to be an exit node');
    renderWith(<ExitNodePicker />, t);
    fireEvent.click(await screen.findByLabelText(/Keep reaching this device’s local network/));
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toContain('does not offer to be an exit node'),
    );
    expect(t.callsOf('exit-node')).toEqual([{ node: 'p', allowLan: true }]);
  });
});
