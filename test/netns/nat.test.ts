// NAT traversal with real nodes and real NATs (nftables masquerade in router namespaces; the
// topology is test/lib/nat-lab.ts: a and b each behind its own router, p public).
//
// P is public and relays. With cone NATs A and B must end up talking directly (counted on the NAT
// routers: packets from ra to rb's public address); with symmetric NATs they talk relayed through P.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildNatLab, NAT_P_ENDPOINT } from '../lib/nat-lab';
import { NetnsLab, netnsNftSkipReason, waitFor } from '../lib/netns';
import {
  assertDataPath,
  DATA_PATH,
  type NodeStatus,
  nodeStatus,
  type RunningNode,
  removeDir,
  type StatusMember,
  startNode,
  tempDir,
} from '../lib/peermesh-proc';

const skip = netnsNftSkipReason();

for (const type of ['cone', 'symmetric'] as const) {
  describe(`mesh across two ${type} NATs`, { skip: skip ?? false }, () => {
    const lab = new NetnsLab();
    const dir = tempDir(`nat-${type}`);
    const nodes: Record<string, RunningNode> = {};
    let bStarted = 0;

    const status = (h: string) =>
      nodeStatus(lab, h, join(dir, h)) as NodeStatus & {
        network: { members: StatusMember[]; publicEndpoint: string | null };
      };
    const memberNamed = (h: string, name: string) => status(h).network.members.find((m) => m.name === name);

    const args = (h: string, extra: string[]) => [
      ...lab.memberArgs(h, 'roam', join(dir, 'secret'), h),
      ...extra,
    ];

    before(async () => {
      buildNatLab(lab, type);
      writeFileSync(join(dir, 'secret'), 'behind two routers\n', { mode: 0o600 });
      nodes.p = await startNode(lab, 'p', join(dir, 'p'), args('p', ['--relay']));
      nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--bootstrap', NAT_P_ENDPOINT]));
      bStarted = Date.now();
      nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', ['--bootstrap', NAT_P_ENDPOINT]));
    });

    after(async () => {
      await lab.cleanup();
      removeDir(dir);
    });

    it('A and B learn each other through P and ping over the overlay', async () => {
      const bAddr = await waitFor('a to learn b', () => memberNamed('a', 'b')?.address, 10_000);
      await waitFor(
        'a -> b ping',
        () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr as string]).ok,
        15_000,
        10,
      );
      const firstPing = Date.now() - bStarted;
      const aAddr = memberNamed('b', 'a')!.address;
      assert.ok(lab.tryExec('b', 'ping', ['-c', '3', '-i', '0.2', '-W', '1', aAddr]).ok);
      console.log(`# ${type}: first overlay ping a -> b ${firstPing} ms after b started`);
    });

    if (type === 'cone') {
      it('the path becomes direct: counted on the NAT routers, not only reported', async () => {
        await waitFor('a reports b direct', () => memberNamed('a', 'b')?.path === 'direct', 10_000);
        await waitFor('b reports a direct', () => memberNamed('b', 'a')?.path === 'direct', 10_000);
        const bAddr = memberNamed('a', 'b')!.address;
        const before = {
          ab: lab.natCounter('ra', 'to_peer'),
          ap: lab.natCounter('ra', 'to_p'),
          ba: lab.natCounter('rb', 'from_peer'),
        };
        assert.ok(lab.tryExec('a', 'ping', ['-c', '20', '-i', '0.05', '-W', '1', bAddr]).ok);
        const ab = lab.natCounter('ra', 'to_peer') - before.ab;
        const ap = lab.natCounter('ra', 'to_p') - before.ap;
        const ba = lab.natCounter('rb', 'from_peer') - before.ba;
        assert.ok(ab >= 20, `only ${ab} packets went from ra to rb`);
        assert.ok(ba >= 20, `only ${ba} packets arrived at rb from ra`);
        assert.ok(ap < 5, `${ap} packets went to p during the pings`);
      });
    } else {
      it('the path is reported as relayed via P, and the traffic really crosses P', async () => {
        await waitFor('a reports b relayed', () => memberNamed('a', 'b')?.path === 'relayed', 10_000);
        const m = memberNamed('a', 'b')!;
        assert.equal(m.via, 'p');
        const before = { ab: lab.natCounter('ra', 'to_peer'), ap: lab.natCounter('ra', 'to_p') };
        const injected = () => status('a').dataPlane?.rxInjected ?? 0;
        const injectedBefore = injected();
        assert.ok(lab.tryExec('a', 'ping', ['-c', '20', '-i', '0.05', '-W', '1', m.address]).ok);
        const ap = lab.natCounter('ra', 'to_p') - before.ap;
        assert.ok(ap >= 20, `only ${ap} packets went to p`);
        assertDataPath(status('a'));
        if (DATA_PATH === 'native') {
          // The native path: the relayed replies were opened by the data plane (inject), not by JS.
          assert.ok(
            injected() - injectedBefore >= 20,
            `${injected() - injectedBefore} relayed messages injected`,
          );
        }
        assert.equal(memberNamed('a', 'b')!.path, 'relayed');
      });

      it('an idle relayed member stays online at both ends (45 s without traffic between them)', async () => {
        // No pings cross a relay: a handshake through it every 20 s of silence keeps them online.
        const until = Date.now() + 45_000;
        while (Date.now() < until) {
          await new Promise((r) => setTimeout(r, 5000));
          const ab = memberNamed('a', 'b');
          const ba = memberNamed('b', 'a');
          assert.ok(ab?.online && ab.path === 'relayed', `a sees b ${JSON.stringify(ab)}`);
          assert.ok(ba?.online, `b sees a ${JSON.stringify(ba)}`);
        }
      });
    }
  });
}
