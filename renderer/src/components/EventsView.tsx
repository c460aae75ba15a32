import { useApp } from '../context';
import { formatClock } from '../format';

/**
 * What happened in the network since this page opened, newest first: members joining, coming online
 * and going offline, path changes, removals, this device's connection. (Log lines are in Logs.)
 */
export function EventsView() {
  const feed = useApp((s) => s.feed);
  if (feed.length === 0) return <p className="empty">Nothing has happened since this page opened.</p>;
  return (
    <ol className="event-feed" aria-label="Events">
      {[...feed].reverse().map((f) => (
        <li key={f.id} className={`event event-${f.kind}`}>
          <time className="num" dateTime={new Date(f.time).toISOString()}>
            {formatClock(f.time)}
          </time>{' '}
          {f.text}
        </li>
      ))}
    </ol>
  );
}
