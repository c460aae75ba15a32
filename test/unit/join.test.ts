// Joining with a code when the inviter is hostile: whoever holds the invitation's key answers the
// join request, and the answer's network name becomes file names in the state directory
// (`<network>.json`, `<network>.secret`). A hostile inviter must not make `peermesh join` (or the
// app's join, through the same askInviter) write outside the state directory or under another
// network's name. Real UDP on loopback, the real CLI as a process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeInviteCode, encodeInviteCode, Invites } from '../../main/core/invites';
import { askInviter } from '../../main/node/join';
import { CLI } from '../lib/peermesh-proc';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const root = mkdtempSync(join(tmpdir(), 'pm-join-'));
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * An inviter on 127.0.0.1 whose invitation is for `codeNetwork` but who answers as `answerNetwork`
 * (same key: it really holds the invitation). Returns the code and a close function.
 */
async function hostileInviter(
  codeNetwork: string,
  answerNetwork: string,
): Promise<{ code: string; close: () => void }> {
  const secret = rand(32);
  const honest = new Invites(codeNetwork, secret, rand);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  const now = Math.floor(Date.now() / 1000);
  const { code } = honest.create(600, now, [{ address: '127.0.0.1', port }]);
  const evil = new Invites(answerNetwork, secret, rand);
  evil.load(honest.stored, now);
  sock.on('message', (m, from) => {
    const a = evil.handle(m, Math.floor(Date.now() / 1000), []);
    if (a) sock.send(a.reply, from.port, from.address);
  });
  return { code, close: () => sock.close() };
}

function runCliAsync(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', (c) => {
      clearTimeout(t);
      resolve({ code: c ?? -1, stderr });
    });
  });
}

describe('join with a hostile inviter', () => {
  it('askInviter refuses an answer for another network than the code names', async () => {
    const h = await hostileInviter('home-net', '../x/evl');
    try {
      await assert.rejects(askInviter(decodeInviteCode(h.code), 'n1', 3000), /another network/);
    } finally {
      h.close();
    }
  });

  it('askInviter refuses a code whose network name is not a safe file name, before sending anything', async () => {
    const code = encodeInviteCode({
      network: '../../etc/pm',
      token: rand(16),
      expires: Math.floor(Date.now() / 1000) + 600,
      endpoints: [{ address: '127.0.0.1', port: 9 }],
    });
    await assert.rejects(askInviter(decodeInviteCode(code), 'n1', 1000), /cannot use/);
  });

  it('peermesh join writes nothing outside its state directory when the answer names "../x/evl"', async () => {
    const base = join(root, 'a');
    const state = join(base, 'state');
    mkdirSync(join(base, 'x'), { recursive: true }); // where "../x/evl.json" would land
    const h = await hostileInviter('home-net', '../x/evl');
    try {
      const r = await runCliAsync(['join', h.code, '--state-dir', state, '--name', 'n1']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /another network/);
    } finally {
      h.close();
    }
    assert.deepEqual(readdirSync(join(base, 'x')), []);
    assert.ok(!existsSync(join(state, 'home-net.json')));
  });
});
