import { screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { node, peer } from '../test/fake-transport';
import { renderWith } from '../test/render';
import { GRAPH_MAX, graphOf, NetworkView } from './NetworkView';

const now = Date.now();

describe('graphOf: the network as this device sees it', () => {
  it('direct edges from this device with the RTT, relayed ones from the relay, none to the offline', () => {
    const g = graphOf(
      'alpha',
      [
        peer('pi', { rttMs: 0.42 }),
        peer('vps', { path: 'relayed', via: 'pi', rttMs: 12.3, endpoint: null }),
        peer('office', { path: 'relayed', via: 'gone', rttMs: null, endpoint: null }),
        peer('laptop', { online: false, path: 'none', rttMs: null }),
        peer('nas', { unansweredMs: 6000, rttMs: 3 }),
      ],
      now,
    );
    const key = (n: string) => `${n.padEnd(43, 'K')}=`;
    expect(g.nodes[0]).toMatchObject({ key: '', name: 'alpha', kind: 'self' });
    expect(g.nodes.map((n) => n.name).slice(1)).toEqual(['laptop', 'nas', 'office', 'pi', 'vps']);
    expect(g.nodes.find((n) => n.name === 'laptop')?.kind).toBe('offline');
    expect(g.edges).toEqual([
      // probes unanswered: amber, and no stale RTT
      { from: '', to: key('nas'), kind: 'not-responding', label: 'not responding' },
      // a relay that is not drawn: the dashed edge starts here; no RTT measured, none shown
      { from: '', to: key('office'), kind: 'relayed', label: 'via gone' },
      { from: '', to: key('pi'), kind: 'direct', label: '0.42 ms' },
      { from: key('pi'), to: key('vps'), kind: 'relayed', label: 'via pi, 12.3 ms' },
    ]);
    // every node inside the drawing
    for (const n of g.nodes) {
      expect(n.x).toBeGreaterThan(0);
      expect(n.y).toBeGreaterThan(0);
    }
  });

  it(`draws at most ${GRAPH_MAX} members, online ones first, and says how many more`, () => {
    const many = Array.from({ length: GRAPH_MAX + 5 }, (_, i) =>
      peer(`m${String(i).padStart(3, '0')}`, { online: i >= 5 }),
    );
    const g = graphOf('alpha', many, now);
    expect(g.nodes).toHaveLength(GRAPH_MAX + 1);
    expect(g.hidden).toBe(5);
    expect(g.nodes.some((n) => n.kind === 'offline')).toBe(false);
  });
});

describe('NetworkView', () => {
  it('draws the graph with its facts in words for screen readers', async () => {
    const t = node({
      peers: () => [peer('pi', { rttMs: 0.5 }), peer('vps', { path: 'relayed', via: 'pi', endpoint: null })],
    });
    renderWith(<NetworkView />, t);
    const g = await screen.findByTestId('network-graph');
    await waitFor(() => expect(g.querySelectorAll('[data-edge]').length).toBe(2));
    expect(g.getAttribute('aria-label')).toContain('pi: direct, 0.50 ms');
    expect(g.getAttribute('aria-label')).toContain('vps: relayed (via pi, 10.0 ms)');
    expect(g.querySelector('[data-edge="relayed"] text')?.textContent).toBe('via pi, 10.0 ms');
  });
});
