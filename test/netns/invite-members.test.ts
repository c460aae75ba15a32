// Invitations honoured by any online member, not only the inviter (docs/mesh.md "Invitations"), with
// real processes: members A and B; A makes a single-use code and a code it then revokes, and is
// killed. C joins with the first code through B alone and reaches B over the tunnel; a second machine
// with the used code, and one with the revoked code, get B's sealed refusal.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeInviteCode } from '../../main/core/invites';
import { joinRefused } from '../lib/join-proc';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('invitations answered by any member', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('invite-members');
  const nodes: Record<string, RunningNode> = {};
  let machines = 0;

  const cli = (h: string, ...args: string[]) => runCli([...args, '--state-dir', join(dir, h)], lab.ns(h));
  const status = (h: string) => JSON.parse(cli(h, 'status', '--json').stdout);
  const list = (h: string) => {
    const r = cli(h, 'invite', '--list', '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as {
      id: string;
      uses: number;
      maxUses: number;
      state: string;
      by: string;
      byName: string | null;
      mine: boolean;
    }[];
  };
  const inviteOn = (h: string, ...extra: string[]) => {
    const r = cli(h, 'invite', '--expires', '10m', ...extra);
    assert.equal(r.code, 0, r.stderr);
    return { code: r.stdout.trim(), id: /invitation ([0-9a-f]{8})/.exec(r.stderr)?.[1] ?? '' };
  };
  const invite = (...extra: string[]) => inviteOn('a', ...extra);
  /** A new machine on x tries `code` and is refused (exit 1, the reason, no node); its number. */
  const refused = (code: string, reason: RegExp) => {
    joinRefused(lab, 'x', dir, ++machines, code, reason);
    return machines;
  };

  before(async () => {
    for (const h of ['a', 'b', 'c', 'x']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
      ['c', '198.18.0.3/24'],
      ['x', '198.18.0.9/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'shared invitations secret\n', { mode: 0o600 });
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), lab.memberArgs('a', 'share', join(dir, 'secret')));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), [
      ...lab.memberArgs('b', 'share', join(dir, 'secret')),
      '--bootstrap',
      '198.18.0.1:51820',
    ]);
    for (const h of ['a', 'b'])
      await waitFor(
        `${h} to see the other member online`,
        () => status(h).network.members.length === 1,
        15_000,
      );
  });

  after(async () => {
    for (const n of Object.values(nodes)) await stopNode(n);
    await lab.cleanup();
    removeDir(dir);
  });

  it('--list names who made each invitation (the signed fact’s inviter): A’s and B’s, on both members', async () => {
    const fromA = invite();
    const fromB = inviteOn('b');
    const keys = { a: status('a').publicKey as string, b: status('b').publicKey as string };
    const made = { [fromA.id]: 'a', [fromB.id]: 'b' };
    for (const h of ['a', 'b'])
      await waitFor(
        `${h} to hold both invitations`,
        () => list(h).filter((r) => made[r.id]).length === 2,
        10_000,
      );
    for (const h of ['a', 'b'])
      for (const r of list(h).filter((x) => made[x.id]))
        assert.deepEqual(
          [r.by, r.byName, r.mine],
          [keys[made[r.id] as 'a' | 'b'], `node-${made[r.id]}`, made[r.id] === h],
          `${h} lists ${r.id}`,
        );
    const text = cli('b', 'invite', '--list');
    assert.equal(text.code, 0, text.stderr);
    const line = (id: string) => text.stdout.split('\n').find((l) => l.startsWith(id)) ?? '';
    assert.match(
      line(fromA.id),
      new RegExp(`by node-a \\(${keys.a.slice(0, 8).replace(/[+/]/g, '\\$&')}…\\)$`),
    );
    assert.match(line(fromB.id), /by node-b \(.{8}…\), this node$/);
  });

  it('A invites and is killed; C joins through B alone; the used and the revoked code are refused by B', async () => {
    const once = invite();
    const revoked = invite('--uses', '5');
    // The code carries B's endpoint too (B is online at A), so a joiner can reach B without A.
    const eps = decodeInviteCode(once.code).endpoints.map((e) => `${e.address}:${e.port}`);
    assert.ok(eps.includes('198.18.0.1:51820') && eps.includes('198.18.0.2:51820'), eps.join(' '));
    assert.equal(cli('a', 'invite', '--revoke', revoked.id).code, 0);
    // B holds both invitations (the derived keys, signed by A) and A's revocation.
    await waitFor(
      'B to hold both invitations, one revoked',
      () => {
        const rows = list('b');
        return (
          rows.find((r) => r.id === once.id)?.state === 'open' &&
          rows.find((r) => r.id === revoked.id)?.state === 'revoked'
        );
      },
      10_000,
    );

    await stopNode(nodes.a, 'SIGKILL');
    nodes.c = await startNode(
      lab,
      'c',
      join(dir, 'c'),
      ['--interface', `pm${lab.id}c`, '--name', 'node-c'],
      ['join', once.code],
    );
    assert.match(nodes.b.log(), /"node-c" at .* used an invitation/);
    const bOverlay = status('b').addresses[0].split('/')[0];
    await waitFor(
      'C to ping B over the tunnel',
      () => lab.tryExec('c', 'ping', ['-c', '1', '-W', '1', bOverlay]).ok,
      15_000,
    );

    const second = refused(once.code, /refused: this invitation has been used already/);
    await waitFor("the refusal in B's log", () =>
      new RegExp(`"machine-${second}" at .* was refused: this invitation has been used already`).test(
        nodes.b.log(),
      ),
    );
    const third = refused(revoked.code, /refused: this invitation was revoked/);
    await waitFor("the refusal in B's log", () =>
      new RegExp(`"machine-${third}" at .* was refused: this invitation was revoked`).test(nodes.b.log()),
    );
    assert.deepEqual(
      list('b')
        .filter((r) => r.id === once.id)
        .map((r) => [r.uses, r.maxUses, r.state]),
      [[1, 1, 'used']],
    );
  });
});
