import { useId, useState } from 'react';
import { useApp, useStoreApi } from '../context';
import { usePoll } from '../hooks';
import { errorText } from '../transport';

const POLL_MS = 3000;

const STATE_TEXT = {
  none: 'Not used: traffic goes out this device’s own connection.',
  active: 'All traffic goes through it.',
  blocked: 'Unavailable: traffic to the internet is blocked until it is back (fail closed).',
  open: 'Unavailable: traffic goes out this device’s own connection until it is back (fail open).',
} as const;

/**
 * This device's exit node (docs/exit-nodes.md): none or a member that offers to be one, with LAN
 * access and what happens when it goes away. What it shows is the node's answer, never the choice
 * alone: "blocked" and why, when the exit is offline.
 */
export function ExitNodePicker() {
  const store = useStoreApi();
  const linkOpen = useApp((s) => s.link === 'open');
  const connected = useApp((s) => s.app?.state === 'connected');
  const exit = useApp((s) => s.exit);
  const refreshExit = useApp((s) => s.refreshExit);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  usePoll(refreshExit, POLL_MS, linkOpen && connected);
  if (!connected || !exit) return null;

  const choose = async (node: string, options: { allowLan?: boolean; failOpen?: boolean } = {}) => {
    setBusy(true);
    setError(null);
    try {
      await store.getState().chooseExit(node, options);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const current = exit.state === 'none' ? 'none' : (exit.node ?? 'none');
  const choices = [...new Set([...exit.offeredBy, ...(current !== 'none' ? [current] : [])])];

  return (
    <section className={`exit-node exit-${exit.state}`} aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Exit node</h2>
      <label htmlFor={`${id}-sel`}>Send all traffic through</label>
      <select id={`${id}-sel`} value={current} disabled={busy} onChange={(e) => void choose(e.target.value)}>
        <option value="none">No exit node</option>
        {choices.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
      <p role="status" className="exit-state">
        {exit.state === 'none' ? STATE_TEXT.none : `${exit.node}: ${STATE_TEXT[exit.state]}`}
        {exit.reason && exit.state !== 'active' ? ` (${exit.reason})` : ''}
      </p>
      {exit.offeredBy.length === 0 && exit.state === 'none' && (
        <p className="hint">No member offers to be an exit node (peermesh up --advertise-exit).</p>
      )}
      <label>
        <input
          type="checkbox"
          checked={exit.allowLan}
          disabled={busy}
          onChange={(e) => void choose(current, { allowLan: e.target.checked })}
        />
        Keep reaching this device’s local network directly
      </label>
      <label>
        <input
          type="checkbox"
          checked={exit.failOpen}
          disabled={busy}
          onChange={(e) => void choose(current, { failOpen: e.target.checked })}
        />
        When the exit node goes away, use this device’s own connection instead of blocking
      </label>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
