import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { fail, node } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { InviteDialog } from './InviteDialog';

const CODE = 'pm1-HOME-0123456789abcdefghijklmnopqrstuvwxyz-0123456789';

describe('InviteDialog', () => {
  it('creates a code (one hour) as it opens, another with the chosen expiry, and shows it with a QR code', async () => {
    const t = node({
      invite: () => ({ code: CODE, expires: '2030-01-01T00:00:00.000Z', endpoints: ['198.18.0.1:51820'] }),
    });
    renderWith(<InviteDialog onClose={() => {}} />, t);
    const field = (await screen.findByLabelText('Join code')) as HTMLTextAreaElement;
    expect(field.value).toBe(CODE);
    expect(field.readOnly).toBe(true);
    expect(t.callsOf('invite')).toEqual([{ expiresSeconds: 3600 }]);
    fireEvent.click(screen.getByLabelText('7 days'));
    fireEvent.click(screen.getByRole('button', { name: 'Create another code' }));
    await waitFor(() =>
      expect(t.callsOf('invite')).toEqual([{ expiresSeconds: 3600 }, { expiresSeconds: 7 * 86_400 }]),
    );
    expect(screen.getByRole('button', { name: 'Copy the code' })).toBeTruthy();
    const img = (await screen.findByRole('img', { name: 'QR code of the join code' })) as HTMLImageElement;
    expect(img.src.startsWith('data:image/svg+xml')).toBe(true);
    expect(decodeURIComponent(img.src)).toContain('<svg');
    expect(screen.getByText(/198\.18\.0\.1:51820/)).toBeTruthy();
  });

  it('shows why a code could not be made', async () => {
    const t = node({ invite: fail('failed', 'this node has no address another machine could reach') });
    renderWith(<InviteDialog onClose={() => {}} />, t);
    await waitFor(() =>
      expect(screen.getByRole('alert').textContent).toBe(
        'this node has no address another machine could reach',
      ),
    );
    expect(t.callsOf('invite')).toEqual([{ expiresSeconds: 3600 }]);
    expect(screen.getByRole('button', { name: 'Create code' })).toBeTruthy(); // to try again
    expect(screen.queryByLabelText('Join code')).toBeNull();
  });

  it('lists the codes issued here, revokes one, and says when the new code was used', async () => {
    const rows = [
      {
        id: 'aaaa1111',
        created: '2030-01-01T00:00:00.000Z',
        expires: '2030-01-02T00:00:00.000Z',
        uses: 0,
        maxUses: 1,
        state: 'open',
      },
      {
        id: 'bbbb2222',
        created: '2030-01-01T00:00:00.000Z',
        expires: '2030-01-02T00:00:00.000Z',
        uses: 1,
        maxUses: 1,
        state: 'used',
      },
    ];
    const t = node({
      invites: () => rows.map((r) => ({ ...r })),
      'revoke-invite': (p) => {
        const r = rows.find((x) => x.id === p.id)!;
        r.state = 'revoked';
        return { revoked: r.id };
      },
      invite: () => {
        rows.push({
          id: 'cccc3333',
          created: '2030-01-01T00:00:00.000Z',
          expires: '2030-01-02T00:00:00.000Z',
          uses: 0,
          maxUses: 1,
          state: 'open',
        });
        return { code: CODE, expires: '2030-01-02T00:00:00.000Z', endpoints: [], id: 'cccc3333', uses: 1 };
      },
    });
    renderWith(<InviteDialog onClose={() => {}} />, t);
    const list = await screen.findByRole('region', { name: 'Codes issued here' });
    await waitFor(() => expect(list.textContent).toContain('aaaa1111 open, used 0 of 1'));
    expect(list.textContent).toContain('bbbb2222 used up, used 1 of 1');
    expect(screen.queryByRole('button', { name: 'Revoke code bbbb2222' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Revoke code aaaa1111' }));
    await waitFor(() => expect(list.textContent).toContain('aaaa1111 revoked'));
    expect(t.callsOf('revoke-invite')).toEqual([{ id: 'aaaa1111' }]);

    // the code made as the dialog opened
    await screen.findByLabelText('Join code');
    expect(screen.queryByText(/a device joined/)).toBeNull();
    // The other machine joins: the list (polled every 2 s) shows it, and so does the code.
    rows[2].uses = 1;
    rows[2].state = 'used';
    expect(
      await screen.findByText(
        /Used: a device joined with this code \(it admits no one else\)/,
        {},
        { timeout: 4000 },
      ),
    ).toBeTruthy();
  });
});
