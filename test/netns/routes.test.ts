// Subnet routes with real nodes: B sits on a "home LAN" (198.19.100.0/24, where a printer P lives)
// and offers it (--advertise-route); A, a member on another network, routes nothing until its user
// accepts the offer (`peermesh routes accept`), then reaches the printer through B; declined, the
// route is gone again; the acceptance holds across A's restart.
// B's helper turns forwarding on and masquerades (P has no route back to the overlay); all of it is
// undone when B stops — also when B's helper is killed with SIGKILL — and A drops the route when B
// no longer offers it.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sleep, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('mesh: subnet routes (--advertise-route)', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('routes');
  const nodes: Record<string, RunningNode> = {};
  const ifA = `pm${lab.id}a`;
  const ifB = `pm${lab.id}b`;
  const table = `peermesh_${ifB}`;

  const args = (h: string, extra: string[]) => [...lab.memberArgs(h, 'home', join(dir, 'secret')), ...extra];
  const forwarding = () => lab.exec('b', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim();
  const hasTable = () => lab.tryExec('b', 'nft', ['list', 'table', 'inet', table]).ok;
  const routeOnA = () => lab.exec('a', 'ip', ['-4', 'route', 'show', '198.19.100.0/24']);
  const routesCli = (cmd: string[]) => runCli(['routes', ...cmd, '--state-dir', join(dir, 'a')], lab.ns('a'));
  const stateOnA = (): string | undefined =>
    (JSON.parse(routesCli(['--json']).stdout) as { route: string; state: string }[]).find(
      (r) => r.route === '198.19.100.0/24',
    )?.state;
  const pingPrinter = () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '198.19.100.2']).ok;
  const helperPidOf = (n: RunningNode): number => {
    const kids = readFileSync(`/proc/${n.proc.pid}/task/${n.proc.pid}/children`, 'utf8').trim().split(/\s+/);
    const pid = kids
      .map(Number)
      .find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('peermesh-helper'));
    assert.ok(pid, 'helper process found');
    return pid;
  };

  before(async () => {
    for (const h of ['a', 'b', 'p']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
    ]);
    lab.link('b', '198.19.100.1/24', 'p', '198.19.100.2/24', { aIf: `h${lab.id}b`, bIf: `h${lab.id}p` });
    writeFileSync(join(dir, 'secret'), 'print from the road\n', { mode: 0o600 });
    assert.equal(forwarding(), '0');
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', ['--advertise-route', '198.19.100.0/24']));
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--bootstrap', '198.18.0.2:51820']));
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it("B's offer is not routed on A until A's user accepts it", async () => {
    await waitFor('A sees the offer', () => stateOnA() === 'offered', 15_000);
    await sleep(1500); // the route would have been installed by now (names and routes: 1 s)
    assert.equal(routeOnA(), '', 'no kernel route before accepting');
    assert.equal(pingPrinter(), false);
    const r = routesCli(['accept', '198.19.100.0/24']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /accepted 198\.19\.100\.0\/24/);
    const file = join(dir, 'a', 'routes-home.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /198\.19\.100\.0\/24/);
  });

  it('A reaches the printer behind B; B forwards and masquerades', async () => {
    await waitFor('route on A', () => routeOnA().includes(ifA), 15_000);
    assert.equal(stateOnA(), 'routed');
    await waitFor(
      'A pings the printer',
      () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', '198.19.100.2']).ok,
      15_000,
    );
    assert.equal(forwarding(), '1');
    assert.ok(hasTable(), 'masquerade table on B');
    assert.doesNotMatch(
      lab.exec('b', 'ip', ['route']),
      /pm.*198\.19\.100/,
      'B does not route its own LAN into the tunnel',
    );
  });

  it('declined on A: the route is removed at once; accepted again, it holds across a restart of A', async () => {
    assert.equal(routesCli(['decline', '198.19.100.0/24']).code, 0);
    await waitFor('no stale route after declining', () => routeOnA() === '', 2_000);
    assert.equal(stateOnA(), 'declined');
    assert.equal(pingPrinter(), false);
    assert.equal(routesCli(['accept', 'all']).code, 0);
    await waitFor('route back on A', () => routeOnA().includes(ifA), 5_000);
    await stopNode(nodes.a);
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--bootstrap', '198.18.0.2:51820']));
    await waitFor('route on A after its restart', () => routeOnA().includes(ifA), 15_000);
    await waitFor('A pings the printer again', pingPrinter, 15_000);
  });

  it('B stops: forwarding and NAT are undone on B', async () => {
    await stopNode(nodes.b);
    assert.equal(forwarding(), '0');
    assert.equal(hasTable(), false);
  });

  it('B restarts without offering the route: A removes it', async () => {
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', []));
    await waitFor('route gone on A', () => !routeOnA().includes(ifA), 20_000);
    assert.equal(forwarding(), '0');
    await stopNode(nodes.b);
  });

  it("kill -9 of B's helper: the janitor still removes the NAT table and restores forwarding", async () => {
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', ['--advertise-route', '198.19.100.0/24']));
    assert.equal(forwarding(), '1');
    assert.ok(hasTable());
    process.kill(helperPidOf(nodes.b), 'SIGKILL');
    await waitFor('B exits after its helper died', () => nodes.b.proc.exitCode !== null, 10_000);
    await waitFor('NAT table gone', () => !hasTable(), 5_000);
    assert.equal(forwarding(), '0');
    assert.equal(lab.tryExec('b', 'ip', ['link', 'show', ifB]).ok, false, 'no interface left');
  });
});
