import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { fail, node } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { InviteDialog } from './InviteDialog';

const CODE = 'pm1-HOME-0123456789abcdefghijklmnopqrstuvwxyz-0123456789';

describe('InviteDialog', () => {
  it('creates a code with the chosen expiry and shows it with a QR code', async () => {
    const t = node({
      invite: () => ({ code: CODE, expires: '2030-01-01T00:00:00.000Z', endpoints: ['198.18.0.1:51820'] }),
    });
    renderWith(<InviteDialog onClose={() => {}} />, t);
    fireEvent.click(screen.getByLabelText('7 days'));
    fireEvent.click(screen.getByRole('button', { name: 'Create code' }));

    const field = (await screen.findByLabelText('Join code')) as HTMLTextAreaElement;
    expect(field.value).toBe(CODE);
    expect(field.readOnly).toBe(true);
    expect(t.callsOf('invite')).toEqual([{ expiresSeconds: 7 * 86_400 }]);
    expect(screen.getByRole('button', { name: 'Copy the code' })).toBeTruthy();
    const img = (await screen.findByRole('img', { name: 'QR code of the join code' })) as HTMLImageElement;
    expect(img.src.startsWith('data:image/svg+xml')).toBe(true);
    expect(decodeURIComponent(img.src)).toContain('<svg');
    expect(screen.getByText(/198\.18\.0\.1:51820/)).toBeTruthy();
  });

  it('shows why a code could not be made', async () => {
    const t = node({ invite: fail('failed', 'this node has no address another machine could reach') });
    renderWith(<InviteDialog onClose={() => {}} />, t);
    fireEvent.click(screen.getByRole('button', { name: 'Create code' }));
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toBe(
        'this node has no address another machine could reach',
      ),
    );
    expect(t.callsOf('invite')).toEqual([{ expiresSeconds: 86_400 }]);
    expect(screen.queryByLabelText('Join code')).toBeNull();
  });
});
