// A member gets only what is theirs (docs/security.md "Members"), with real nodes on one LAN:
//   - X (modified code: a real node refuses such a config) offers B's overlay address (/32) and
//     8.0.0.0/8: the /32 is refused at every member, 8.0.0.0/8 routed by none (public address space:
//     even --accept-routes does not take it); A's traffic to B still reaches B.
//   - O and Y offer the same subnet; O joined first, Y's offer arrives last (and again after Y
//     restarts): O's claim holds at every member, A's traffic to the subnet goes to O.
//   - H, a modified member, signs a record whose name carries an escape sequence, a line break with a
//     hosts-file line, and a bidi override: A's log, status, peer list and hosts file show none of it.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sleep, waitFor } from '../lib/netns';
import {
  REPO,
  type RunningNode,
  removeDir,
  runCli,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();

/** The first control character in a text besides its line breaks and tabs (names.ts's set), or null. */
function controlIn(text: string): string | null {
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c === 0x0a || c === 0x09) continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
      return `U+${c.toString(16).padStart(4, '0')}`;
  }
  return null;
}

interface RouteRow {
  route: string;
  key: string;
  name: string;
  state: string;
  reason: string | null;
}

/**
 * A member running modified code (main/core with the name strip removed, no config checks): it signs
 * any name and offers any route it likes. No TUN: it takes part in the mesh only.
 */
const HOSTILE = `'use strict';
const dgram = require('node:dgram');
const path = require('node:path');
const crypto = require('node:crypto');
const o = JSON.parse(process.argv[2]);
const core = (p) => require(path.join(o.dist, 'main', 'core', p));
core('names.js').stripControl = (s) => s;
const { Device } = core('device.js');
const { Mesh, networkKeys } = core('mesh.js');
const sock = dgram.createSocket('udp4');
const now = () => performance.now();
const io = {
  send: (buf, start, len, to) => sock.send(Buffer.from(buf.subarray(start, start + len)), to.port, to.address),
  writeTun() {},
  event() {},
};
const privateKey = crypto.randomBytes(32);
let mesh = null;
const device = new Device(io, {
  privateKey, random: (n) => crypto.randomBytes(n), now: now(), wallNow: Date.now(),
  delegate: {
    meshMessage: (buf, len, from) => { mesh.handleDatagram(buf, len, from); return true; },
    noRoute: () => false, unknownPeer: () => false, handshakeStarting() {},
  },
});
mesh = new Mesh(device, io, {
  network: networkKeys(o.network, Buffer.from(o.secret)), name: o.name, bootstrap: [o.bootstrap], routes: o.routes,
  privateKey, random: (n) => crypto.randomBytes(n), now: now(), wallNow: Date.now(),
  localEndpoints: [{ address: o.address, port: o.port }],
});
sock.on('message', (m, r) => {
  device.setTime(now(), Date.now());
  mesh.setTime(now(), Date.now());
  device.handleDatagram(m, m.length, { address: r.address, port: r.port });
});
sock.bind(o.port, o.address, () => {
  setInterval(() => {
    device.setTime(now(), Date.now());
    mesh.setTime(now(), Date.now());
    device.tick();
    mesh.tick();
  }, 100);
  console.log('KEY ' + device.publicKeyB64);
});
setTimeout(() => process.exit(0), o.seconds * 1000);
`;

