import { useEffect, useId, useMemo, useState } from 'react';
import { useApp, useStoreApi } from '../context';
import { displayName } from '../format';
import { usePoll } from '../hooks';
import { filterPeers, sortPeers } from '../peers';
import { AccessPanel } from './AccessPanel';
import { ConfirmDialog } from './Dialog';
import { ExitNodePicker } from './ExitNodePicker';
import { OverviewChart } from './OverviewChart';
import { PeerDetail } from './PeerDetail';
import { PeerTable, type RowActions } from './PeerTable';
import { RenameDialog } from './RenameDialog';

const POLL_MS = 1000;

type Open = { kind: 'rename' | 'remove'; key: string } | null;

export function PeersView() {
  const store = useStoreApi();
  const linkOpen = useApp((s) => s.link === 'open');
  const connected = useApp((s) => s.app?.state === 'connected');
  const peers = useApp((s) => s.peers);
  const peersAt = useApp((s) => s.peersAt);
  const sort = useApp((s) => s.peerSort);
  const filter = useApp((s) => s.peerFilter);
  const selected = useApp((s) => s.selected);
  const refreshPeers = useApp((s) => s.refreshPeers);
  const [open, setOpen] = useState<Open>(null);
  const filterId = useId();

  usePoll(refreshPeers, POLL_MS, linkOpen && connected);

  const rows = useMemo(() => sortPeers(filterPeers(peers, filter), sort), [peers, filter, sort]);
  const actions = useMemo<RowActions>(
    () => ({
      select: (key) => {
        const s = store.getState();
        s.select(s.selected === key ? null : key);
      },
      rename: (key) => setOpen({ kind: 'rename', key }),
      ping: (key) => void store.getState().pingPeer(key),
      remove: (key) => setOpen({ kind: 'remove', key }),
    }),
    [store],
  );
  const target = open ? peers.find((p) => p.key === open.key) : undefined;
  // A detail the filter hides closes (its row is gone from the list).
  const selectedShown = selected !== null && rows.some((r) => r.key === selected);
  useEffect(() => {
    if (selected !== null && !selectedShown && peersAt > 0) store.getState().select(null);
  }, [selected, selectedShown, peersAt, store]);

  return (
    <div className="peers-view">
      <div className="toolbar">
        <label htmlFor={filterId}>Filter peers</label>
        <input
          id={filterId}
          type="search"
          value={filter}
          placeholder="name, address, endpoint…"
          onChange={(e) => store.getState().setPeerFilter(e.target.value)}
          autoComplete="off"
          spellCheck={false}
        />
        <p className="count" aria-live="polite">
          {filter
            ? `${rows.length} of ${peers.length} shown`
            : `${peers.length} ${peers.length === 1 ? 'peer' : 'peers'}`}
        </p>
      </div>
      {!connected ? (
        <p className="empty">Not connected. Connect to see the members of the network.</p>
      ) : peersAt === 0 ? (
        <p className="empty">Loading peers…</p>
      ) : peers.length === 0 ? (
        <p className="empty">No other members yet. Use “Invite…” to add a device.</p>
      ) : rows.length === 0 ? (
        <p className="empty">No peers match “{filter}”.</p>
      ) : (
        <PeerTable
          rows={rows}
          sort={sort}
          onSort={(s) => store.getState().setPeerSort(s)}
          selected={selected}
          actions={actions}
          now={peersAt}
        />
      )}
      {connected && peers.length > 0 && (selectedShown ? <PeerDetail /> : <OverviewChart peers={rows} />)}
      <ExitNodePicker />
      <AccessPanel />
      {open?.kind === 'rename' && target && <RenameDialog peer={target} onClose={() => setOpen(null)} />}
      {open?.kind === 'remove' && target && (
        <ConfirmDialog
          title={`Remove ${displayName(target)}?`}
          confirmLabel="Remove"
          onConfirm={() => store.getState().remove(target.key)}
          onClose={() => setOpen(null)}
        >
          <p>
            {displayName(target)} ({target.ipv4}) is removed from the network for every member, and can only
            come back with a new invitation.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
