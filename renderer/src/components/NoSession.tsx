import type { NoSessionReason } from '../web-session';

/** The web UI opened without a usable link: what to do instead (the desktop app never shows this). */
export function NoSession({ reason }: { reason: NoSessionReason }) {
  return (
    <main className="app no-session" data-testid="no-session">
      <h1>PeerMesh</h1>
      <p role="alert">
        {reason === 'expired'
          ? 'This link or session is no longer valid: the web UI was restarted, or this tab was idle too long.'
          : 'This tab is not signed in to the node.'}
      </p>
      <p>
        Open the link that <code>peermesh ui</code> printed in its terminal (it ends in <code>#token=…</code>
        ). Each tab needs that link; a reload of a signed-in tab keeps working.
      </p>
    </main>
  );
}
