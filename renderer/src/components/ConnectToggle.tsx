import type { ConnectionState } from '../api';
import { useApp } from '../context';

const LABELS: Record<ConnectionState, string> = {
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  error: 'Error',
};

/** The connection state and the button that changes it ("Connect" / "Disconnect", "Retry" on error). */
export function ConnectToggle() {
  const state = useApp((s) => s.app?.state ?? 'disconnected');
  const error = useApp((s) => s.app?.error ?? null);
  const busy = useApp((s) => s.toggleBusy);
  const connect = useApp((s) => s.connect);
  const disconnect = useApp((s) => s.disconnect);
  return (
    <div className="connect-toggle" data-state={state}>
      <p className="conn-status" role="status" data-testid="connection-state" data-state={state}>
        <span className="dot" aria-hidden="true" />
        <span className="conn-label">{LABELS[state]}</span>
        {state === 'error' && error && (
          <>
            : <span className="conn-error">{error}</span>
          </>
        )}
      </p>
      <div className="conn-buttons">
        {state === 'disconnected' && (
          <button type="button" className="primary" onClick={() => void connect()} disabled={busy}>
            Connect
          </button>
        )}
        {state === 'error' && (
          <button type="button" className="primary" onClick={() => void connect()} disabled={busy}>
            Retry
          </button>
        )}
        {state !== 'disconnected' && (
          <button type="button" onClick={() => void disconnect()} disabled={busy}>
            Disconnect
          </button>
        )}
      </div>
    </div>
  );
}
