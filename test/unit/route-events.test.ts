// The 'route' events of the Control API (main/node/events.ts): a member offered a subnet route or to
// be an exit node, or withdrew it. Never for our own offers, never for what members offered before
// this node started watching, never a "withdrew" for a member that was removed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiEvent } from '../../main/control/api';
import { parseEvent } from '../../main/control/api';
import { parseCidr } from '../../main/core/ip';
import { type Mesh, type MeshEvent, memberAddresses, settleClaims } from '../../main/core/mesh';
import { NodeEvents, ROUTE_JOIN_SLACK_MS, routeOfferChanges, routeOffers } from '../../main/node/events';
import { Logger } from '../../main/node/log';
import { key, net0 } from '../lib/mesh-fixtures';
import { SimNet, SimNode } from '../lib/sim';

const overlayV6 = parseCidr(`${memberAddresses(net0, new Uint8Array(32)).v6}/48`)!;
const K = (c: string) => `${c.repeat(43)}=`;

type RouteEvent = Extract<ApiEvent, { type: 'route' }>;

describe('route offers: what is compared', () => {
  it('takes every other member’s claim (held or refused) and one entry per exit offer, never our own', () => {
    const claims = settleClaims(
      [
        { key: K('A'), joined: 1000, routes: ['10.1.0.0/16', '192.168.1.7/24', '0.0.0.0/0', '::/0'] },
        { key: K('B'), joined: 2000, routes: ['10.1.2.0/24', 'fd00:1::/64'] },
        { key: K('S'), joined: 500, routes: ['172.16.0.0/12'] },
      ],
      overlayV6,
    );
    // real claims: the exit offer is not one, B's 10.1.2.0/24 is refused (A's older claim)
    assert.equal(claims.find((c) => c.route === '10.1.2.0/24')?.holds, false);
    const offers = routeOffers(claims, [K('A'), K('S')], K('S'));
    assert.deepEqual(
      [...offers.keys()].sort(),
      [
        `${K('A')} 10.1.0.0/16`,
        `${K('A')} 192.168.1.0/24`,
        `${K('A')} exit`,
        `${K('B')} 10.1.2.0/24`,
        `${K('B')} fd00:1::/64`,
      ].sort(),
    );
    assert.deepEqual(offers.get(`${K('A')} exit`), { key: K('A'), prefix: '0.0.0.0/0', exit: true });
    assert.deepEqual(offers.get(`${K('A')} 192.168.1.0/24`), {
      key: K('A'),
      prefix: '192.168.1.0/24',
      exit: false,
    });

    // A withdraws 10.1.0.0/16 and its exit offer: B's claim now holds, which is no offer of B's.
    const later = settleClaims(
      [
        { key: K('A'), joined: 1000, routes: ['192.168.1.0/24'] },
        { key: K('B'), joined: 2000, routes: ['10.1.2.0/24', 'fd00:1::/64', '10.9.0.0/16'] },
      ],
      overlayV6,
    );
    const changes = routeOfferChanges(offers, routeOffers(later, [], K('S')));
    assert.deepEqual(
      changes.map(
        (c) => `${c.offered ? '+' : '-'} ${c.offer.key[0]} ${c.offer.exit ? 'exit' : c.offer.prefix}`,
      ),
      ['+ B 10.9.0.0/16', '- A 10.1.0.0/16', '- A exit'],
    );
    assert.deepEqual(routeOfferChanges(offers, offers), []);
  });
});

/** A node's NodeEvents (its host: the mesh set once joined); the route events it emits, checked as a client would. */
function watch(n: SimNode, net: SimNet) {
  const events: RouteEvent[] = [];
  const lines: string[] = [];
  const host = {
    log: new Logger('info', (l) => lines.push(l)),
    metrics: { rtt: () => {} } as never,
    mesh: null as Mesh | null,
    selfKey: n.device.publicKeyB64,
    emit: (e: ApiEvent) => {
      if (e.type !== 'route') return;
      assert.deepEqual(parseEvent(JSON.parse(JSON.stringify(e))), e, 'a well-formed event');
      events.push(e);
    },
    scheduleSave: () => {},
    addressMoved: () => {},
    secretRotated: () => {},
    devicesChanged: () => {},
  };
  const ev = new NodeEvents(host, () => net.wall());
  return { events, lines, host, onMesh: (e: MeshEvent) => ev.onMesh(e) };
}

