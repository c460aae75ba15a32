import { memo, useRef } from 'react';
import type { PeerRow } from '../api';
import { displayName, formatLoss, formatMs, formatRate, handshakeText, NONE, peerState } from '../format';
import type { PeerSort, SortKey } from '../peers';
import { CopyButton } from './CopyButton';
import { Icon } from './icons';
import { Sparkline } from './Sparkline';

export interface RowActions {
  select(key: string): void;
  rename(key: string): void;
  ping(key: string): void;
  remove(key: string): void;
}

/** A sort button in a column header. */
interface SortButton {
  key: SortKey;
  label: string;
  /** Visible before the label, hidden from screen readers (the traffic column's arrows). */
  mark?: string;
  /** Sorting by this starts descending (biggest numbers first). */
  desc?: boolean;
}

interface Column {
  label: string;
  className: string;
  /** One button for most columns; the traffic column has one for each direction. */
  sorts?: SortButton[];
}

/** A column sorted by one key, its header button named like the column. */
const sorted = (label: string, key: SortKey, className: string): Column => ({
  label,
  className,
  sorts: [{ key, label }],
});

const COLUMNS: Column[] = [
  sorted('Name', 'name', 'c-name'),
  sorted('IPv4', 'ipv4', 'c-ip'),
  sorted('Status', 'status', 'c-status'),
  { label: 'Endpoint', className: 'c-endpoint' },
  sorted('RTT', 'rtt', 'c-num c-rtt'),
  sorted('Loss', 'loss', 'c-num c-loss'),
  {
    label: 'Traffic',
    className: 'c-num c-traffic',
    sorts: [
      { key: 'rx', label: 'Receive', mark: '↓', desc: true },
      { key: 'tx', label: 'Send', mark: '↑', desc: true },
    ],
  },
  sorted('Handshake', 'handshake', 'c-num c-ago'),
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
              const active = c.sorts?.find((b) => b.key === sort.key);
              return (
                <th
                  key={c.label}
                  scope="col"
                  className={c.className}
                  aria-sort={
                    !c.sorts ? undefined : !active ? 'none' : sort.dir === 'asc' ? 'ascending' : 'descending'
                  }
                >
                  {c.sorts ? (
                    <span className="sorts">
                      {c.sorts.length > 1 && <span className="sr-only">{c.label}: </span>}
                      {c.sorts.map((b) => (
                        <SortHeaderButton key={b.key} button={b} sort={sort} onSort={onSort} />
                      ))}
                    </span>
                  ) : (
                    c.label
                  )}
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

function SortHeaderButton({
  button: b,
  sort,
  onSort,
}: { button: SortButton } & Pick<Props, 'sort' | 'onSort'>) {
  const active = sort.key === b.key;
  const next: PeerSort = active
    ? { key: b.key, dir: sort.dir === 'asc' ? 'desc' : 'asc' }
    : { key: b.key, dir: b.desc ? 'desc' : 'asc' };
  return (
    <button type="button" className="sort" onClick={() => onSort(next)}>
      {b.mark && <span aria-hidden="true">{b.mark}</span>}
      {b.label}
      <span className="sort-mark" aria-hidden="true">
        {active ? (sort.dir === 'asc' ? '▲' : '▼') : ''}
      </span>
    </button>
  );
}

const ROW_ACTIONS = [
  { id: 'rename', label: 'Rename' },
  { id: 'ping', label: 'Ping' },
  { id: 'remove', label: 'Remove' },
] as const;

interface RowProps {
  peer: PeerRow;
  selected: boolean;
  actions: RowActions;
  now: number;
}

const PeerTableRow = memo(function PeerTableRow({ peer: p, selected, actions, now }: RowProps) {
  const ip = useRef<HTMLElement>(null);
  const name = displayName(p);
  // online peers show their path ("online" alone while the path is being made), amber when their
  // probes go unanswered, offline ones when they were last seen
  const state = peerState(p, now);
  const status = state.text;
  return (
    <tr
      // biome-ignore lint/a11y/noRedundantRoles: explicit so [role=row] selectors (tests, benchmark) find it
      role="row"
      className={selected ? 'selected' : undefined}
      data-key={p.key}
      data-online={p.online}
      data-state={state.kind}
    >
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
      <td className="c-ip" data-label="IPv4">
        <code ref={ip}>{p.ipv4}</code>
        <CopyButton text={p.ipv4} label={`Copy IPv4 address of ${name}`} target={ip} compact />
      </td>
      <td className="c-status" title={status} data-label="Status">
        <span className={`dot ${state.kind}`} aria-hidden="true" />
        {status}
      </td>
      <td className="c-endpoint mono" title={p.endpoint ?? undefined} data-label="Endpoint">
        {p.endpoint ?? NONE}
      </td>
      {/* no RTT while not responding: the last one measured is no longer a fact */}
      <td className="c-num" data-label="RTT">
        {formatMs(state.kind === 'not-responding' ? null : p.rttMs)}
      </td>
      <td className={p.loss ? 'c-num lossy' : 'c-num'} data-label="Loss">
        {formatLoss(p.loss)}
      </td>
      <td className="c-num c-traffic" data-label="Traffic">
        <span className="rate">
          <span aria-hidden="true">↓ </span>
          <span className="sr-only">receive </span>
          {formatRate(p.rxBps)}
        </span>
        <span className="rate">
          <span aria-hidden="true">↑ </span>
          <span className="sr-only">send </span>
          {formatRate(p.txBps)}
        </span>
      </td>
      <td className="c-num" data-label="Handshake">
        {handshakeText(p, now)}
      </td>
      <td className="c-spark" data-label="Last minute">
        <Sparkline values={p.spark} />
      </td>
      <td className="c-actions">
        <div className="row-actions">
          {ROW_ACTIONS.map((a) => (
            <button
              key={a.id}
              type="button"
              className={a.id === 'remove' ? 'small icon danger' : 'small icon'}
              onClick={() => actions[a.id](p.key)}
              aria-label={`${a.label} ${name}`}
              title={`${a.label} ${name}`}
            >
              <Icon name={a.id} />
            </button>
          ))}
        </div>
      </td>
    </tr>
  );
});
