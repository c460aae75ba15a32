// Two members behind the same home router (a laptop and a Pi on one LAN), a public member P on the
// internet side (issue 17): they must find the LAN path, never a relay and never the router's public
// address (the router here does no hairpin NAT, like many home routers), and carry traffic on it.
//
//   a 198.19.50.2 ─┐
//                  ├─ brh [r: 198.19.50.1, cone NAT] ── 198.18.100.1 ── switch ── p 198.18.100.3
//   b 198.19.50.3 ─┘
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsNftSkipReason, sh, waitFor } from '../lib/netns';
import { removeDir, runCli, type StatusMember, startNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsNftSkipReason();

describe('two members behind one NAT (hairpin)', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('hairpin');
  const member = (h: string, name: string) =>
    (
      JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h)], lab.ns(h)).stdout) as {
        network: { members: StatusMember[] };
      }
    ).network.members.find((m) => m.name === name);
  const args = (h: string, extra: string[] = []) => [
    ...lab.memberArgs(h, 'hp', join(dir, 'secret'), h),
    ...extra,
  ];

  before(async () => {
    for (const h of ['r', 'p', 'a', 'b']) lab.addHost(h);
    lab.lan([
      ['r', '198.18.100.1/24'],
      ['p', '198.18.100.3/24'],
    ]);
    // The home LAN: a bridge in the router's namespace, a and b on it.
    lab.exec('r', 'ip', ['link', 'add', 'brh', 'type', 'bridge']);
    lab.exec('r', 'ip', ['addr', 'add', '198.19.50.1/24', 'dev', 'brh']);
    lab.exec('r', 'ip', ['link', 'set', 'brh', 'up']);
    for (const [h, ip] of [
      ['a', '198.19.50.2/24'],
      ['b', '198.19.50.3/24'],
    ]) {
      const inHost = `h${lab.id}${h}`.slice(0, 15);
      const inR = `r${lab.id}${h}`.slice(0, 15);
      sh('ip', [
        'link',
        'add',
        inHost,
        'netns',
        lab.ns(h),
        'type',
        'veth',
        'peer',
        'name',
        inR,
        'netns',
        lab.ns('r'),
      ]);
      lab.exec('r', 'ip', ['link', 'set', inR, 'master', 'brh']);
      lab.exec('r', 'ip', ['link', 'set', inR, 'up']);
      lab.exec(h, 'ip', ['addr', 'add', ip, 'dev', inHost]);
      lab.exec(h, 'ip', ['link', 'set', inHost, 'up']);
      lab.exec(h, 'ip', ['route', 'add', 'default', 'via', '198.19.50.1']);
    }
    lab.natRouter('r', lab.vethName('r'), 'cone', { p: '198.18.100.3' });
    writeFileSync(join(dir, 'secret'), 'one router, two members\n', { mode: 0o600 });
    const boot = ['--bootstrap', '198.18.100.3:51820'];
    await startNode(lab, 'p', join(dir, 'p'), args('p', ['--relay']));
    await startNode(lab, 'a', join(dir, 'a'), args('a', boot));
    await startNode(lab, 'b', join(dir, 'b'), args('b', boot));
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('a and b take the LAN path (direct, LAN endpoints), never the relay, and ping over it', async () => {
    const seen: string[] = [];
    await waitFor(
      'a and b direct on the LAN',
      () => {
        const ab = member('a', 'b');
        const ba = member('b', 'a');
        for (const m of [ab, ba]) if (m && m.path !== 'none') seen.push(`${m.path} ${m.endpoint ?? m.via}`);
        return ab?.path === 'direct' && ba?.path === 'direct';
      },
      20_000,
      200,
    );
    assert.match(member('a', 'b')?.endpoint ?? '', /^198\.19\.50\.3:51820$/);
    assert.match(member('b', 'a')?.endpoint ?? '', /^198\.19\.50\.2:51820$/);
    assert.ok(!seen.some((s) => s.startsWith('relayed') || s.includes('198.18.100.1')), seen.join(', '));
    const bAddr = (
      JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, 'b')], lab.ns('b')).stdout) as {
        addresses: string[];
      }
    ).addresses[0].split('/')[0];
    // Ten 1,200-byte pings: over the LAN they never reach the router's WAN side; relayed through P
    // they would put over 12 kB on it (a→P alone). The members' own keepalives, probes and gossip
    // to P meanwhile are small packets, so count bytes, not packets (a burst of small packets
    // right after the path settles once made a packet count flaky).
    const before = lab.natCounterBoth('r', 'to_p').bytes;
    assert.ok(lab.tryExec('a', 'ping', ['-c', '10', '-i', '0.2', '-s', '1200', '-W', '1', bAddr]).ok);
    const sent = lab.natCounterBoth('r', 'to_p').bytes - before;
    assert.ok(sent < 6_000, `the traffic went out through the router (${sent} bytes to P during the pings)`);
  });
});
