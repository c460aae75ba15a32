// The Control API on a real two-node mesh: metrics move when traffic flows, `peermesh ping` shows
// live RTTs and the path, and the web UI server (`up --ui`) serves /metrics (Prometheus text) and the
// API over WebSocket only with its token.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlRequest } from '../../main/control/socket';
import { NetnsLab, netnsSkipReason, waitFor } from '../lib/netns';
import { type RunningNode, removeDir, runCli, startNode, tempDir } from '../lib/peermesh-proc';

const skip = netnsSkipReason();

describe('control API, metrics and web UI on real nodes', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  const dir = tempDir('control');
  const nodes: Record<string, RunningNode> = {};
  let url = '';
  const args = (h: string, extra: string[]) => [...lab.memberArgs(h, 'ctl', join(dir, 'secret')), ...extra];
  /** An HTTP GET from inside a's namespace (where the UI listens on loopback): "status body". */
  const get = (path: string, headers: Record<string, string>) =>
    lab.exec('a', process.execPath, [
      '-e',
      `const u = new URL(${JSON.stringify(url)});
       require('node:http').get({ host: '127.0.0.1', port: u.port, path: ${JSON.stringify(path)}, headers: ${JSON.stringify(headers)} }, (r) => {
         let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(r.statusCode + ' ' + b));
       });`,
    ]);

  before(async () => {
    for (const h of ['a', 'b']) lab.addHost(h);
    lab.lan([
      ['a', '198.18.0.1/24'],
      ['b', '198.18.0.2/24'],
    ]);
    writeFileSync(join(dir, 'secret'), 'metrics and more metrics\n', { mode: 0o600 });
    // --stay-root: the control API is what is tested here; `up --ui` dropping root (which needs a
    // /dev/net/tun its user may open, 0600 on this machine) is privdrop-ui.test.ts's.
    nodes.a = await startNode(lab, 'a', join(dir, 'a'), args('a', ['--ui', '0', '--stay-root']));
    nodes.b = await startNode(lab, 'b', join(dir, 'b'), args('b', ['--bootstrap', '198.18.0.1:51820']));
    await waitFor('the UI URL', () => /web UI: (http:\S+)/.test(nodes.a.log()), 5000);
    url = /web UI: (http:\S+)/.exec(nodes.a.log())![1];
    assert.doesNotMatch(nodes.a.log(), /info .*token=/, 'the token is not in a log line');
    assert.match(url, /\/#token=[A-Za-z0-9_-]{43}$/, 'the printed link carries the token in its fragment');
  });

  after(async () => {
    await lab.cleanup();
    removeDir(dir);
  });

  it('metrics of a member move when traffic flows', async () => {
    const bAddr = JSON.parse(
      runCli(['status', '--json', '--state-dir', join(dir, 'b')], lab.ns('b')).stdout,
    ).addresses[0].split('/')[0];
    await waitFor('a pings b', () => lab.tryExec('a', 'ping', ['-c', '1', '-W', '1', bAddr]).ok, 15_000);
    const sock = join(dir, 'a', 'peermesh.sock');
    type M = { summary: { rxBytes: number; samples: number } | null };
    // the node samples once a second: wait until it tracks b, so the burst below is all counted
    await waitFor(
      'b tracked',
      async () => ((await controlRequest(sock, 'metrics', { peer: 'node-b' })) as M).summary !== null,
      5000,
    );
    await new Promise((r) => setTimeout(r, 1100));
    const before = (await controlRequest(sock, 'metrics', { peer: 'node-b' })) as M;
    lab.exec('a', 'ping', ['-c', '20', '-i', '0.05', '-s', '1000', bAddr]);
    await waitFor(
      'metrics to move',
      async () => {
        const m = (await controlRequest(sock, 'metrics', { peer: 'node-b' })) as {
          summary: { rxBytes: number; txBytes: number; samples: number; rtt: { p50: number } | null } | null;
          series: { t: number[] } | null;
        };
        return (
          m.summary !== null &&
          m.summary.rxBytes > (before.summary?.rxBytes ?? 0) + 20_000 &&
          m.summary.txBytes > 20_000 &&
          m.summary.samples > 0 &&
          m.summary.rtt !== null &&
          m.summary.rtt.p50 > 0 &&
          (m.series?.t.length ?? 0) === 60
        );
      },
      10_000,
      250,
    ).catch(async (e) => {
      const st = (await controlRequest(sock, 'status')) as { peers: unknown[] };
      const m = (await controlRequest(sock, 'metrics', { peer: 'node-b' })) as { summary: unknown };
      throw new Error(`${e.message}: ${JSON.stringify(m.summary)} ${JSON.stringify(st.peers)}`);
    });
    await assert.rejects(
      controlRequest(sock, 'metrics', { peer: 'node-b', window: 5 }),
      /params.window: expected one of 60, 900, 3600/,
    );
    await assert.rejects(controlRequest(sock, 'metrics', { peer: 'nobody' }), /no member "nobody"/);
  });

  it('peermesh ping shows live RTTs and the path', () => {
    const r = runCli(['ping', 'node-b', '-c', '3', '--state-dir', join(dir, 'a')], lab.ns('a'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /node-b: rtt \d+\.\d+ ms \(direct\)/);
    assert.match(r.stdout, /3 probes, 3 answered, 0 % loss, rtt min\/median\/max/);
    assert.equal(runCli(['ping', 'nobody', '-c', '1', '--state-dir', join(dir, 'a')], lab.ns('a')).code, 1);
  });

  it('peermesh peers lists members with their state and path (table and --json)', () => {
    const j = runCli(['peers', '--json', '--state-dir', join(dir, 'a')], lab.ns('a'));
    assert.equal(j.code, 0, j.stderr);
    const rows = JSON.parse(j.stdout) as { name: string; online: boolean; path: string; ipv4: string }[];
    const b = rows.find((r) => r.name === 'node-b');
    assert.ok(b?.online, j.stdout);
    assert.equal(b.path, 'direct');
    const t = runCli(['peers', '--state-dir', join(dir, 'a')], lab.ns('a'));
    assert.match(t.stdout, /^NAME\s+IPV4\s+STATE/);
    assert.match(t.stdout, new RegExp(`node-b\\s+${b.ipv4.replace(/\./g, '\\.')}\\s+online\\s+direct`));
  });

  it('another local user cannot use the control socket; secrets are in no output', () => {
    // uid/gid 65534 (nobody): the state directory is 0700 and the socket 0600
    const sock = join(dir, 'a', 'peermesh.sock');
    const r = lab.tryExec('a', 'setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '-e',
      `require('node:net').connect(${JSON.stringify(sock)}).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`,
    ]);
    assert.ok(r.ok, r.out);
    assert.match(r.out, /EACCES/);
    assert.doesNotMatch(r.out, /CONNECTED/);
    // the network secret and the private key appear in no status output and no log line
    const secret = 'metrics and more metrics';
    const key = readFileSync(join(dir, 'a', 'private.key'), 'utf8').trim();
    const status = runCli(['status', '--json', '--state-dir', join(dir, 'a')], lab.ns('a')).stdout;
    const peers = runCli(['peers', '--json', '--state-dir', join(dir, 'a')], lab.ns('a')).stdout;
    // (each text really holds what it should, or "not in it" would hold for an empty one)
    assert.match(JSON.parse(status).publicKey, /^[A-Za-z0-9+/]{43}=$/);
    assert.ok(JSON.parse(peers).length > 0, peers);
    for (const text of [status, peers, nodes.a.log(), nodes.b.log()]) {
      assert.match(text, /\S/);
      assert.ok(!text.includes(secret), 'secret in output');
      assert.ok(!text.includes(key), 'private key in output');
    }
  });

  it('/metrics serves Prometheus text with the token only', () => {
    const token = new URLSearchParams(new URL(url).hash.slice(1)).get('token')!;
    const ok = get('/metrics', { Authorization: `Bearer ${token}` });
    assert.match(ok, /^200 /);
    assert.match(ok, /peermesh_peer_rx_bytes_total\{peer="[^"]+",name="node-b"\} [1-9]\d*/);
    assert.match(ok, /# TYPE peermesh_peer_rtt_seconds gauge\npeermesh_peer_rtt_seconds\{/);
    assert.match(get('/metrics', {}), /^401 /);
    assert.match(get('/metrics', { Authorization: 'Bearer wrong' }), /^401 /);
  });

  it('the Control API answers over the WebSocket with the token, and refuses a foreign Origin', () => {
    const u = new URL(url);
    const token = new URLSearchParams(u.hash.slice(1)).get('token')!;
    const ws = (origin: string) =>
      lab.exec('a', process.execPath, [
        '-e',
        `const WebSocket = require(${JSON.stringify(require.resolve('ws'))});
         const s = new WebSocket('ws://127.0.0.1:${u.port}/api', ['peermesh.v1', 'peermesh.auth.${token}'], { origin: ${JSON.stringify(origin)} });
         s.on('open', () => s.send(JSON.stringify({ id: 1, method: 'status' })));
         s.on('message', (m) => { const r = JSON.parse(m); if (r.id === 1) { console.log('ok ' + r.result.network.name); s.close(); } });
         s.on('error', (e) => console.log('refused ' + e.message));
         setTimeout(() => process.exit(0), 3000);`,
      ]);
    assert.match(ws(`http://127.0.0.1:${u.port}`), /^ok ctl/);
    assert.match(ws('http://evil.example'), /^refused/);
  });
});
