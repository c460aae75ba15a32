import { useEffect, useId, useMemo, useRef, useState } from 'react';
import type { LogLevel } from '../api';
import { useApp } from '../context';
import { formatClock } from '../format';

const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The node's log (the last lines it keeps, then live), at or above a chosen level. */
export function LogsView() {
  const logs = useApp((s) => s.logs);
  const [level, setLevel] = useState<LogLevel>('info');
  const [follow, setFollow] = useState(true);
  const list = useRef<HTMLOListElement>(null);
  const id = useId();
  const shown = useMemo(() => logs.filter((l) => RANK[l.level] >= RANK[level]), [logs, level]);

  useEffect(() => {
    const el = list.current;
    if (follow && el && shown.length > 0) el.scrollTop = el.scrollHeight;
  }, [shown, follow]);

  return (
    <div className="logs-view">
      <div className="toolbar">
        <label htmlFor={`${id}-level`}>Level</label>
        <select id={`${id}-level`} value={level} onChange={(e) => setLevel(e.target.value as LogLevel)}>
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l === 'debug'
                ? 'Debug and above'
                : l === 'info'
                  ? 'Info and above'
                  : l === 'warn'
                    ? 'Warnings and errors'
                    : 'Errors only'}
            </option>
          ))}
        </select>
        <div className="check">
          <input
            id={`${id}-follow`}
            type="checkbox"
            checked={follow}
            onChange={(e) => setFollow(e.target.checked)}
          />
          <label htmlFor={`${id}-follow`}>Follow new lines</label>
        </div>
        <p className="count">
          {shown.length} of {logs.length} lines
        </p>
      </div>
      {/* role=log is polite by default; the lines are text a screen reader can walk */}
      <ol className="log-lines" ref={list} role="log" aria-label="Log">
        {shown.map((l, i) => (
          <li key={`${l.time}-${i}`} className={`log-line level-${l.level}`}>
            <time className="num" dateTime={new Date(l.time).toISOString()}>
              {formatClock(l.time)}
            </time>
            <span className="level">{l.level}</span>
            <span className="message">{l.message}</span>
          </li>
        ))}
      </ol>
      {shown.length === 0 && <p className="empty">No log lines at this level.</p>}
    </div>
  );
}
