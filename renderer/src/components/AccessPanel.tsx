import { useId, useState } from 'react';
import type { Params } from '../api';
import { useApp, useStoreApi } from '../context';
import { usePoll } from '../hooks';
import { errorText } from '../transport';

/**
 * Who may reach this device through the mesh (docs/access.md): the default, the rules in the order
 * they are tried (each removable), and how many packets they dropped — the node's figures, polled.
 * Rules for one member are added from its details (PeerDetail).
 */
const POLL_MS = 3000;

export function AccessPanel() {
  const store = useStoreApi();
  const connected = useApp((s) => s.app?.state === 'connected');
  const access = useApp((s) => s.access);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const linkOpen = useApp((s) => s.link === 'open');
  const refreshAccess = useApp((s) => s.refreshAccess);
  usePoll(refreshAccess, POLL_MS, linkOpen && connected);
  if (!connected || !access) return null;

  const change = async (p: Params<'set-access'>) => {
    setBusy(true);
    setError(null);
    try {
      await store.getState().setAccess(p);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="access-panel" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Who may reach this device</h2>
      <label htmlFor={`${id}-def`}>When no rule matches</label>
      <select
        id={`${id}-def`}
        value={access.default}
        disabled={busy}
        onChange={(e) => void change({ op: 'default', policy: e.target.value === 'deny' ? 'deny' : 'allow' })}
      >
        <option value="allow">Allow every member</option>
        <option value="deny">Deny</option>
      </select>
      {access.rules.length === 0 ? (
        <p className="hint">No rules. Add one from a peer’s details (Allow / Deny).</p>
      ) : (
        <ol className="access-rules">
          {access.rules.map((r, i) => (
            <li key={`${r.action}-${r.peer}-${r.what}`}>
              {r.action} {r.peer === 'all' ? 'every member' : r.name || r.peer.slice(0, 8)}
              {r.inNetwork ? '' : ' (gone)'} <span className="mono">{r.what}</span>{' '}
              <button
                type="button"
                disabled={busy}
                onClick={() => void change({ op: 'remove', index: i + 1 })}
                aria-label={`Remove rule ${i + 1}: ${r.action} ${r.name || r.peer} ${r.what}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ol>
      )}
      <p role="status" className="access-state">
        {access.error
          ? `Not applied: ${access.error}`
          : `${access.applied ? 'Applied' : 'Being applied'}; ${access.dropped} packets dropped`}
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
