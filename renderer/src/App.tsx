import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import type { AppState, PeerRow } from './api';
import { EventsView } from './components/EventsView';
import { FirstRun } from './components/FirstRun';
import { Header } from './components/Header';
import { LinkBanner } from './components/LinkBanner';
import { LogsView } from './components/LogsView';
import { NetworkView } from './components/NetworkView';
import { PeersView } from './components/PeersView';
import { SettingsView } from './components/SettingsView';
import { Toasts } from './components/Toasts';
import { useApp, useStoreApi } from './context';
import { useTheme } from './theme';

const TABS = [
  { id: 'peers', label: 'Peers' },
  { id: 'network', label: 'Network' },
  { id: 'events', label: 'Events' },
  { id: 'logs', label: 'Logs' },
  { id: 'settings', label: 'Settings' },
] as const;
type TabId = (typeof TABS)[number]['id'];

/** The tab's title says the state: "PeerMesh — connected, 2 of 3 online". */
export function titleOf(app: AppState | null, peers: readonly PeerRow[], peersAt: number): string {
  if (!app) return 'PeerMesh';
  if (!app.network) return 'PeerMesh — no network yet';
  if (app.state !== 'connected')
    return `PeerMesh — ${app.state === 'connecting' ? 'connecting…' : app.state}`;
  const total = peersAt ? peers.length : app.network.memberCount;
  const online = peersAt ? peers.filter((p) => p.online).length : app.network.onlineCount;
  return `PeerMesh — connected, ${online} of ${total} online`;
}

function useDocumentTitle(): void {
  const app = useApp((s) => s.app);
  const peers = useApp((s) => s.peers);
  const peersAt = useApp((s) => s.peersAt);
  const title = titleOf(app, peers, peersAt);
  useEffect(() => {
    document.title = title;
  }, [title]);
}

export function App() {
  const store = useStoreApi();
  const app = useApp((s) => s.app);
  useTheme(useApp((s) => s.settings?.theme));
  useEffect(() => store.getState().start(), [store]);
  useDocumentTitle();

  return (
    <div className="app">
      <LinkBanner />
      {app === null ? (
        <p className="empty loading">Loading…</p>
      ) : app.network === null ? (
        <FirstRun />
      ) : (
        <>
          <Header />
          <Main />
        </>
      )}
      <Toasts />
    </div>
  );
}

/** Tabs (WAI-ARIA pattern: arrow keys, Home and End move between them) over the views. */
function Main() {
  const [tab, setTab] = useState<TabId>('peers');
  const tabRefs = useRef<Partial<Record<TabId, HTMLButtonElement | null>>>({});
  const onKeyDown = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const next =
      e.key === 'ArrowRight'
        ? (i + 1) % TABS.length
        : e.key === 'ArrowLeft'
          ? (i + TABS.length - 1) % TABS.length
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? TABS.length - 1
              : -1;
    if (next < 0) return;
    e.preventDefault();
    setTab(TABS[next].id);
    tabRefs.current[TABS[next].id]?.focus();
  };
  return (
    <main className="main">
      <div className="tabs" role="tablist" aria-label="Views" onKeyDown={onKeyDown}>
        {TABS.map((t) => (
          <button
            key={t.id}
            ref={(el) => {
              tabRefs.current[t.id] = el;
            }}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={tab === t.id ? `panel-${t.id}` : undefined}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div className="panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'peers' ? (
          <PeersView />
        ) : tab === 'network' ? (
          <NetworkView />
        ) : tab === 'events' ? (
          <EventsView />
        ) : tab === 'logs' ? (
          <LogsView />
        ) : (
          <SettingsView />
        )}
      </div>
    </main>
  );
}
