import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { NoSession } from './components/NoSession';
import { StoreProvider } from './context';
import { createAppStore } from './store';
import { pickTransport } from './transport';
import { authProtocols, openWebSession, takeFragmentToken } from './web-session';
import './styles.css';

// First thing: the printed link's token leaves the address bar (and this history entry).
const launch = window.peermesh ? null : takeFragmentToken();
const rootEl = document.getElementById('root');
if (!rootEl) throw new Error('no #root element');
const root = createRoot(rootEl);

async function main(): Promise<void> {
  let protocols: string[] | undefined;
  if (!window.peermesh) {
    const session = await openWebSession(launch);
    if (!session.ok) {
      root.render(<NoSession reason={session.reason} />);
      return;
    }
    protocols = authProtocols(session.token);
  }
  const store = createAppStore(pickTransport(window, protocols));
  root.render(
    <StrictMode>
      <StoreProvider store={store}>
        <App />
      </StoreProvider>
    </StrictMode>,
  );
}

void main();
