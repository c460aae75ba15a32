import { useId, useRef, useState } from 'react';
import type { NewDevice } from '../api';
import { useApp } from '../context';
import { qrDataUrl } from '../qr';
import { errorText } from '../transport';
import { CopyButton } from './CopyButton';
import { Dialog, FormError } from './Dialog';

/**
 * "Add a phone…": a device with the WireGuard app joins through this node (docs/devices.md). The
 * config (and its QR code) is shown once: the node does not keep the device's private key.
 */
export function AddDeviceDialog({ onClose }: { onClose: () => void }) {
  const addDevice = useApp((s) => s.addDevice);
  const [name, setName] = useState('phone');
  const [result, setResult] = useState<NewDevice | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const confRef = useRef<HTMLTextAreaElement>(null);
  const ids = useId();

  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      const d = await addDevice(name.trim());
      setResult(d);
      setQr(null);
      qrDataUrl(d.config).then(setQr, () => setQr(''));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Add a phone" onClose={onClose} className="invite-dialog">
      {!result && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <p className="hint">
            For a phone, tablet or router with the WireGuard app: it reaches every member through this device.
          </p>
          <label htmlFor={`${ids}-name`}>Device name</label>
          <input
            id={`${ids}-name`}
            value={name}
            maxLength={32}
            onChange={(e) => setName(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
          <FormError error={error} />
          <div className="dialog-actions">
            <button type="submit" className="primary" disabled={busy || !name.trim()}>
              Create
            </button>
          </div>
        </form>
      )}
      {result && (
        <section className="invite-result" aria-label="WireGuard configuration">
          <p className="hint">
            Scan this with the WireGuard app (“+”, “Scan from QR code”), or import the configuration. It is
            shown only now: this device does not keep its private key.
          </p>
          {qr ? (
            <img
              className="qr"
              src={qr}
              alt={`QR code of ${result.name}'s WireGuard configuration`}
              width={256}
              height={256}
            />
          ) : qr === '' ? (
            <p className="hint">Too long for a QR code: copy the configuration instead.</p>
          ) : null}
          <label htmlFor={`${ids}-conf`} className="code-label">
            Configuration
          </label>
          <div className="code-row">
            <textarea
              id={`${ids}-conf`}
              ref={confRef}
              className="join-code"
              readOnly
              rows={9}
              value={result.config}
            />
            <CopyButton text={result.config} label="Copy the configuration" target={confRef} />
          </div>
          <p className="hint">
            {result.name} gets <span className="mono">{result.address}</span> and reaches this device at{' '}
            <span className="mono">{result.endpoint}</span>.
          </p>
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
