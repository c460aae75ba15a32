// Subnet routes members offer (main/core/mesh/routes.ts): which claims hold — the same at every member
// whatever order records arrive in — and that a route reaches WireGuard only once accepted; the
// user's choices (main/node/route-choices.ts) and log lines free of control characters.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCidr } from '../../main/core/ip';
import { isPrivateRoute, memberAddresses, routeRefusal, settleClaims } from '../../main/core/mesh';
import { stripControl } from '../../main/core/names';
import { NodeEvents } from '../../main/node/events';
import { Logger } from '../../main/node/log';
import { RouteChoices } from '../../main/node/route-choices';
import { key, net0 } from '../lib/mesh-fixtures';
import { ipv4Packet, SimNet, type SimNode } from '../lib/sim';

const v4 = (n: SimNode) => memberAddresses(net0, n.publicKey).v4;
const v6 = (n: SimNode) => memberAddresses(net0, n.publicKey).v6;
const overlayV6 = parseCidr(`${memberAddresses(net0, new Uint8Array(32)).v6}/48`)!;
const payloadTo = (n: SimNode) => n.tunOut.map((b) => b.subarray(28).toString());

describe('route claims: the rule', () => {
  it('refuses default routes, routes wider than the helper allows, the overlay and non-subnets', () => {
    const refused: [string, RegExp][] = [
      ['0.0.0.0/0', /default route/],
      ['::/0', /default route/],
      ['0.0.0.0/1', /wider than \/8/],
      ['8.0.0.0/7', /wider than \/8/],
      ['2000::/3', /wider than \/16/],
      ['100.64.0.0/10', /network's own addresses/],
      ['100.0.0.0/8', /network's own addresses/],
      ['100.100.1.2/32', /network's own addresses/],
      [`${overlayV6.bytes[0].toString(16)}${overlayV6.bytes[1].toString(16).padStart(2, '0')}::/16`, /own/],
      ['127.0.0.0/8', /loopback/],
      ['169.254.1.0/24', /link-local/],
      ['224.0.0.0/8', /multicast/],
      ['fe80::/64', /link-local/],
      ['::1/128', /not a routable/],
    ];
    for (const [text, why] of refused) {
      const r = routeRefusal(parseCidr(text)!, overlayV6);
      assert.ok(r && why.test(r), `${text}: ${r}`);
    }
    for (const ok of ['8.0.0.0/8', '192.168.100.0/24', '10.1.2.3/32', 'fd12:3456::/32', '2001:db8::/32'])
      assert.equal(routeRefusal(parseCidr(ok)!, overlayV6), null, ok);
  });

  it('of overlapping claims the older member keeps the route, in any order', () => {
    const offers = [
      { key: `${'B'.repeat(43)}=`, joined: 2000, routes: ['10.1.0.0/16', '192.168.1.0/24'] },
      { key: `${'A'.repeat(43)}=`, joined: 3000, routes: ['10.0.0.0/8', '192.168.2.0/24'] },
      {
        key: `${'C'.repeat(43)}=`,
        joined: 2000,
        routes: ['10.1.2.0/24', '192.168.1.7/32', '192.168.2.0/24'],
      },
    ];
    const expected = new Map([
      ['B:10.1.0.0/16', true],
      ['B:192.168.1.0/24', true],
      ['A:10.0.0.0/8', false], // contains B's older 10.1.0.0/16
      ['A:192.168.2.0/24', false], // C joined earlier
      ['C:10.1.2.0/24', false], // same join time as B: the smaller key (B) wins
      ['C:192.168.1.7/32', false],
      ['C:192.168.2.0/24', true],
    ]);
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 0, 2],
      [1, 2, 0],
    ];
    for (const order of orders) {
      const claims = settleClaims(
        order.map((i) => offers[i]),
        overlayV6,
      );
      const got = new Map(claims.map((c) => [`${c.key[0]}:${c.route}`, c.holds]));
      assert.deepEqual(got, expected, `order ${order}`);
      const a = claims.find((c) => c.key[0] === 'A' && c.route === '10.0.0.0/8')!;
      assert.equal(a.ownedBy?.[0], 'B');
    }
  });
});

describe('route claims between members (in-process network)', () => {
  it("a member offering another member's address or a default route is refused at every member", () => {
    const net = new SimNet();
    const p = net.add('p', key(1), 1);
    p.joinMesh(net0, [], 1, { acceptRoute: () => true }); // even a user who accepts everything
    const b = net.add('b', key(2), 2);
    b.joinMesh(net0, [p.endpoint], 2, { acceptRoute: () => true });
    net.advance(1000);
    const x = net.add('x', key(3), 3);
    const hostile = [`${v4(b)}/32`, `${v6(b)}/128`, '100.64.0.0/10', '0.0.0.0/0', '::/0', '0.0.0.0/1'];
    x.joinMesh(net0, [p.endpoint], 3, { routes: hostile, acceptRoute: () => true });
    net.advance(3000);
    const kx = x.device.publicKeyB64;
    for (const n of [p, b, x]) {
      const claims = n.mesh!.routeClaims().filter((c) => c.key === kx);
      // 0.0.0.0/0 and ::/0 are an exit offer, not a claim: used only when a machine's user chooses x.
      assert.equal(claims.length, hostile.length - 2, `${n.name} sees x's offers`);
      assert.ok(n.mesh!.offersExit(kx));
      for (const c of claims) assert.equal(c.holds, false, `${n.name}: ${c.route} refused`);
      if (n !== x) assert.deepEqual(n.mesh!.routedOf(kx), [], `${n.name} routes nothing to x`);
    }
    p.send(ipv4Packet(v4(p), v4(b), 'for b'));
    p.send(ipv4Packet(v4(p), '198.51.100.7', 'for the internet'));
    net.advance(500);
    assert.deepEqual(payloadTo(b), ['for b']);
    assert.deepEqual(payloadTo(x), []);
  });

  it('an exit node carries traffic for the internet only for the machine that chose it, and only while it offers', () => {
    const net = new SimNet();
    const p = net.add('p', key(1), 1);
    p.joinMesh(net0, [], 1, { exitOffer: true });
    const a = net.add('a', key(2), 2);
    a.joinMesh(net0, [p.endpoint], 2);
    const b = net.add('b', key(3), 3);
    b.joinMesh(net0, [p.endpoint], 3);
    net.advance(3000);
    const kp = p.device.publicKeyB64;
    assert.ok(a.mesh!.offersExit(kp));
    a.mesh!.setExit(kp);
    a.send(ipv4Packet(v4(a), '198.51.100.7', 'from a'));
    b.send(ipv4Packet(v4(b), '198.51.100.7', 'from b'));
    net.advance(500);
    assert.deepEqual(payloadTo(p), ['from a'], 'only a chose p');
    // Replies from the internet come back to a through p (p's peer at a may use any source).
    p.send(ipv4Packet('198.51.100.7', v4(a), 'reply'));
    net.advance(500);
    assert.deepEqual(payloadTo(a), ['reply']);
    // A member that did not choose p refuses p's packets from internet addresses.
    p.send(ipv4Packet('198.51.100.7', v4(b), 'spoofed'));
    net.advance(500);
    assert.deepEqual(payloadTo(b), []);
    a.mesh!.setExit(null);
    a.send(ipv4Packet(v4(a), '198.51.100.7', 'after none'));
    net.advance(500);
    assert.deepEqual(payloadTo(p), ['from a']);
  });

  for (const olderFirst of [true, false])
    it(`two members claiming one subnet: the older claim wins everywhere (older one ${olderFirst ? 'arrives first' : 'arrives last'})`, () => {
      const net = new SimNet();
      const p = net.add('p', key(1), 1);
      p.joinMesh(net0, [], 1, { acceptRoute: () => true });
      const q = net.add('q', key(2), 2);
      q.joinMesh(net0, [p.endpoint], 2, { acceptRoute: () => true });
      net.advance(1000);
      const join = (n: SimNode, routes: string[], joined: number) =>
        n.joinMesh(net0, [q.endpoint], n.name.charCodeAt(0), { routes, joined, acceptRoute: () => true });
      const old = net.add('old', key(5), 5);
      const young = net.add('young', key(4), 4);
      const [first, second] = olderFirst ? [old, young] : [young, old];
      const wall = net.wall();
      for (const n of [first, second]) {
        if (n === old) join(old, ['10.0.0.0/8'], wall - 50_000);
        else join(young, ['10.1.0.0/16', '192.168.9.0/24'], wall - 1000);
        net.advance(3000);
      }
      net.advance(3000);
      const ko = old.device.publicKeyB64;
      const ky = young.device.publicKeyB64;
      for (const n of [p, q, old, young]) {
        const claims = n.mesh!.routeClaims();
        const of = (k: string, r: string) => claims.find((c) => c.key === k && c.route === r);
        assert.equal(of(ko, '10.0.0.0/8')?.holds, true, `${n.name}: old keeps 10.0.0.0/8`);
        assert.equal(of(ky, '10.1.0.0/16')?.holds, false, `${n.name}: young refused`);
        assert.equal(of(ky, '10.1.0.0/16')?.ownedBy, ko);
        assert.equal(of(ky, '192.168.9.0/24')?.holds, true, `${n.name}: young's other route holds`);
      }
      p.send(ipv4Packet(v4(p), '10.1.2.3', 'to 10.1.2.3'));
      p.send(ipv4Packet(v4(p), '192.168.9.9', 'to 192.168.9.9'));
      net.advance(1000);
      assert.deepEqual(payloadTo(old), ['to 10.1.2.3']);
      assert.deepEqual(payloadTo(young), ['to 192.168.9.9']);
    });

  it('a route reaches nothing until accepted, and nothing again once declined', () => {
    const net = new SimNet();
    const accepted = new Set<string>();
    const p = net.add('p', key(1), 1);
    p.joinMesh(net0, [], 1, { acceptRoute: (r) => accepted.has(r) });
    const b = net.add('b', key(2), 2);
    b.joinMesh(net0, [p.endpoint], 2, { routes: ['192.168.7.0/24'] });
    net.advance(3000);
    const kb = b.device.publicKeyB64;
    const allowedAtP = () => p.device.allowedIpsOf(p.device.getPeer(kb)!);
    const roundTrip = (label: string) => {
      p.send(ipv4Packet(v4(p), '192.168.7.5', `${label} out`));
      b.send(ipv4Packet('192.168.7.5', v4(p), `${label} back`)); // a LAN host answering through b
      net.advance(1000);
    };
    assert.equal(p.mesh!.routeClaims().find((c) => c.key === kb)?.holds, true);
    roundTrip('before');
    assert.deepEqual(payloadTo(b), [], 'not accepted: nothing goes to b');
    assert.deepEqual(payloadTo(p), [], 'not accepted: nothing from the subnet comes in');
    assert.ok(!allowedAtP().includes('192.168.7.0/24'));

    accepted.add('192.168.7.0/24');
    p.mesh!.routesChanged();
    assert.deepEqual(p.mesh!.routedOf(kb), ['192.168.7.0/24']);
    assert.ok(allowedAtP().includes('192.168.7.0/24'));
    roundTrip('accepted');
    assert.deepEqual(payloadTo(b), ['accepted out']);
    assert.deepEqual(payloadTo(p), ['accepted back']);

    accepted.clear();
    p.mesh!.routesChanged();
    assert.deepEqual(p.mesh!.routedOf(kb), []);
    assert.ok(!allowedAtP().includes('192.168.7.0/24'));
    roundTrip('declined');
    assert.deepEqual(payloadTo(b), ['accepted out']);
    assert.deepEqual(payloadTo(p), ['accepted back']);
  });
});

describe('route claims: private address space', () => {
  it('only routes wholly inside private ranges are private (what --accept-routes takes by itself)', () => {
    for (const r of ['10.1.0.0/16', '172.16.5.0/24', '192.168.1.0/24', '198.19.100.0/24', 'fd12::/32'])
      assert.equal(isPrivateRoute(parseCidr(r)!), true, r);
    for (const r of ['8.0.0.0/8', '10.0.0.0/7', '172.0.0.0/8', '2001:db8::/32', '1.1.1.1/32'])
      assert.equal(isPrivateRoute(parseCidr(r)!), false, r);
  });
});

describe("route choices: this machine's user's", () => {
  it('accept names the offering member, decline holds for anyone, both kept in a 0600 file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-routes-'));
    try {
      const file = join(dir, 'routes-home.json');
      const net = new SimNet();
      const choices = new RouteChoices(file, false);
      const p = net.add('p', key(1), 1);
      p.joinMesh(net0, [], 1, { acceptRoute: (r, k) => choices.accepts(r, k) });
      const b = net.add('b', key(2), 2);
      b.joinMesh(net0, [p.endpoint], 2, { routes: ['192.168.7.0/24', '8.0.0.0/8', '100.64.0.0/10'] });
      net.advance(3000);
      const kb = b.device.publicKeyB64;
      const state = () =>
        Object.fromEntries(choices.rows(p.mesh!, () => false).map((r) => [r.route, r.state]));
      assert.deepEqual(state(), {
        '192.168.7.0/24': 'offered',
        '8.0.0.0/8': 'offered',
        '100.64.0.0/10': 'refused',
      });
      assert.throws(() => choices.accept(p.mesh!, '100.64.0.0/10'), /refused: overlaps the network's own/);
      assert.throws(() => choices.accept(p.mesh!, '10.9.0.0/16'), /no member offers/);
      assert.throws(() => choices.accept(p.mesh!, 'nonsense'), /not a route/);
      assert.deepEqual(choices.accept(p.mesh!, '192.168.7.1/24'), ['192.168.7.0/24']);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(p.mesh!.routedOf(kb), ['192.168.7.0/24']);
      assert.equal(
        choices.accepts('192.168.7.0/24', `${'C'.repeat(43)}=`),
        false,
        'another member: not accepted',
      );
      choices.decline(p.mesh!, '192.168.7.0/24');
      assert.deepEqual(p.mesh!.routedOf(kb), []);
      assert.equal(state()['192.168.7.0/24'], 'declined');
      // Kept: a new RouteChoices (a restart) reads the same choices; --accept-routes takes private
      // offers by itself, but not a declined one, nor a public one.
      const again = new RouteChoices(file, true);
      again.load();
      assert.equal(again.accepts('192.168.7.0/24', kb), false, 'still declined');
      assert.equal(again.accepts('10.1.0.0/16', kb), true, 'private: accepted by --accept-routes');
      assert.equal(again.accepts('8.0.0.0/8', kb), false, 'public: only by name');
      assert.deepEqual(again.accept(p.mesh!, 'all'), ['192.168.7.0/24', '8.0.0.0/8']);
      const reread = new RouteChoices(file, false);
      reread.load();
      assert.equal(reread.accepts('8.0.0.0/8', kb), true);
      assert.equal(reread.accepts('192.168.7.0/24', kb), true);
      writeFileSync(file, '{"accepted":[{"route":"x","key":1},null],"declined":[5,"1.2.3.0/24"]}');
      const damaged = new RouteChoices(file, false);
      damaged.load(); // bad entries skipped, no throw
      assert.equal(damaged.accepts('1.2.3.0/24', kb), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('log lines', () => {
  it('carry no control characters, whatever the message quotes', () => {
    const lines: string[] = [];
    const log = new Logger('info', (l) => lines.push(l));
    log.info('member "evil\x1b[2J\n127.0.0.1 evil\u202e\u2066x\x07\x9b" joined');
    assert.equal(lines.length, 1);
    assert.match(lines[0], / info {2}member "evil\[2J127\.0\.0\.1 evilx" joined\n$/);
    assert.equal(stripControl('a\tb\u0085c\u2069'), 'abc');
  });

  it('name a member by its name once known, else by its key (never an empty "")', () => {
    const lines: string[] = [];
    const events = new NodeEvents({
      log: new Logger('info', (l) => lines.push(l)),
      metrics: { onPath: () => {}, onRtt: () => {} } as never,
      mesh: null,
      selfKey: 'self',
      emit: () => {},
      scheduleSave: () => {},
      addressMoved: () => {},
      secretRotated: () => {},
      devicesChanged: () => {},
    });
    const key = 'NPm9Yk1Zq7BrhO2l3p5xWUJ9cQmY7J3vVbR0cZ1aXk4=';
    events.onMesh({ type: 'path', key, name: '', kind: 'direct', endpoint: '198.18.0.2:51820', via: null });
    events.onMesh({ type: 'path', key, name: 'pi', kind: 'direct', endpoint: '198.18.0.2:51820', via: null });
    assert.match(lines[0], / info {2}path to NPm9Yk1Z… ?: direct at 198\.18\.0\.2:51820\n$/);
    assert.match(lines[1], / info {2}path to "pi" \(NPm9Yk1Z…\): direct at/);
    assert.doesNotMatch(lines.join(''), /""/);
  });
});
