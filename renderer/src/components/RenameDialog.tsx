import { type FormEvent, useId, useState } from 'react';
import type { PeerRow } from '../api';
import { useApp } from '../context';
import { errorText } from '../transport';
import { Dialog, FormError } from './Dialog';

/** A local name for a member (only this device shows it); empty goes back to the member's own name. */
export function RenameDialog({ peer, onClose }: { peer: PeerRow; onClose: () => void }) {
  const rename = useApp((s) => s.rename);
  const [name, setName] = useState(peer.alias ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await rename(peer.key, name.trim());
      onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Rename ${peer.alias || peer.name}`} onClose={onClose}>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor={id}>Name on this device</label>
          <input
            id={id}
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={63}
            autoComplete="off"
            placeholder={peer.name}
            aria-describedby={`${id}-hint`}
          />
          <p className="hint" id={`${id}-hint`}>
            Only this device shows it. Leave empty to use the member’s own name, “{peer.name}”.
          </p>
        </div>
        <FormError error={error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}
