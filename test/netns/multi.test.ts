// Several networks in one process: A runs `peermesh up -c home.json -c work.json` — two interfaces,
// two ports, two identities — and is a member of "home" (with B) and of "work" (with C). B and C
// reach A on their own network only, and `peermesh status` shows both networks of the one process.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('several networks in one process', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('multi');
  const nodes: Record<string, RunningNode> = {};
  const conf = (file: string, o: Record<string, unknown>) => {
    writeFileSync(join(dir, file), JSON.stringify(o), { mode: 0o600 });
    return join(dir, file);
  };
  const status = (h: string, extra: string[] = []) =>
    JSON.parse(runCli(['status', '--json', '--state-dir', join(dir, h), ...extra], lab.ns(h)).stdout);

  before(async () => {
    lab.lanOf(['a', 'b', 'c']);
    writeFileSync(join(dir, 'home.secret'), 'the home network secret\n', { mode: 0o600 });
    writeFileSync(join(dir, 'work.secret'), 'the work network secret\n', { mode: 0o600 });
    const home = conf('home.json', {
      interface: `pm${lab.id}h`,
      listenPort: 51820,
      name: 'a',
      network: { name: 'home', secretFile: join(dir, 'home.secret') },
    });
    const work = conf('work.json', {
      interface: `pm${lab.id}w`,
      listenPort: 51821,
      name: 'a',
      network: { name: 'work', secretFile: join(dir, 'work.secret') },
    });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), ['-c', home, '-c', work]);
    await waitFor(
      'both networks up',
      () => (nodes.a.log().match(/ up: interface /g) ?? []).length === 2,
      10_000,
    );
    const common = (h: string, net: string, port: number) => [
      ...lab.memberArgs(h, net, join(dir, `${net}.secret`), h),
      '--bootstrap',
      `198.18.0.1:${port}`,
    ];
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), common('b', 'home', 51820));
    nodes.c = await startNode(lab, 'c', join(dir, 'c'), common('c', 'work', 51821));
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('one process, two interfaces, two identities', async () => {
    const all = status('a');
    assert.ok(Array.isArray(all) && all.length === 2, 'status lists both networks');
    // biome-ignore lint/suspicious/noExplicitAny: JSON from the CLI
    const byNet = Object.fromEntries(all.map((s: any) => [s.network.name, s]));
    assert.equal(byNet.home.interface, `pm${lab.id}h`);
    assert.equal(byNet.work.interface, `pm${lab.id}w`);
    assert.notEqual(byNet.home.publicKey, byNet.work.publicKey);
    assert.equal(status('a', ['--network', 'work']).network.name, 'work');
    for (const i of ['h', 'w']) lab.exec('a', 'ip', ['link', 'show', `pm${lab.id}${i}`]);
  });

  it('each member reaches A on its own network, and learns nothing of the other', async () => {
    const homeA = status('a', ['--network', 'home']).addresses[0].split('/')[0];
    const workA = status('a', ['--network', 'work']).addresses[0].split('/')[0];
    await waitFor(
      'b pings a (home)',
      () => lab.tryExec('b', 'ping', ['-c', '1', '-W', '1', homeA]).ok,
      15_000,
    );
    await waitFor(
      'c pings a (work)',
      () => lab.tryExec('c', 'ping', ['-c', '1', '-W', '1', workA]).ok,
      15_000,
    ).catch((e) => {
      throw new Error(`${e.message}\nA: ${nodes.a.log()}\nC: ${nodes.c.log()}`);
    });
    assert.deepEqual(
      status('b').network.members.map((m: { name: string }) => m.name),
      ['a'],
    );
    assert.equal(lab.tryExec('b', 'ping', ['-c', '1', '-W', '1', workA]).ok, false, 'b has no way into work');
  });

  it('stopping the process removes both interfaces', async () => {
    await stopNode(nodes.a);
    for (const i of ['h', 'w'])
      assert.equal(lab.tryExec('a', 'ip', ['link', 'show', `pm${lab.id}${i}`]).ok, false);
  });
});
