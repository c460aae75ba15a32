import { useCallback, useEffect, useId, useRef, useState } from 'react';
import type { InviteResult, InviteRow } from '../api';
import { useApp } from '../context';
import { usePoll } from '../hooks';
import { qrDataUrl } from '../qr';
import { errorText } from '../transport';
import { CopyButton } from './CopyButton';
import { Dialog, FormError } from './Dialog';
import { RadioGroup } from './RadioGroup';

const EXPIRY = [
  { value: 3600, label: '1 hour' },
  { value: 86_400, label: '24 hours' },
  { value: 7 * 86_400, label: '7 days' },
];

/** How often the list of codes is read while the dialog is open (it says when a code was used). */
const LIST_POLL_MS = 2000;

const STATE_TEXT: Record<InviteRow['state'], string> = {
  open: 'open',
  used: 'used up',
  expired: 'expired',
  revoked: 'revoked',
};

export function InviteDialog({ onClose }: { onClose: () => void }) {
  const invite = useApp((s) => s.invite);
  const listInvites = useApp((s) => s.invites);
  const revokeInvite = useApp((s) => s.revokeInvite);
  const [rows, setRows] = useState<InviteRow[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const refreshList = useCallback(async () => {
    try {
      setRows(await listInvites());
      setListError(null);
    } catch (e) {
      setListError(errorText(e));
    }
  }, [listInvites]);
  usePoll(refreshList, LIST_POLL_MS, true);
  const revoke = async (id: string) => {
    try {
      await revokeInvite(id);
    } catch (e) {
      setListError(errorText(e));
    }
    await refreshList();
  };
  // A code is made as the dialog opens (for one device, valid an hour: short, since every code is a
  // key to the network); a longer expiry is a click on "Create another code".
  const [expiresSeconds, setExpiresSeconds] = useState<number>(3600);
  const [result, setResult] = useState<InviteResult | null>(null);
  /** The QR image; '' when the code could not be drawn as one. */
  const [qr, setQr] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const codeRef = useRef<HTMLTextAreaElement>(null);
  const ids = useId();

  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await invite(expiresSeconds);
      setResult(r);
      void refreshList();
      setQr(null);
      qrDataUrl(r.code).then(setQr, () => setQr(''));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const opened = useRef(false);
  useEffect(() => {
    if (opened.current) return; // once per opening (StrictMode mounts twice: still one code)
    opened.current = true;
    void create();
  }, []);

  return (
    <Dialog title="Invite a device" onClose={onClose} className="invite-dialog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <RadioGroup
          legend="The code expires after"
          options={EXPIRY}
          value={expiresSeconds}
          onChange={setExpiresSeconds}
          look="choices"
        />
        <FormError error={error} />
        <div className="dialog-actions">
          <button type="submit" className="primary" disabled={busy}>
            {result ? 'Create another code' : 'Create code'}
          </button>
        </div>
      </form>
      {result && (
        <section className="invite-result" aria-label="Invitation">
          <label htmlFor={`${ids}-code`} className="code-label">
            Join code
          </label>
          <div className="code-row">
            <textarea
              id={`${ids}-code`}
              ref={codeRef}
              className="join-code"
              readOnly
              rows={3}
              value={result.code}
              onFocus={(e) => e.currentTarget.select()}
            />
            <CopyButton text={result.code} label="Copy the code" target={codeRef} />
          </div>
          <p className="hint" aria-live="polite">
            Valid until <time dateTime={result.expires}>{new Date(result.expires).toLocaleString()}</time>.
            Paste it in “Join with a code” on the other device, or scan the QR code.
          </p>
          {qr ? (
            <img className="qr" src={qr} alt="QR code of the join code" width={224} height={224} />
          ) : qr === '' ? (
            <p className="hint">This code is too long for a QR code: copy it instead.</p>
          ) : null}
          {(() => {
            const row = rows?.find((x) => x.id === result.id);
            return row && row.uses > 0 ? (
              <p className="invite-used" role="status">
                Used: {row.uses === 1 ? 'a device joined' : `${row.uses} devices joined`} with this code
                {row.state === 'used' ? ' (it admits no one else)' : ''}.
              </p>
            ) : null;
          })()}
          {result.endpoints.length > 0 && (
            <p className="hint">
              The other device reaches this one at <span className="mono">{result.endpoints.join(', ')}</span>
              .
            </p>
          )}
        </section>
      )}
      <section className="invite-list" aria-label="Codes issued here">
        <h3>Codes issued here</h3>
        {listError && <p className="form-error">{listError}</p>}
        {rows && rows.length === 0 && <p className="hint">None yet.</p>}
        {rows && rows.length > 0 && (
          <ul>
            {rows.map((r) => (
              <li key={r.id}>
                <span className="mono">{r.id}</span> {STATE_TEXT[r.state]}, used {r.uses}
                {r.maxUses ? ` of ${r.maxUses}` : ''}, until{' '}
                <time dateTime={r.expires}>{new Date(r.expires).toLocaleString()}</time>{' '}
                {r.state === 'open' && (
                  <button type="button" onClick={() => void revoke(r.id)} aria-label={`Revoke code ${r.id}`}>
                    Revoke
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
