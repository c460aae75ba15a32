import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { NoSession } from './components/NoSession';
import { StoreProvider } from './context';
import { createAppStore } from './store';
import { pickTransport, WebSocketTransport } from './transport';
import { authProtocols, openWebSession, sessionGone, takeFragmentToken } from './web-session';
import './styles.css';

// First thing: the printed link's token leaves the address bar (and this history entry).
const launch = window.peermesh ? null : takeFragmentToken();
const rootEl = document.getElementById('root');
if (!rootEl) throw new Error('no #root element');
const root = createRoot(rootEl);

async function main(): Promise<void> {
  let token: string | null = null;
  if (!window.peermesh) {
    const session = await openWebSession(launch);
    if (!session.ok) {
      root.render(<NoSession reason={session.reason} />);
      return;
    }
    token = session.token;
  }
  const transport = pickTransport(window, token ? authProtocols(token) : undefined);
  // The link dropped: if the server now refuses this tab's session (the UI was restarted), say so
  // instead of reconnecting for ever.
  if (token && transport instanceof WebSocketTransport)
    transport.onStatus((link) => {
      if (link !== 'closed' || !token) return;
      void sessionGone(token).then((gone) => {
        if (!gone) return;
        transport.close();
        root.render(<NoSession reason="expired" />);
      });
    });
  const store = createAppStore(transport);
  root.render(
    <StrictMode>
      <StoreProvider store={store}>
        <App />
      </StoreProvider>
    </StrictMode>,
  );
}

void main();