describe('routes and names: a member gets only what is theirs', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('routes-trust');
  const nodes: Record<string, RunningNode> = {};
  const hosts = ['a', 'b', 'x', 'o', 'y', 'h'];
  const ip = (h: string) => `198.18.0.${hosts.indexOf(h) + 1}`;
  const secret = 'only what is theirs, please';
  const args = (h: string, extra: string[]) => [
    ...lab.memberArgs(h, 'home', join(dir, 'secret')),
    '--hosts-file',
    join(dir, `hosts-${h}`),
    ...(h === 'a' ? [] : ['--bootstrap', `${ip('a')}:51820`]),
    ...extra,
  ];
  const cli = (h: string, cmd: string[]) => runCli([...cmd, '--state-dir', join(dir, h)], lab.ns(h));
  const routes = (h: string): RouteRow[] => {
    const r = cli(h, ['routes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as RouteRow[];
  };
  const status = (h: string) => JSON.parse(cli(h, ['status', '--json']).stdout);
  const keyOf = (h: string): string => status(h).publicKey;
  const v4Of = (h: string): string => status(h).addresses[0].split('/')[0];
  const kernelRoute = (h: string, cidr: string) => lab.exec(h, 'ip', ['route', 'show', cidr]).trim();
  const ping = (h: string, to: string) => lab.tryExec(h, 'ping', ['-c', '1', '-W', '1', to]).ok;

  /** Start a modified member in `h`'s namespace; resolves with its key. */
  const startHostile = async (h: string, name: string, routes: string[]): Promise<string> => {
    const script = join(dir, 'hostile.js');
    writeFileSync(script, HOSTILE);
    const opts = {
      dist: join(REPO, 'dist'),
      network: 'home',
      secret,
      name,
      routes,
      bootstrap: { address: ip('a'), port: 51820 },
      address: ip(h),
      port: 51820,
      seconds: 90,
    };
    const proc = lab.spawnIn(h, process.execPath, [script, JSON.stringify(opts)]);
    let out = '';
    proc.stdout?.on('data', (d) => {
      out += d;
    });
    proc.stderr?.on('data', (d) => {
      out += d;
    });
    await waitFor(`the modified member on ${h} runs`, () => /KEY (\S+)/.test(out), 10_000);
    return /KEY (\S+)/.exec(out)![1];
  };

  before(async () => {
    for (const h of hosts) lab.addHost(h);
    lab.lan(hosts.map((h) => [h, `${ip(h)}/24`] as [string, string]));
    writeFileSync(join(dir, 'secret'), `${secret}\n`, { mode: 0o600 });
    for (const h of hosts) writeFileSync(join(dir, `hosts-${h}`), '127.0.0.1\tlocalhost\n');
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--accept-routes']));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', []));
  });

  after(async () => {
    for (const n of Object.values(nodes)) await stopNode(n);
    await lab.cleanup();
    removeDir(dir);
  });

  it("a member offering another member's address is refused and 8.0.0.0/8 routed nowhere, at every member", async () => {
    const bV4 = v4Of('b');
    const victim = `${bV4}/32`;
    // (A real node refuses to start with such an offer: X runs modified code.)
    const kx = await startHostile('x', 'node-x', [victim, '8.0.0.0/8']);
    for (const h of ['a', 'b'])
      await waitFor(`${h} sees x's offers`, () => routes(h).filter((r) => r.key === kx).length === 2, 20_000);
    await sleep(1500); // what an offer taken at once would have done by now
    // A's traffic to B's address reaches B (not X), and no member routes 8.0.0.0/8 into the tunnel.
    await waitFor('A pings B', () => ping('a', bV4), 15_000);
    const xStatus = status('a').peers.find((p: { publicKey: string }) => p.publicKey === kx);
    assert.ok(!xStatus?.allowedIps.includes(victim), 'X does not own B/32 at A');
    for (const h of ['a', 'b']) {
      assert.equal(kernelRoute(h, '8.0.0.0/8'), '', `${h}: no route to 8.0.0.0/8`);
      assert.doesNotMatch(lab.tryExec(h, 'ip', ['route', 'get', '8.8.8.8']).out, new RegExp(`pm${lab.id}`));
    }
    for (const h of ['a', 'b']) {
      const rows = routes(h).filter((r) => r.key === kx);
      const v = rows.find((r) => r.route === victim)!;
      assert.equal(v.state, 'refused', `${h}: ${JSON.stringify(v)}`);
      assert.match(v.reason ?? '', /network's own addresses/);
      const pub = rows.find((r) => r.route === '8.0.0.0/8')!;
      assert.equal(pub.state, 'offered', `${h}: ${JSON.stringify(pub)}`);
      assert.match(pub.reason ?? '', h === 'a' ? /public addresses: accept it by name/ : /not accepted/);
    }
  });

  it('two members claiming one subnet: the older claim holds at every member, whatever came last', async () => {
    // Each claimant has an address of the subnet (on its loopback): A's ping shows who gets the traffic.
    lab.exec('o', 'ip', ['addr', 'add', '198.19.50.1/32', 'dev', 'lo']);
    lab.exec('y', 'ip', ['addr', 'add', '198.19.50.2/32', 'dev', 'lo']);
    const offer = ['--advertise-route', '198.19.50.0/24'];
    nodes.o = await startNode(lab, 'o', join(dir, 'o'), args('o', offer));
    const ko = keyOf('o');
    await waitFor('A routes O', () => routes('a').some((r) => r.key === ko && r.state === 'routed'), 20_000);
    await sleep(1100); // join times are in ms: Y joins later
    nodes.y = await startNode(lab, 'y', join(dir, 'y'), args('y', offer));
    const ky = keyOf('y');
    const settled = () =>
      ['a', 'b', 'o', 'y'].every((h) => {
        const rows = routes(h);
        return rows.some((r) => r.key === ky) && rows.some((r) => r.key === ko);
      });
    for (const round of ['Y arrived last', 'Y restarted']) {
      await waitFor(`everyone has both offers (${round})`, settled, 20_000);
      await sleep(1500); // what a last-one-wins rule would have done by now
      assert.match(kernelRoute('a', '198.19.50.0/24'), new RegExp(`pm${lab.id}a`));
      await waitFor(`A reaches O's 198.19.50.1 (${round})`, () => ping('a', '198.19.50.1'), 15_000);
      assert.equal(ping('a', '198.19.50.2'), false, "Y's 198.19.50.2 is not reached");
      for (const h of ['a', 'b', 'o', 'y']) {
        const rows = routes(h);
        const o = rows.find((r) => r.key === ko)!;
        const y = rows.find((r) => r.key === ky)!;
        assert.equal(o.state, h === 'o' ? 'own' : h === 'a' ? 'routed' : 'offered', `${h} (${round}): O`);
        assert.equal(y.state, 'refused', `${h} (${round}): Y ${JSON.stringify(y)}`);
        assert.match(y.reason ?? '', /claimed earlier/);
      }
      if (round === 'Y arrived last') {
        await stopNode(nodes.y);
        nodes.y = await startNode(lab, 'y', join(dir, 'y'), args('y', offer));
      }
    }
  });

  it('a hostile name reaches no log line, status, peer list or hosts file with control characters', async () => {
    const name = 'evil\x1b[2J\n127.0.0.1 evil\u202ezyx\x07\x9b';
    const kh = await startHostile('h', name, []);
    const hostsFile = join(dir, 'hosts-a');
    await waitFor(
      'A lists H',
      () => status('a').network.members.some((m: { publicKey: string }) => m.publicKey === kh),
      20_000,
    );
    await waitFor('H in A hosts file', () => /evil/.test(readFileSync(hostsFile, 'utf8')), 10_000);
    const shown = status('a').network.members.find((m: { publicKey: string }) => m.publicKey === kh);
    assert.equal(shown.name, 'evil[2J127.0.0.1 evilzyx');
    const outputs = {
      'status --json': cli('a', ['status', '--json']).stdout,
      status: cli('a', ['status']).stdout,
      'peers --json': cli('a', ['peers', '--json']).stdout,
      peers: cli('a', ['peers']).stdout,
      log: nodes.a.log(),
    };
    for (const [what, text] of Object.entries(outputs)) {
      assert.equal(controlIn(text), null, `${what}: no control characters`);
      assert.doesNotMatch(text, /\n127\.0\.0\.1 evil/, `${what}: no injected line`);
    }
    assert.match(nodes.a.log(), /evil\[2J127\.0\.0\.1 evilzyx/, 'the log names H (stripped)');
    const hostsText = readFileSync(hostsFile, 'utf8');
    assert.equal(controlIn(hostsText), null);
    assert.doesNotMatch(hostsText, /^127\.0\.0\.1\s+evil/m, 'no injected hosts line');
  });
});