describe('route events from a node’s mesh', () => {
  it('tells members that join later with routes, changes of known members, and nothing else', () => {
    const net = new SimNet();
    const wall = net.wall();
    // The network before this node (p) joins: q offers to be an exit node, a offers a subnet.
    const q = net.add('q', key(1), 1);
    q.joinMesh(net0, [], 1, { exitOffer: true, joined: wall - 3_600_000 });
    const a = net.add('a', key(2), 2);
    a.joinMesh(net0, [q.endpoint], 2, { routes: ['10.1.0.0/24'], joined: wall - 1_800_000 });
    net.advance(3000);

    /** A node restarts with other offers (and the same key, address, join time and saved state). */
    const restart = (n: SimNode, offers: { routes?: string[]; exitOffer?: boolean }) => {
      const state = n.mesh!.exportState();
      const joined = n.mesh!.record.j;
      n.down = true;
      net.advance(1000);
      const again = new SimNode(
        net,
        n.name,
        n.endpoint,
        n.privateKey,
        n.name.charCodeAt(0) + 10,
        undefined,
        n.nat,
      );
      net.nodes.set(`${n.endpoint.address}:${n.endpoint.port}`, again);
      again.joinMesh(net0, [q.endpoint], n.name.charCodeAt(0) + 11, { ...offers, joined });
      again.mesh!.importState(state);
      return again;
    };

    // p joins, with a route of its own, watched by its NodeEvents.
    const p = net.add('p', key(3), 3);
    const w = watch(p, net);
    w.host.mesh = p.joinMesh(net0, [q.endpoint], 3, { routes: ['192.168.50.0/24'], onEvent: w.onMesh });
    net.advance(5000);
    const kq = q.device.publicKeyB64;
    const ka = a.device.publicKeyB64;
    assert.ok(p.mesh!.offersExit(kq), 'p knows q’s exit offer');
    assert.ok(
      p.mesh!.routeClaims().some((c) => c.key === ka && c.route === '10.1.0.0/24'),
      'p knows a’s route',
    );
    // What the network offered before p watched is no news; nor is p's own route.
    assert.deepEqual(w.events, []);

    // b joins later, offering a route and to be an exit node: news.
    const b = net.add('b', key(4), 4);
    b.joinMesh(net0, [q.endpoint], 4, { routes: ['10.2.0.0/16'], exitOffer: true });
    net.advance(5000);
    const kb = b.device.publicKeyB64;
    const show = (e: RouteEvent) =>
      `${e.name} ${e.offered ? '+' : '-'} ${e.exit ? 'exit' : ''}${e.prefix} (${e.key === kb ? 'kb' : e.key})`;
    assert.deepEqual(w.events.map(show), ['b + 10.2.0.0/16 (kb)', 'b + exit0.0.0.0/0 (kb)']);
    assert.match(w.lines.join(''), /member "b" \(\S+\) offers to be an exit node/);

    // b restarts with other offers: one event per change.
    w.events.length = 0;
    restart(b, { routes: ['10.2.0.0/16', 'fd00:2::/64'] });
    net.advance(5000);
    assert.deepEqual(w.events.map(show).sort(), ['b + fd00:2::/64 (kb)', 'b - exit0.0.0.0/0 (kb)'].sort());

    // a, there before p (so its first offers were no news), changes its offers: news.
    w.events.length = 0;
    restart(a, { routes: ['10.1.1.0/24'], exitOffer: true });
    net.advance(5000);
    assert.deepEqual(
      w.events.map(show).sort(),
      [`a + 10.1.1.0/24 (${ka})`, `a + exit0.0.0.0/0 (${ka})`, `a - 10.1.0.0/24 (${ka})`].sort(),
    );
    assert.match(w.lines.join(''), /member "a" \(\S+\) no longer offers the route 10\.1\.0\.0\/24/);

    // A member removed takes its routes along: its 'removed' event tells, no "withdrew".
    w.events.length = 0;
    assert.ok(q.mesh!.remove(ka));
    net.advance(5000);
    assert.ok(p.mesh!.members.get(ka)?.removed, 'p saw the removal');
    assert.ok(!p.mesh!.routeClaims().some((c) => c.key === ka), 'a’s claims are gone at p');
    assert.deepEqual(w.events, []);
  });

  it('a member that joined long before this node watched is no news, one within the slack is', () => {
    const net = new SimNet();
    const wall = net.wall();
    const q = net.add('q', key(1), 1);
    q.joinMesh(net0, [], 1, { joined: wall - 3_600_000 });
    const p = net.add('p', key(3), 3);
    const w = watch(p, net);
    w.host.mesh = p.joinMesh(net0, [q.endpoint], 3, { onEvent: w.onMesh });
    net.advance(3000);
    // First learned now, but joined (by its signed record) long before p started watching.
    const old = net.add('old', key(5), 5);
    old.joinMesh(net0, [q.endpoint], 5, {
      routes: ['10.5.0.0/24'],
      joined: net.wall() - 2 * ROUTE_JOIN_SLACK_MS,
    });
    // Joined a little before by its own clock (clocks differ): news.
    const skewed = net.add('skewed', key(6), 6);
    skewed.joinMesh(net0, [q.endpoint], 6, {
      routes: ['10.6.0.0/24'],
      joined: wall - ROUTE_JOIN_SLACK_MS / 2,
    });
    net.advance(5000);
    assert.ok(
      p.mesh!.routeClaims().some((c) => c.route === '10.5.0.0/24'),
      'p knows old’s route',
    );
    assert.deepEqual(
      w.events.map((e) => `${e.name} ${e.prefix} ${e.offered}`),
      ['skewed 10.6.0.0/24 true'],
    );
  });
});
