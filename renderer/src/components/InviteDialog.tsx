import { useId, useRef, useState } from 'react';
import type { InviteResult } from '../api';
import { useApp } from '../context';
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

export function InviteDialog({ onClose }: { onClose: () => void }) {
  const invite = useApp((s) => s.invite);
  const [expiresSeconds, setExpiresSeconds] = useState<number>(86_400);
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
      setQr(null);
      qrDataUrl(r.code).then(setQr, () => setQr(''));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

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
          {result.endpoints.length > 0 && (
            <p className="hint">
              The other device reaches this one at <span className="mono">{result.endpoints.join(', ')}</span>
              .
            </p>
          )}
        </section>
      )}
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
