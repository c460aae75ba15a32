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
  const v4 = useRef<HTMLElement>(null);
  const v6 = useRef<HTMLElement>(null);
  const dns = useRef<HTMLElement>(null);
  const key = useRef<HTMLElement>(null);
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
        <div>
          <dt>IPv4</dt>
          <dd>
            <code ref={v4} data-testid="own-ipv4">
              {network.ipv4 ?? '—'}
            </code>
            {network.ipv4 && (
              <CopyButton text={network.ipv4} label="Copy own IPv4 address" target={v4} compact />
            )}
          </dd>
        </div>
        {network.ipv6 && (
          <div>
            <dt>IPv6</dt>
            <dd>
              {/* shortened on screen (the whole address in the tooltip, to screen readers and in the copy) */}
              <code className="ipv6" title={network.ipv6}>
                <span aria-hidden="true">{shortIpv6(network.ipv6)}</span>
                <span ref={v6} className="sr-only">
                  {network.ipv6}
                </span>
              </code>
              <CopyButton text={network.ipv6} label="Copy own IPv6 address" target={v6} compact />
            </dd>
          </div>
        )}
        {network.dnsName && (
          <div>
            <dt>DNS name</dt>
            <dd>
              <code ref={dns}>{network.dnsName}</code>
              <CopyButton text={network.dnsName} label="Copy own DNS name" target={dns} compact />
            </dd>
          </div>
        )}
        {network.publicKey && (
          <div>
            <dt>Public key</dt>
            <dd>
              <code className="own-key" title={network.publicKey}>
                <span aria-hidden="true">{network.publicKey.slice(0, 8)}…</span>
                <span ref={key} className="sr-only">
                  {network.publicKey}
                </span>
              </code>
              <CopyButton text={network.publicKey} label="Copy own public key" target={key} compact />
            </dd>
          </div>
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
