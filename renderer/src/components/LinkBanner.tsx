import { useApp } from '../context';

/** Shown while the page has no link to the node (the WebSocket reconnects by itself). */
export function LinkBanner() {
  const link = useApp((s) => s.link);
  const wasOpen = useApp((s) => s.linkWasOpen);
  return (
    <div className="link-banner-region" role="status">
      {link !== 'open' && (
        <p className="link-banner" data-testid="link-banner">
          {wasOpen ? 'Lost connection to the node. Reconnecting…' : 'Connecting to the node…'}
        </p>
      )}
    </div>
  );
}
