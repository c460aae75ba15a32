// Members' names over DNS with real nodes (docs/dns.md): A, B and C are members of network "dns";
// A runs without a hosts file, so what it resolves comes from B's responder on B's overlay address
// (through the tunnel): with Node's resolver (c-ares) and with glibc's `getent ahostsv4` (the
// namespace's resolv.conf names B). Malformed queries get no answer and break nothing; a renamed
// member resolves under its new name within seconds; a member B removes stops resolving at once.
//
//   a 198.18.0.1   b 198.18.0.2   c 198.18.0.3
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveAt } from '../lib/dns-query';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import {
  assertDataPath,
  type NodeStatus,
  type RunningNode,
  removeDir,
  runCli,
  startNode,
  stopNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsSkipReason();

/** Send raw bytes (hex) to SERVER:53 and print the answer's length, or "none" after a second. */
const RAW = `const [server, hex] = process.argv.slice(1); const s = require('node:dgram').createSocket('udp4');
s.on('message', (m) => { console.log(m.length); process.exit(0); });
s.send(Buffer.from(hex, 'hex'), 53, server); setTimeout(() => { console.log('none'); process.exit(0); }, 1000);`;

describe('members’ names over DNS', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('dns');
  const nodes: Record<string, RunningNode> = {};
  const addr: Record<string, string> = {};

  const cli = (h: string, ...args: string[]) => {
    const r = runCli([...args, '--state-dir', join(dir, h)], lab.ns(h));
    assert.equal(r.code, 0, `${h} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const resolve = (what: string) => resolveAt(lab, 'a', addr.b, what);
  const raw = (hex: string) => lab.exec('a', process.execPath, ['-e', RAW, addr.b, hex]).trim();
  const args = (h: string, extra: string[] = []) => [
    ...lab.memberArgs(h, 'dns', join(dir, 'secret'), h),
    ...extra,
  ];

  before(async () => {
    lab.lanOf(['a', 'b', 'c']);
    writeFileSync(join(dir, 'secret'), 'names that work everywhere\n', { mode: 0o600 });
    const boot = ['--bootstrap', '198.18.0.2:51820'];
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b'));
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', [...boot, '--hosts-file', 'none']));
    nodes.c = await startNode(lab, 'c', join(dir, 'c'), args('c', boot));
    for (const h of ['a', 'b', 'c']) {
      const s = JSON.parse(cli(h, 'status', '--json')) as NodeStatus;
      assertDataPath(s); // who binds port 53 depends on it (docs/dns.md)
      addr[h] = s.addresses[0].split('/')[0];
    }
    const st = JSON.parse(cli('b', 'status', '--json')) as {
      network: { dns: { domain: string; servedOn: string[] } };
    };
    assert.deepEqual(st.network.dns.servedOn.slice(0, 1), [addr.b]);
    assert.equal(st.network.dns.domain, 'dns');
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('A resolves every member through B’s responder, forward and reverse', async () => {
    await waitFor('c.dns resolves', () => resolve('c.dns') === addr.c, 20_000, 500);
    assert.equal(resolve('A.DNS'), addr.a);
    assert.equal(resolve('b.dns'), addr.b);
    assert.equal(resolve(addr.c), 'c.dns');
    assert.equal(resolve('nobody.dns'), 'ENOTFOUND');
    assert.equal(resolve('example.com'), 'EREFUSED');
  });

  it('glibc resolves a member name from the namespace’s resolv.conf pointing at B', () => {
    mkdirSync(`/etc/netns/${lab.ns('a')}`, { recursive: true });
    writeFileSync(
      `/etc/netns/${lab.ns('a')}/resolv.conf`,
      `nameserver ${addr.b}\noptions timeout:2 attempts:1\n`,
    );
    const out = lab.exec('a', 'getent', ['ahostsv4', 'c.dns']);
    assert.equal(out.split(/\s+/)[0], addr.c);
  });

  it('malformed queries get no answer and break nothing; an unknown name gets no more bytes than it sent', () => {
    assert.equal(raw('00'), 'none');
    assert.equal(raw(`1234810000010000000000000${'0'.repeat(20)}`), 'none'); // a response, not a query
    assert.equal(raw(`12340100000100000000000003${'c0'.repeat(30)}`), 'none'); // compression in the question
    const q = '1234010000010000000000000567686f737403646e730000010001'; // ghost.dns A
    assert.equal(Number(raw(q)), q.length / 2);
    assert.equal(resolve('c.dns'), addr.c, 'the responder still answers');
  });

  it('a member renamed (restarted as "sea") resolves under its new name within seconds', async () => {
    await stopNode(nodes.c);
    nodes.c = await startNode(lab, 'c', join(dir, 'c'), [
      ...lab.memberArgs('c', 'dns', join(dir, 'secret'), 'sea'),
      '--bootstrap',
      '198.18.0.2:51820',
    ]);
    await waitFor('sea.dns resolves', () => resolve('sea.dns') === addr.c, 10_000, 300);
    assert.equal(resolve('c.dns'), 'ENOTFOUND');
  });

  it('a member B removes stops resolving at once', async () => {
    cli('b', 'remove', 'sea');
    await waitFor('sea.dns gone', () => resolve('sea.dns') === 'ENOTFOUND', 5_000, 200);
    assert.equal(resolve('a.dns'), addr.a);
  });
});
