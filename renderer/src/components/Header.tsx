import { useRef, useState } from 'react';
import { useApp } from '../context';
import { shortIpv6 } from '../format';
import { AddDeviceDialog } from './AddDeviceDialog';
import { ConnectToggle } from './ConnectToggle';
import { CopyButton } from './CopyButton';
import { InviteDialog } from './InviteDialog';

export function Header() {
  const network = useApp((s) => s.app?.network ?? null);
  const connected = useApp((s) => s.app?.state === 'connected');
  // The peer list is polled every second while shown: fresher than the counts in `state`.
  const peers = useApp((s) => (s.peersAt > 0 ? s.peers : null));
  const [inviting, setInviting] = useState(false);
  const [addingDevice, setAddingDevice] = useState(false);
  if (!network) return null;
  const members = connected && peers ? peers.length : network.memberCount;
  const online = connected && peers ? peers.filter((p) => p.online).length : network.onlineCount;
  return (
    <header className="app-header">
      <div className="brand">
        <h1>PeerMesh</h1>
        <p className="network-name">
          Network <strong data-testid="network-name">{network.name}</strong>
        </p>
      </div>
      <dl className="identity">
        <div>
          <dt>This device</dt>
          <dd data-testid="own-name">{network.nodeName}</dd>
        </div>
        {network.ipv4 ? (
          <CopyFact term="IPv4" value={network.ipv4} what="IPv4 address" testId="own-ipv4" />
        ) : (
          <div>
            <dt>IPv4</dt>
            <dd>
              <code data-testid="own-ipv4">—</code>
            </dd>
          </div>
        )}
        {network.ipv6 && (
          <CopyFact term="IPv6" value={network.ipv6} shown={shortIpv6(network.ipv6)} what="IPv6 address" />
        )}
        {network.dnsName && <CopyFact term="DNS name" value={network.dnsName} what="DNS name" />}
        {network.publicKey && (
          <CopyFact
            term="Public key"
            value={network.publicKey}
            shown={`${network.publicKey.slice(0, 8)}…`}
            what="public key"
          />
        )}
        <div>
          <dt>Peers online</dt>
          <dd className="num" data-testid="member-counts">
            {connected ? `${online} of ${members}` : `— of ${members}`}
          </dd>
        </div>
      </dl>
      <ConnectToggle />
      <button
        type="button"
        onClick={() => setInviting(true)}
        disabled={!connected}
        title={connected ? undefined : 'Connect first: the code names this device’s current address'}
      >
        Invite…
      </button>
      {inviting && <InviteDialog onClose={() => setInviting(false)} />}
      <button
        type="button"
        onClick={() => setAddingDevice(true)}
        disabled={!connected}
        title={connected ? undefined : 'Connect first'}
      >
        Add a phone…
      </button>
      {addingDevice && <AddDeviceDialog onClose={() => setAddingDevice(false)} />}
    </header>
  );
}

/**
 * One fact of this device with a copy button. With `shown`, the screen has a short form and the whole
 * value is in the tooltip, for screen readers and in the copy.
 */
function CopyFact({
  term,
  value,
  shown,
  what,
  testId,
}: {
  term: string;
  value: string;
  shown?: string;
  what: string;
  testId?: string;
}) {
  const ref = useRef<HTMLElement>(null);
  return (
    <div>
      <dt>{term}</dt>
      <dd>
        {shown === undefined ? (
          <code ref={ref} data-testid={testId}>
            {value}
          </code>
        ) : (
          <code title={value}>
            <span aria-hidden="true">{shown}</span>
            <span ref={ref} className="sr-only">
              {value}
            </span>
          </code>
        )}
        <CopyButton text={value} label={`Copy own ${what}`} target={ref} compact />
      </dd>
    </div>
  );
}
