// Invitations with real processes (docs/mesh.md "Invitations"): a member A, and machines joining from
// namespace X with `peermesh join CODE`, each with its own state directory (a new machine each time).
// A code admits one machine unless made with --uses N; a revoked code admits no one; the inviting node
// lists its invitations. The refused joins exit 1 with the inviting node's reason and start nothing.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { joinRefused } from '../lib/join-proc';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('invitations: single use, --uses N, --list, --revoke', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('invite');
  let a: RunningNode;
  let machines = 0;

  const onA = (...args: string[]) => runCli([...args, '--state-dir', join(dir, 'a')], lab.ns('a'));
  const invite = (...extra: string[]) => {
    const r = onA('invite', '--expires', '10m', ...extra);
    assert.equal(r.code, 0, r.stderr);
    return { code: r.stdout.trim(), id: /invitation ([0-9a-f]{8})/.exec(r.stderr)?.[1] ?? '' };
  };
  /** A new machine joins with `code` (a node starts; it is stopped again once up). */
  const joins = async (code: string) => {
    const n = ++machines;
    const node = await startNode(
      lab,
      'x',
      join(dir, `x${n}`),
      ['--interface', `pm${lab.id}x${n}`, '--name', `machine-${n}`],
      ['join', code],
    );
    await stopNode(node);
  };
  /** A new machine tries `code` and is refused: exit 1, the reason, no node. */
  const refused = (code: string, reason: RegExp) => joinRefused(lab, 'x', dir, ++machines, code, reason);
  const list = () => {
    const r = onA('invite', '--list', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { id: string; uses: number; maxUses: number; state: string }[];
  };

  before(async () => {
    for (const h of ['a', 'x']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['x', '198.18.0.9/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'invitation test secret\n', { mode: 0o600 });
    a = await startNode(lab, 'a', join(dir, 'a'), [
      '--interface',
      `pm${lab.id}a`,
      '--network',
      'inv',
      '--secret-file',
      join(dir, 'secret'),
      '--name',
      'node-a',
    ]);
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('a code admits one machine: a second join with it is refused', async () => {
    const one = invite();
    assert.match(one.id, /^[0-9a-f]{8}$/);
    await joins(one.code);
    refused(one.code, /refused: this invitation has been used already/);
    assert.deepEqual(
      list().map((i) => [i.id, i.uses, i.maxUses, i.state]),
      [[one.id, 1, 1, 'used']],
    );
    assert.match(a.log(), /"machine-1" at .* used an invitation/);
    await waitFor("the refusal in A's log", () =>
      /"machine-2" at .* was refused: this invitation has been used already/.test(a.log()),
    );
  });

  it('--uses 2 admits two machines and refuses the third', async () => {
    const two = invite('--uses', '2');
    await joins(two.code);
    await joins(two.code);
    refused(two.code, /used already/);
    const row = list().find((i) => i.id === two.id);
    assert.deepEqual([row?.uses, row?.maxUses, row?.state], [2, 2, 'used']);
  });

  it('a revoked code is refused; revoking an unknown id fails', async () => {
    const three = invite('--uses', '5');
    const r = onA('invite', '--revoke', three.id);
    assert.equal(r.code, 0, r.stderr);
    refused(three.code, /refused: this invitation was revoked/);
    assert.equal(list().find((i) => i.id === three.id)?.state, 'revoked');
    const bad = onA('invite', '--revoke', 'ffffffff');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no invitation ffffffff/);
    assert.equal(onA('invite', '--revoke', 'xyz').code, 2);
    assert.equal(onA('invite', '--uses', '0').code, 2);
  });
});
