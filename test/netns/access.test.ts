// Access rules with real nodes (docs/access.md): the Pi (B) offers a TCP service on port 2222 to the
// laptop (A) only. Before any rule both A and C reach it; after `access default deny` and `allow
// laptop tcp/2222` A still connects, C's connections and pings go nowhere and are counted (the
// node's count equals nftables' own counter), B's own connections out to C still get their replies,
// and C still resolves names at B's DNS responder. A member-specific deny beats a rule for all; the
// rules hold across a restart of B, and the table goes with the node.
//
//   a 198.18.0.1 (laptop)   b 198.18.0.2 (pi)   c 198.18.0.3 (desktop)
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AccessStatus, PeerRow } from '../../main/control/api';
import { NetnsLab, netnsNftSkipReason, sleep, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsNftSkipReason();

/** Connect to HOST:PORT over TCP, say "ok" or the error code (a silent drop: "timeout" after 1.5 s). */
const CONNECT = `const [host, port] = process.argv.slice(1); const s = require('node:net').connect(Number(port), host);
const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);
s.on('connect', () => { s.end(); clearTimeout(t); console.log('ok'); });
s.on('error', (e) => { clearTimeout(t); console.log(e.code); });`;
/** A TCP server on PORT (every address) that closes each connection at once. */
const SERVE = `require('node:net').createServer((c) => c.end()).listen(Number(process.argv[1]), () => console.log('listening'));`;
/** Resolve NAME at SERVER (A record) with Node's resolver. */
const RESOLVE = `const [server, what] = process.argv.slice(1); const r = new (require('node:dns').promises.Resolver)({ timeout: 1500, tries: 1 });
r.setServers([server]); r.resolve4(what).then((a) => console.log(a.join(',')), (e) => console.log(e.code));`;

describe('access rules: who may reach this machine', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('access');
  const nodes: Record<string, RunningNode> = {};
  const addr: Record<string, string> = {};
  const names: Record<string, string> = { a: 'laptop', b: 'pi', c: 'desktop' };

  const cli = (h: string, ...args: string[]) => {
    const r = runCli([...args, '--state-dir', join(dir, h)], lab.ns(h));
    assert.equal(r.code, 0, `${h} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const access = (): AccessStatus => JSON.parse(cli('b', 'access', '--json')) as AccessStatus;
  const connect = (from: string) => lab.exec(from, process.execPath, ['-e', CONNECT, addr.b, '2222']).trim();
  const ping = (from: string, to: string) => lab.tryExec(from, 'ping', ['-c', '1', '-W', '1', addr[to]]).ok;
  const table = () => `peermesh_pm${lab.id}b_access`;
  const nftDropped = () => {
    const out = lab.tryExec('b', 'nft', ['list', 'counter', 'inet', table(), 'dropped']);
    const m = /packets (\d+)/.exec(out.out);
    return out.ok && m ? Number(m[1]) : null;
  };
  const startB = async () => {
    nodes.b = await startNode(
      lab,
      'b',
      join(dir, 'b'),
      lab.memberArgs('b', 'acc', join(dir, 'secret'), 'pi'),
    );
  };

  before(async () => {
    lab.lanOf(['a', 'b', 'c']);
    writeFileSync(join(dir, 'secret'), 'who may reach the pi\n', { mode: 0o600 });
    await startB();
    for (const h of ['a', 'c'])
      nodes[h] = await startNode(lab, h, join(dir, h), [
        ...lab.memberArgs(h, 'acc', join(dir, 'secret'), names[h]),
        '--bootstrap',
        '198.18.0.2:51820',
        '--hosts-file',
        'none',
      ]);
    for (const h of ['a', 'b', 'c'])
      addr[h] = (JSON.parse(cli(h, 'status', '--json')) as { addresses: string[] }).addresses[0].split(
        '/',
      )[0];
    const server = lab.spawnIn('b', process.execPath, ['-e', SERVE, '2222']);
    await new Promise<void>((r) => server.stdout?.once('data', () => r()));
    await waitFor('a and c reach b', () => ping('a', 'b') && ping('c', 'b'), 20_000, 300);
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('without rules every member reaches the service', () => {
    assert.equal(connect('a'), 'ok');
    assert.equal(connect('c'), 'ok');
    const s = access();
    assert.equal(s.default, 'allow');
    assert.equal(s.rules.length, 0);
    assert.equal(nftDropped(), null, 'no table while nothing can be dropped');
  });

  it('default deny + allow laptop tcp/2222: the laptop connects, the desktop is dropped and counted', async () => {
    cli('b', 'access', 'default', 'deny');
    const out = cli('b', 'allow', 'laptop', 'tcp/2222');
    assert.match(out, /allow\s+laptop \([^)]+\)\s+tcp\/2222/);
    await waitFor('rules applied', () => access().applied, 5_000, 100);
    assert.equal(connect('a'), 'ok');
    assert.equal(connect('c'), 'timeout');
    assert.equal(ping('c', 'b'), false, 'the desktop may not even ping');
    assert.equal(ping('a', 'b'), false, 'the laptop may reach tcp/2222 only');
    // The replies to B's own connections pass: B pings C and A.
    assert.equal(ping('b', 'c'), true);
    // The network's names keep working for C (B's DNS responder is exempt).
    const resolved = lab.exec('c', process.execPath, ['-e', RESOLVE, addr.b, 'laptop.acc']).trim();
    assert.equal(resolved, addr.a);
    // Counters: the node's figure is nftables' own (read back every 2 s), and at least the SYNs and pings.
    await sleep(2_500);
    const s = access();
    const kernel = nftDropped();
    assert.ok(kernel !== null && kernel >= 3, `nft counter ${kernel}`);
    assert.equal(s.dropped, kernel);
    // The peer list says what each member may reach here.
    const peers = JSON.parse(cli('b', 'peers', '--json')) as PeerRow[];
    const of = (n: string) => peers.find((p) => p.name === n)?.access;
    assert.equal(of('laptop'), 'tcp/2222 only');
    assert.equal(of('desktop'), 'nothing');
  });

  it('a member’s own rules beat a rule for all, in the order given; rule numbers remove rules', async () => {
    cli('b', 'allow', 'all', 'tcp/2222');
    cli('b', 'deny', 'desktop');
    await waitFor('rules applied', () => access().applied && access().rules.length === 3, 5_000, 100);
    assert.deepEqual(
      access().rules.map((r) => `${r.action} ${r.name} ${r.what}`),
      ['allow laptop tcp/2222', 'deny desktop any', 'allow all tcp/2222'],
    );
    assert.equal(connect('a'), 'ok');
    assert.equal(connect('c'), 'timeout', 'the desktop’s own deny beats the rule for all');
    // Remove "deny desktop any" (rule 2): the rule for all lets it in.
    cli('b', 'access', 'remove', '2');
    await waitFor('rules applied', () => access().applied && access().rules.length === 2, 5_000, 100);
    assert.equal(connect('c'), 'ok');
    // The laptop's own deny, given after its allow, comes after it: tcp/2222 still passes, ping not.
    cli('b', 'deny', 'laptop');
    await waitFor('rules applied', () => access().applied && access().rules.length === 3, 5_000, 100);
    assert.equal(connect('a'), 'ok');
    assert.equal(ping('a', 'b'), false);
    cli('b', 'access', 'remove', '1'); // allow laptop tcp/2222: now its deny decides
    await waitFor('rules applied', () => access().applied && access().rules.length === 2, 5_000, 100);
    assert.equal(connect('a'), 'timeout');
    cli('b', 'access', 'remove', '1'); // deny laptop any: the rule for all again
    await waitFor('rules applied', () => access().applied && access().rules.length === 1, 5_000, 100);
    assert.equal(connect('a'), 'ok');
  });

  it('bad input is refused with a clear error and changes nothing', () => {
    for (const args of [
      ['allow', 'nobody', 'tcp/22'],
      ['allow', 'laptop', 'tcp/0'],
      ['allow', 'laptop', 'tcp/90-80'],
      ['allow', 'laptop', 'sctp/5'],
      ['access', 'remove', '9'],
    ]) {
      const r = runCli([...args, '--state-dir', join(dir, 'b')], lab.ns('b'));
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /no member|ports must|not a protocol|no rule/, r.stderr);
    }
    assert.equal(access().rules.length, 1);
  });

  it('the rules hold across a restart of B; the table goes with the node', async () => {
    await stopNode(nodes.b);
    assert.equal(nftDropped(), null, 'table deleted at stop');
    await startB();
    await waitFor(
      'rules applied after the restart',
      () => access().applied && nftDropped() !== null,
      10_000,
      200,
    );
    assert.equal(access().default, 'deny');
    await waitFor('a and c reach b again', () => connect('a') === 'ok' && connect('c') === 'ok', 20_000, 300);
    assert.equal(ping('c', 'b'), false);
  });
});
