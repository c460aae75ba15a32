import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { filterPeers, sortPeers } from '../peers';
import { node, peer } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { PeersView } from './PeersView';
import { Toasts } from './Toasts';

const rows = [
  peer('alice', { ipv4: '100.64.0.10', rttMs: 30, rxBps: 10 }),
  peer('bob', { ipv4: '100.64.0.9', rttMs: null, rxBps: 3000, online: false, path: 'none', endpoint: null }),
  peer('carol', {
    alias: 'Zed',
    ipv4: '100.64.1.1',
    rttMs: 5,
    rxBps: 500,
    path: 'relayed',
    via: 'alice',
    endpoint: null,
  }),
];

const table = () => screen.getByRole('table', { name: 'Peers' });
const row = (name: RegExp) => within(table()).getByRole('row', { name });
const queryRow = (name: RegExp) => within(table()).queryByRole('row', { name });

/** Names in the order the table shows them. */
function names(): string[] {
  return within(table())
    .getAllByRole('row')
    .slice(1)
    .map((r) => within(r).getAllByRole('button')[0].textContent ?? '');
}

async function shown() {
  const t = node({ peers: () => rows });
  const r = renderWith(
    <>
      <PeersView />
      <Toasts />
    </>,
    t,
  );
  await screen.findByRole('table', { name: 'Peers' });
  return { t, ...r };
}

