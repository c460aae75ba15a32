// The CLI's bundle and its V8 code cache (bin/bundle-cli.mjs at build time, main/cli/launch.ts at
// run time): bin/peermesh runs from them with the cache accepted, does the same as the modules do,
// and still runs when the cache is refused (another Node) or missing.
import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { BUNDLE, CACHE } from '../../main/cli/launch';
import { warmUpStart } from '../../main/cli/warm-up';
import { Logger } from '../../main/node/log';
import { CLI } from '../lib/peermesh-proc';

const LAUNCH = join(__dirname, '..', '..', 'main', 'cli', 'launch.js');

/** How a fresh process loads the CLI (node with default flags, like bin/peermesh). */
function loadedIn(dir: string, env: NodeJS.ProcessEnv = {}): { from: string; cached: boolean } {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const l = require(${JSON.stringify(join(dir, 'launch.js'))}).loadCli(); console.log(JSON.stringify({ from: l.from, cached: l.cached }))`,
    ],
    { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return JSON.parse(out);
}

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('CLI bundle and code cache', () => {
  it('the build made both, readable by anyone and writable by no one else', () => {
    for (const f of [BUNDLE, CACHE]) {
      assert.ok(existsSync(f), `${f} missing (npm run build:ts makes it)`);
      assert.equal(statSync(f).mode & 0o022, 0, `${f} is writable by group or others`);
    }
    assert.ok(statSync(CACHE).size > 100_000, 'the cache holds the compiled modules of `up`');
    // ASCII only (other characters escaped): launch.ts reads it as a one-byte Latin-1 string.
    assert.ok(isAscii(readFileSync(BUNDLE)), 'the bundle is not ASCII');
  });

  it('bin/peermesh runs from the bundle with V8 accepting the cache; PEERMESH_NO_BUNDLE=1 loads the modules', () => {
    const dir = join(__dirname, '..', '..', 'main', 'cli');
    assert.deepEqual(loadedIn(dir), { from: 'bundle', cached: true });
    assert.deepEqual(loadedIn(dir, { PEERMESH_NO_BUNDLE: '1' }), { from: 'modules', cached: false });
    assert.ok(existsSync(LAUNCH));
  });

  it('the bundle does what the modules do: same output and exit codes', () => {
    for (const args of [
      ['version'],
      ['help'],
      ['genpsk-nope'],
      ['up', '--mtu', 'x'],
      ['status', '--state-dir', '/nonexistent-pm'],
    ]) {
      const a = cli(args);
      const b = cli(args, { PEERMESH_NO_BUNDLE: '1' });
      assert.equal(a.code, b.code, `${args.join(' ')}: ${a.err} / ${b.err}`);
      assert.equal(a.out, b.out, args.join(' '));
      assert.equal(a.err, b.err, args.join(' '));
    }
  });

  it('modules newer than the bundle (tsc run without the bundling step): the modules run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-bundle-'));
    copyFileSync(LAUNCH, join(dir, 'launch.js'));
    copyFileSync(BUNDLE, join(dir, 'peermesh.js'));
    copyFileSync(CACHE, join(dir, 'peermesh.js.cache'));
    copyFileSync(join(dirname(LAUNCH), 'main.js'), join(dir, 'main.js'));
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'main.js'), past, past);
    assert.equal(loadedIn(dir).from, 'bundle');
    utimesSync(join(dir, 'peermesh.js'), new Date(past.getTime() - 1000), new Date(past.getTime() - 1000));
    // main.js there requires its siblings, absent from the copy: the failure proves it was chosen.
    assert.throws(() => loadedIn(dir), /Cannot find module/);
  });

  it('libsodium through the bundle: its binary loaded directly, the same keys as through the modules', () => {
    // RFC 7748 section 6.1: Alice's private key and public key.
    const priv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
    const pub = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
    for (const env of [{}, { PEERMESH_NO_BUNDLE: '1' }]) {
      const r = cli(['pubkey', '-'], env, `${priv.toString('base64')}\n`);
      assert.equal(r.code, 0, r.err);
      assert.equal(Buffer.from(r.out.trim(), 'base64').toString('hex'), pub);
    }
    // warmUp loads every module of `up` (the crypto among them) from the bundle.
    const loaded = execFileSync(
      process.execPath,
      [
        '-e',
        `const l = require(${JSON.stringify(LAUNCH)}).loadCli();
         l.cli.warmUp().then(() => console.log(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('node_modules')))));`,
      ],
      { encoding: 'utf8' },
    );
    const files: string[] = JSON.parse(loaded.trim());
    assert.deepEqual(
      files.map((f) => f.replace(/.*node_modules\//, '')),
      [`sodium-native/prebuilds/${process.platform}-${process.arch}/sodium-native.node`],
    );
  });

  it("the cache's warm-up runs a start to its first packet in memory: nodes A and B join through P, B gets A's ping", async () => {
    const lines: string[] = [];
    const rx = await warmUpStart(new Logger('debug', (l) => lines.push(l)));
    assert.equal(rx, 128, 'the 84-byte ping, sealed, reached B');
    const text = lines.join('');
    assert.match(text, /up: handshake as initiator/);
    assert.match(text, /member "p" .* joined the network view/);
    assert.match(text, /down: warm-up done/);
  });

  it('a cache V8 refuses (garbage, or made by another Node) or no cache: the bundle still runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-bundle-'));
    copyFileSync(LAUNCH, join(dir, 'launch.js'));
    copyFileSync(join(dirname(LAUNCH), 'main.js'), join(dir, 'main.js'));
    copyFileSync(BUNDLE, join(dir, 'peermesh.js'));
    assert.deepEqual(loadedIn(dir), { from: 'bundle', cached: false });
    writeFileSync(join(dir, 'peermesh.js.cache'), Buffer.alloc(4096, 7));
    assert.deepEqual(loadedIn(dir), { from: 'bundle', cached: false });
    // The real cache beside a bundle of the same length but other content: not used.
    copyFileSync(CACHE, join(dir, 'peermesh.js.cache'));
    assert.deepEqual(loadedIn(dir), { from: 'bundle', cached: true });
    const original = readFileSync(BUNDLE, 'utf8');
    const changed = original.replace('serverless peer-to-peer', 'SERVERLESS peer-to-peer');
    assert.ok(changed !== original && changed.length === original.length);
    writeFileSync(join(dir, 'peermesh.js'), changed);
    assert.deepEqual(loadedIn(dir), { from: 'bundle', cached: false });
    const r = spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(join(dir, 'launch.js'))}).loadCli().cli.main(['version'])`],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^peermesh \d+\.\d+\.\d+\n$/);
  });
});
