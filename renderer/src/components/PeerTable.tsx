import { memo, useRef } from 'react';
import type { PeerRow } from '../api';
import { displayName, formatAgo, formatLoss, formatMs, formatRate, NONE, pathText } from '../format';
import type { PeerSort, SortKey } from '../peers';
import { CopyButton } from './CopyButton';
import { Sparkline } from './Sparkline';

export interface RowActions {
  select(key: string): void;
  rename(key: string): void;
  ping(key: string): void;
  remove(key: string): void;
}

interface Column {
  label: string;
  sort?: SortKey;
  /** Sorting by this column starts descending (biggest numbers first). */
  desc?: boolean;
  className: string;
}

const COLUMNS: Column[] = [
  { label: 'Name', sort: 'name', className: 'c-name' },
  { label: 'IPv4', sort: 'ipv4', className: 'c-ip' },
  { label: 'Status', sort: 'status', className: 'c-status' },
  { label: 'Endpoint', className: 'c-endpoint' },
  { label: 'RTT', sort: 'rtt', className: 'c-num c-rtt' },
  { label: 'Loss', sort: 'loss', className: 'c-num c-loss' },
  { label: 'Receive', sort: 'rx', desc: true, className: 'c-num c-rate' },
  { label: 'Send', sort: 'tx', desc: true, className: 'c-num c-rate' },
  { label: 'Handshake', sort: 'handshake', className: 'c-num c-ago' },
  { label: 'Last minute', className: 'c-spark' },
  { label: 'Actions', className: 'c-actions' },
];

interface Props {
  rows: readonly PeerRow[];
  sort: PeerSort;
  onSort(sort: PeerSort): void;
  selected: string | null;
  actions: RowActions;
  /** Wall-clock ms, for "12 s ago". */
  now: number;
}

export function PeerTable({ rows, sort, onSort, selected, actions, now }: Props) {
  return (
    <div className="table-wrap">
      <table className="peers" aria-label="Peers">
        <colgroup>
          {COLUMNS.map((c) => (
            <col key={c.label} className={c.className} />
          ))}
        </colgroup>
        <thead>
          {/* biome-ignore lint/a11y/noRedundantRoles: explicit so [role=row] selectors (tests, benchmark) find it */}
          <tr role="row">
            {COLUMNS.map((c) => {
              if (!c.sort) {
                return (
                  <th key={c.label} scope="col" className={c.className}>
                    {c.label}
                  </th>
                );
              }
              const key = c.sort;
              const active = sort.key === key;
              const next: PeerSort = active
                ? { key, dir: sort.dir === 'asc' ? 'desc' : 'asc' }
                : { key, dir: c.desc ? 'desc' : 'asc' };
              return (
                <th
                  key={c.label}
                  scope="col"
                  className={c.className}
                  aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}
                >
                  <button type="button" className="sort" onClick={() => onSort(next)}>
                    {c.label}
                    <span className="sort-mark" aria-hidden="true">
                      {active ? (sort.dir === 'asc' ? '▲' : '▼') : ''}
                    </span>
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((p) => (
            <PeerTableRow
              key={p.key}
              peer={p}
              selected={p.key === selected}
              actions={actions}
              now={Math.floor(now / 1000) * 1000}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

interface RowProps {
  peer: PeerRow;
  selected: boolean;
  actions: RowActions;
  now: number;
}

const PeerTableRow = memo(function PeerTableRow({ peer: p, selected, actions, now }: RowProps) {
  const ip = useRef<HTMLElement>(null);
  const name = displayName(p);
  // online peers show their path; "online" alone while the path is being made
  const status = !p.online ? 'offline' : p.path === 'none' ? 'online' : pathText(p);
  return (
    // biome-ignore lint/a11y/noRedundantRoles: explicit so [role=row] selectors (tests, benchmark) find it
    <tr role="row" className={selected ? 'selected' : undefined} data-key={p.key} data-online={p.online}>
      <th scope="row" className="c-name">
        <button
          type="button"
          className="link"
          onClick={() => actions.select(p.key)}
          aria-expanded={selected}
          aria-controls="peer-detail"
          title={`Show details of ${name}`}
        >
          {name}
        </button>
        {p.alias && p.alias !== p.name && <span className="real-name">{p.name}</span>}
      </th>
      <td className="c-ip">
        <code ref={ip}>{p.ipv4}</code>
        <CopyButton text={p.ipv4} label={`Copy IPv4 address of ${name}`} target={ip} compact />
      </td>
      <td className="c-status" title={status}>
        <span className={p.online ? 'dot on' : 'dot off'} aria-hidden="true" />
        {status}
      </td>
      <td className="c-endpoint mono" title={p.endpoint ?? undefined}>
        {p.endpoint ?? NONE}
      </td>
      <td className="c-num">{formatMs(p.rttMs)}</td>
      <td className={p.loss ? 'c-num lossy' : 'c-num'}>{formatLoss(p.loss)}</td>
      <td className="c-num">{formatRate(p.rxBps)}</td>
      <td className="c-num">{formatRate(p.txBps)}</td>
      <td className="c-num">{formatAgo(p.lastHandshake, now)}</td>
      <td className="c-spark">
        <Sparkline values={p.spark} />
      </td>
      <td className="c-actions">
        <div className="row-actions">
          <button
            type="button"
            className="small"
            onClick={() => actions.rename(p.key)}
            aria-label={`Rename ${name}`}
          >
            Rename
          </button>
          <button
            type="button"
            className="small"
            onClick={() => actions.ping(p.key)}
            aria-label={`Ping ${name}`}
          >
            Ping
          </button>
          <button
            type="button"
            className="small danger"
            onClick={() => actions.remove(p.key)}
            aria-label={`Remove ${name}`}
          >
            Remove
          </button>
        </div>
      </td>
    </tr>
  );
});