describe('peer list', () => {
  it('shows a row per member with its name, address, path and numbers', async () => {
    await shown();
    expect(names()).toEqual(['alice', 'bob', 'Zed']);
    const carol = row(/Zed/);
    expect(within(carol).getByText('carol')).toBeTruthy(); // the real name under the alias
    expect(within(carol).getByText('relayed via alice')).toBeTruthy();
    expect(within(carol).getByText('5.00 ms')).toBeTruthy();
    expect(within(carol).getByText('500 B/s')).toBeTruthy();
    expect(within(carol).getByText(/^\d+ s ago$/)).toBeTruthy();
    const bob = row(/bob/);
    expect(within(bob).getByText(/^offline, last seen \d+ s ago$/)).toBeTruthy();
    expect(bob.getAttribute('data-state')).toBe('offline');
    expect(carol.getAttribute('data-state')).toBe('relayed');
    expect(within(bob).getByRole('button', { name: 'Copy IPv4 address of bob' })).toBeTruthy();
    expect(within(bob).getByRole('button', { name: 'Rename bob' })).toBeTruthy();
  });

  it('a peer whose hellos go unanswered shows amber “not responding”; a fresh one shows its path', async () => {
    const t = node({
      peers: () => [
        peer('dave', { unansweredMs: 6400 }),
        peer('erin', { unansweredMs: 1200 }),
        peer('finn', { path: 'relayed', via: 'erin', unansweredMs: 60_000 }),
      ],
    });
    renderWith(<PeersView />, t);
    await waitFor(() => expect(within(table()).getAllByRole('row')).toHaveLength(4));
    expect(within(row(/dave/)).getByText('not responding (6 s)')).toBeTruthy();
    expect(row(/dave/).getAttribute('data-state')).toBe('not-responding');
    // its last RTT is no longer a fact: not shown; a peer that answers shows its own
    expect(within(row(/dave/)).queryByText(/ ms$/)).toBeNull();
    expect(within(row(/^erin/)).getByText(/ ms$/)).toBeTruthy();
    expect(within(row(/^erin/)).getByText('direct')).toBeTruthy();
    // a relayed member's hellos are probes for a direct path: unanswered by nature
    expect(within(row(/^finn/)).getByText('relayed via erin')).toBeTruthy();
  });

  it('sorts by a column header, and again the other way', async () => {
    await shown();
    const rtt = screen.getByRole('columnheader', { name: /RTT/ });
    expect(rtt.getAttribute('aria-sort')).toBe('none');
    expect(screen.getByRole('columnheader', { name: /Name/ }).getAttribute('aria-sort')).toBe('ascending');

    fireEvent.click(within(rtt).getByRole('button'));
    expect(rtt.getAttribute('aria-sort')).toBe('ascending');
    expect(names()).toEqual(['Zed', 'alice', 'bob']); // no RTT sorts last
    fireEvent.click(within(rtt).getByRole('button'));
    expect(rtt.getAttribute('aria-sort')).toBe('descending');
    expect(names()).toEqual(['alice', 'Zed', 'bob']);

    fireEvent.click(within(screen.getByRole('columnheader', { name: /IPv4/ })).getByRole('button'));
    expect(names()).toEqual(['bob', 'alice', 'Zed']); // .9 before .10 (numeric, not text)
    const traffic = screen.getByRole('columnheader', { name: /Traffic/ });
    fireEvent.click(within(traffic).getByRole('button', { name: /Receive/ }));
    expect(names()).toEqual(['bob', 'Zed', 'alice']); // rates start with the biggest
    expect(traffic.getAttribute('aria-sort')).toBe('descending');
  });

  it('filters by name, alias, address or relay', async () => {
    await shown();
    const filter = screen.getByLabelText('Filter peers');
    fireEvent.change(filter, { target: { value: 'zed' } });
    expect(names()).toEqual(['Zed']);
    fireEvent.change(filter, { target: { value: '100.64.0.' } });
    expect(names()).toEqual(['alice', 'bob']);
    fireEvent.change(filter, { target: { value: 'via alice' } });
    expect(screen.getByText('No peers match “via alice”.')).toBeTruthy();
    fireEvent.change(filter, { target: { value: 'alice' } });
    expect(names()).toEqual(['alice', 'Zed']); // carol is relayed via alice
    expect(screen.getByText('2 of 3 shown')).toBeTruthy();
  });

  it('polls the list and applies events between polls', async () => {
    const { t } = await shown();
    const n = t.callsOf('peers').length;
    await waitFor(() => expect(t.callsOf('peers').length).toBeGreaterThan(n), { timeout: 2500 });
    act(() => t.emit({ type: 'rtt', key: rows[1].key, ms: 250 }));
    expect(within(row(/bob/)).getByText('250 ms')).toBeTruthy();
  });

  it('renames, pings and removes through the row actions', async () => {
    const { t } = await shown();
    t.handlers.rename = (p) => ({ peer: p.peer, name: 'alice', alias: p.name });
    t.handlers['ping-peer'] = () => ({
      peer: rows[0].key,
      name: 'alice',
      rttMs: 3.25,
      path: 'direct',
      via: null,
    });
    t.handlers.remove = () => ({ removed: rows[1].key, name: 'bob' });

    fireEvent.click(screen.getByRole('button', { name: 'Rename alice' }));
    const dialog = screen.getByRole('dialog', { name: 'Rename alice' });
    fireEvent.change(within(dialog).getByLabelText('Name on this device'), {
      target: { value: 'Work laptop' },
    });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(t.callsOf('rename')).toEqual([{ peer: rows[0].key, name: 'Work laptop' }]);

    fireEvent.click(screen.getByRole('button', { name: 'Ping Work laptop' }));
    await screen.findByText('Ping Work laptop: 3.25 ms (direct)');

    fireEvent.click(screen.getByRole('button', { name: 'Remove bob' }));
    const confirm = screen.getByRole('dialog', { name: 'Remove bob?' });
    fireEvent.click(within(confirm).getByRole('button', { name: 'Remove' }));
    await waitFor(() => expect(queryRow(/bob/)).toBeNull());
    expect(t.callsOf('remove')).toEqual([{ peer: rows[1].key }]);
  });

  it('opens the detail view with the latency graph for a peer', async () => {
    const { t } = await shown();
    t.handlers.metrics = (p) => ({
      peer: p.peer,
      name: 'alice',
      path: 'direct',
      summary: {
        samples: 3,
        rtt: { last: 30, min: 20, max: 40, mean: 30, p50: 30, p75: 35, p99: 40, jitter: 2 },
        loss: 0.25,
        rxRate: 1000,
        txRate: 2000,
        rxPps: 1,
        txPps: 1,
        rxBytes: 3000,
        txBytes: 6000,
        pathChanges: [{ t: Date.now() - 10_000, kind: 'direct', via: undefined }],
      },
      series: {
        t: [1, 2, 3],
        rtt: [20, null, 40],
        loss: [0, 1, 0],
        rx: [0, 0, 0],
        tx: [0, 0, 0],
        reach: [2, 2, 2],
      },
    });
    fireEvent.click(screen.getByRole('button', { name: 'alice' }));
    const graph = await screen.findByTestId('latency-graph');
    await waitFor(() => expect(graph.getAttribute('aria-label')).toContain('median 30.0 ms'));
    expect(t.callsOf('metrics')[0]).toEqual({ peer: rows[0].key, window: 60, points: 60 });
    fireEvent.click(screen.getByLabelText('1 h'));
    await waitFor(() =>
      expect(t.callsOf('metrics').at(-1)).toEqual({ peer: rows[0].key, window: 3600, points: 360 }),
    );
    expect(screen.getByText('25 %')).toBeTruthy();
  });

  it('the detail says what the peer may reach here; Allow/Deny send the rule, a refusal is shown', async () => {
    const { t } = await shown();
    let summary = 'everything';
    t.handlers.peers = () => [peer('alice', { ipv4: '100.64.0.2', access: summary })];
    t.handlers['set-access'] = (p) => {
      if (p.what === 'sctp/1')
        throw Object.assign(new Error('"sctp/1" is not a protocol and port'), { code: 'failed' });
      summary = p.op === 'allow' ? `${String(p.what)} only` : 'nothing';
      return { default: 'deny', rules: [], applied: true, error: null, dropped: 0 };
    };
    fireEvent.click(screen.getByRole('button', { name: 'alice' }));
    const form = await screen.findByRole('form', { name: 'Access of alice to this machine' });
    await waitFor(() => expect(screen.getByText('everything')).toBeTruthy());
    fireEvent.change(within(form).getByLabelText(/What/), { target: { value: 'tcp/22' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Allow' }));
    await waitFor(() => expect(screen.getByText('tcp/22 only')).toBeTruthy());
    expect(t.callsOf('set-access')).toEqual([{ op: 'allow', peer: rows[0].key, what: 'tcp/22' }]);
    fireEvent.change(within(form).getByLabelText(/What/), { target: { value: 'sctp/1' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Deny' }));
    // (an empty alert region is always there: wait for its text, not for the element)
    await waitFor(() =>
      expect(within(form).getByRole('alert').textContent).toContain('not a protocol and port'),
    );
  });
});

describe('sortPeers / filterPeers', () => {
  it('keeps nulls last in both directions and breaks ties by name', () => {
    const a = peer('a', { loss: null });
    const b = peer('b', { loss: 0.1 });
    const c = peer('c', { loss: 0.1 });
    expect(sortPeers([a, c, b], { key: 'loss', dir: 'asc' }).map((p) => p.name)).toEqual(['b', 'c', 'a']);
    expect(sortPeers([a, c, b], { key: 'loss', dir: 'desc' }).map((p) => p.name)).toEqual(['b', 'c', 'a']);
    expect(filterPeers([a, b, c], '  ')).toHaveLength(3);
  });
});
