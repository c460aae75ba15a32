import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { appState, FakeTransport, fail } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { AddDeviceDialog } from './AddDeviceDialog';

const config = '[Interface]\nPrivateKey = AAAA\nAddress = 100.64.9.9/32\n\n[Peer]\nPublicKey = BBBB\n';

describe('AddDeviceDialog', () => {
  it('creates a device and shows its configuration once, as text and as a QR code', async () => {
    const t = new FakeTransport({
      state: () => appState({ state: 'connected' }),
      'add-device': (p) => ({
        name: p.name,
        publicKey: 'K',
        address: '100.64.9.9',
        gateway: '100.64.0.1',
        endpoint: '198.18.0.1:51820',
        config,
      }),
    });
    renderWith(<AddDeviceDialog onClose={() => {}} />, t);
    fireEvent.change(screen.getByLabelText('Device name'), { target: { value: 'my phone ' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    expect(await screen.findByLabelText('Configuration')).toHaveProperty('value', config);
    await waitFor(() => expect(screen.getByAltText(/QR code of my phone/)).toBeTruthy());
    expect(t.callsOf('add-device')).toEqual([{ name: 'my phone' }]);
    expect(screen.getByText(/shown only now/)).toBeTruthy();
  });

  it('shows the node’s refusal', async () => {
    const t = new FakeTransport({
      state: () => appState({ state: 'connected' }),
      'add-device': fail('failed', 'a device named "phone" exists'),
    });
    renderWith(<AddDeviceDialog onClose={() => {}} />, t);
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    // (an empty alert region is always there: wait for its text, not for the element)
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/exists/));
  });
});
