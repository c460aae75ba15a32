// Crashes leave nothing behind (docs/security.md): SIGKILL of the node process at random moments
// (during start-up and while running, with a subnet offered so that there is an interface, a NAT
// table, a route and ip_forward to undo), SIGKILL of the whole app (`peermesh ui`: manager + node in
// its worker), and the next start always works. Key, config and state files are written atomically:
// a writer killed mid-write leaves either the old or the new file, never a torn one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NetnsLab, netnsSkipReason, sleep, waitFor } from '../lib/netns';
import { CLI, REPO, removeDir, startNode, stopNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('crashes leave nothing behind', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('crash');
  const ifB = `pm${lab.id}b`;
  const table = `peermesh_${ifB}`;
  const args = [
    '--interface',
    ifB,
    '--network',
    'crash',
    '--secret-file',
    join(dir, 'secret'),
    '--name',
    'node-b',
    '--advertise-route',
    '198.19.100.0/24',
  ];
  const leftovers = () => {
    const out: string[] = [];
    if (lab.tryExec('b', 'ip', ['link', 'show', ifB]).ok) out.push('interface');
    if (lab.tryExec('b', 'nft', ['list', 'table', 'inet', table]).ok) out.push('nft table');
    if (lab.exec('b', 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim() !== '0') out.push('ip_forward');
    if (/pm/.test(lab.exec('b', 'ip', ['route']))) out.push('route');
    return out;
  };
  const clean = async (what: string) => {
    await waitFor(`nothing left after ${what}`, () => leftovers().length === 0, 5000, 50).catch(() => {
      throw new Error(`left behind after ${what}: ${leftovers().join(', ')}`);
    });
  };

  before(() => {
    lab.addHost('b');
    lab.addHost('p');
    lab.link('b', '198.19.100.1/24', 'p', '198.19.100.2/24');
    writeFileSync(join(dir, 'secret'), 'crash and burn, cleanly\n', { mode: 0o600 });
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('kill -9 of the node at random moments (start-up included): nothing left, next start works', async () => {
    // fixed seed: the moments are "random" but the same every run
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const moments: number[] = [];
    for (let round = 0; round < 6; round++) {
      const delay = Math.floor(rand() * 1500);
      moments.push(delay);
      const proc = lab.spawnIn('b', process.execPath, [CLI, 'up', '--state-dir', join(dir, 'b'), ...args]);
      await sleep(delay);
      proc.kill('SIGKILL');
      await waitFor('the node to die', () => proc.exitCode !== null || proc.signalCode !== null, 5000);
      await clean(`SIGKILL at ${delay} ms`);
    }
    process.stdout.write(`# killed the node at ${moments.join(', ')} ms after spawn\n`);
    const n = await startNode(lab, 'b', join(dir, 'b'), args);
    const running = leftovers();
    for (const x of ['interface', 'ip_forward', 'nft table'])
      assert.ok(running.includes(x), `${x} while running`);
    await stopNode(n);
    await clean('a clean stop');
  });

  // --stay-root: crash cleanup is tested here; `ui` dropping root is privdrop-ui.test.ts's.
  const spawnUi = (profile: string) =>
    lab.spawnIn('b', process.execPath, [CLI, 'ui', '--port', '0', '--profile-dir', profile, '--stay-root']);

  it('kill -9 of the whole app (peermesh ui with the node in its worker): nothing left', async () => {
    // a profile that starts connected, as a desktop user's would
    const profile = join(dir, 'app');
    const first = spawnUi(profile);
    let out = '';
    first.stdout?.on('data', (d) => {
      out += d;
    });
    await waitFor('web UI', () => /web UI: http/.test(out), 10_000);
    first.kill('SIGTERM');
    await waitFor('ui exit', () => first.exitCode !== null, 8000);
    // network + settings written as the app would (create-network is tested in app.test.ts)
    const nets = join(profile, 'networks');
    require('node:fs').mkdirSync(nets, { recursive: true, mode: 0o700 });
    writeFileSync(join(nets, 'crash.secret'), 'crash and burn, cleanly\n', { mode: 0o600 });
    writeFileSync(
      join(nets, 'crash.json'),
      JSON.stringify({ name: 'crash', secretFile: join(nets, 'crash.secret'), bootstrap: [] }),
      { mode: 0o600 },
    );
    writeFileSync(
      join(profile, 'settings.json'),
      JSON.stringify({
        network: 'crash',
        interfaceName: ifB,
        startConnected: true,
        advertiseRoutes: ['198.19.100.0/24'],
      }),
      { mode: 0o600 },
    );
    for (let round = 0; round < 2; round++) {
      const app = spawnUi(profile);
      let log = '';
      app.stderr?.on('data', (d) => {
        log += d;
      });
      await waitFor('the app connected', () => / up: interface /.test(log), 15_000).catch((e) => {
        throw new Error(`${e.message}: ${log}`);
      });
      assert.ok(leftovers().includes('interface'));
      app.kill('SIGKILL');
      await waitFor('the app to die', () => app.signalCode !== null || app.exitCode !== null, 5000);
      await clean(`SIGKILL of the app (round ${round + 1})`);
    }
  });

  it('a writer killed mid-write leaves the old or the new file, never a torn one', async () => {
    const target = join(dir, 'atomic', 'state.json');
    require('node:fs').mkdirSync(join(dir, 'atomic'), { recursive: true });
    const a = `${JSON.stringify({ v: 'a', pad: 'x'.repeat(200_000) })}\n`;
    const b = `${JSON.stringify({ v: 'b', pad: 'y'.repeat(300_000) })}\n`;
    writeFileSync(target, a);
    const files = join(REPO, 'dist', 'main', 'io', 'files.js');
    writeFileSync(join(dir, 'a.txt'), a);
    writeFileSync(join(dir, 'b.txt'), b);
    let kills = 0;
    for (let round = 0; round < 12; round++) {
      const w = spawn(process.execPath, [
        '-e',
        `const { readFileSync } = require('node:fs');
         const { writeFileAtomic } = require(${JSON.stringify(files)});
         const a = readFileSync(${JSON.stringify(join(dir, 'a.txt'))}, 'utf8');
         const b = readFileSync(${JSON.stringify(join(dir, 'b.txt'))}, 'utf8');
         for (let i = 0; ; i++) writeFileAtomic(${JSON.stringify(target)}, i % 2 ? a : b, 0o600);`,
      ]);
      await sleep(100 + round * 37);
      w.kill('SIGKILL');
      await new Promise((r) => w.once('exit', r));
      kills++;
      const text = readFileSync(target, 'utf8');
      assert.ok(text === a || text === b, `torn file after kill ${kills} (${text.length} bytes)`);
    }
    // Temporary files of killed writers may remain beside it (they never replace the real one); the
    // next start sweeps them (sweepStaleTemp, called by the node and the app on start).
    const stray = readdirSync(join(dir, 'atomic')).filter((f) => f !== 'state.json');
    process.stdout.write(
      `# ${kills} writers killed mid-write; ${stray.length} temporary file(s) left beside\n`,
    );
    const { sweepStaleTemp } = require(files) as typeof import('../../main/io/files');
    assert.equal(sweepStaleTemp(join(dir, 'atomic')), stray.length);
    assert.deepEqual(readdirSync(join(dir, 'atomic')), ['state.json']);
    assert.ok(existsSync(target));
  });
});
