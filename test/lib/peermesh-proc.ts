// Start real `peermesh` processes (the CLI as a user runs it) inside test namespaces.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataplanePath } from '../../main/io/dataplane';
import { NATIVE_BY_DEFAULT } from '../../main/node/native-path';
import { type NetnsLab, sh, waitFor } from './netns';

export const REPO = join(__dirname, '..', '..', '..');
export const CLI = join(REPO, 'bin', 'peermesh');

/**
 * A new directory for a test's state directories and files. Mode 0711: a node started as root drops
 * to an unprivileged user, which must still reach its state directory inside (not list this one).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pm-${prefix}-`));
  chmodSync(dir, 0o711);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** `peermesh keygen --out FILE`; returns the public key. */
export function keygen(file: string): string {
  return sh(process.execPath, [CLI, 'keygen', '--out', file]).trim();
}

/** A member as `peermesh status --json` shows it (network.members[]): the fields tests read. */
export interface StatusMember {
  name: string;
  address: string;
  path: string;
  via: string | null;
  endpoint: string | null;
  online: boolean;
  lastSeen: number | null;
  rttMs: number | null;
  rttAgeMs: number | null;
}

export interface RunningNode {
  proc: ChildProcess;
  log: () => string;
  stateDir: string;
}

/**
 * Run `peermesh up ARGS` (or another command that runs a node) in `host`'s namespace; wait for "up:".
 * `stateDir` '' passes no --state-dir (the config or the default decides); `cwd` runs it elsewhere.
 */
export async function startNode(
  lab: NetnsLab,
  host: string,
  stateDir: string,
  args: string[],
  command: string[] = ['up'],
  cwd?: string,
  env?: NodeJS.ProcessEnv,
): Promise<RunningNode> {
  const dirFlag = stateDir ? ['--state-dir', stateDir] : [];
  const proc = lab.spawnIn(host, process.execPath, [CLI, ...command, ...dirFlag, ...args], {
    ...(cwd ? { cwd } : {}),
    ...(env ? { env } : {}),
  });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  await waitFor(
    `node on ${host} to come up`,
    () => {
      if (proc.exitCode !== null) throw new Error(`node on ${host} exited ${proc.exitCode}: ${out}`);
      return / up: interface /.test(out);
    },
    15_000,
  );
  return { proc, log: () => out, stateDir };
}

/** Stop a node with SIGTERM (or another signal) and wait for its exit; returns the exit code. */
export async function stopNode(n: RunningNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return n.proc.exitCode;
  const done = new Promise<number | null>((r) => n.proc.once('exit', (code) => r(code)));
  n.proc.kill(signal);
  const t = setTimeout(() => n.proc.kill('SIGKILL'), 5000);
  const code = await done;
  clearTimeout(t);
  return code;
}

/** Run the CLI once (outside any namespace unless `ns` is given); returns exit code and output. */
export function runCli(args: string[], ns?: string): { code: number; stdout: string; stderr: string } {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const cmd = ns ? 'ip' : process.execPath;
  const full = ns ? ['netns', 'exec', ns, process.execPath, CLI, ...args] : [CLI, ...args];
  const r = spawnSync(cmd, full, { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const DATAPLANE_ENV = process.env.PEERMESH_DATAPLANE;

/**
 * The data path the nodes of this run use (they inherit its environment): TypeScript with
 * PEERMESH_DATAPLANE=off or where the addon is not built, native otherwise (as chooseDataPath picks).
 * test/run.js runs the namespace suites once per path (PEERMESH_TEST_PATHS); assertDataPath checks
 * that a run is what it says. The addon built but failing to load is a failure, not the fallback.
 */
export const DATA_PATH: 'native' | 'typescript' =
  DATAPLANE_ENV !== 'off' && (DATAPLANE_ENV === 'on' || NATIVE_BY_DEFAULT) && existsSync(dataplanePath())
    ? 'native'
    : 'typescript';

/** The `skip` of a suite about the native addon itself: it cannot apply to the forced fallback. */
export const NATIVE_ONLY_SKIP: string | false =
  DATAPLANE_ENV === 'off' ? 'native data path only; PEERMESH_DATAPLANE=off' : false;

/** `peermesh status --json` as tests read it: the fields named here, and the rest untyped. */
export interface NodeStatus {
  publicKey: string;
  addresses: string[];
  dataPath: 'native' | 'typescript';
  dataPathReason: string;
  /** The native data plane's counters; null on the TypeScript path. */
  dataPlane: Record<string, number> | null;
  counters: Record<string, number>;
  memory: Record<string, number>;
  [field: string]: unknown;
}

/** `peermesh status --json --state-dir STATEDIR` in `host`'s namespace; throws if the CLI fails. */
export function nodeStatus(lab: NetnsLab, host: string, stateDir: string): NodeStatus {
  const r = runCli(['status', '--json', '--state-dir', stateDir], lab.ns(host));
  if (r.code !== 0) throw new Error(`status on ${host} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as NodeStatus;
}

/**
 * Assert that a node ran the data path of this run (DATA_PATH) for the reason its environment gives:
 * a run that claims the fallback cannot pass on the native path, nor the other way round.
 */
export function assertDataPath(s: Pick<NodeStatus, 'dataPath' | 'dataPathReason' | 'dataPlane'>): void {
  const why = `${s.dataPath} (${s.dataPathReason})`;
  assert.equal(s.dataPath, DATA_PATH, why);
  assert.equal(s.dataPlane === null, DATA_PATH === 'typescript', why);
  if (DATAPLANE_ENV === 'off' || DATAPLANE_ENV === 'on')
    assert.equal(s.dataPathReason, `PEERMESH_DATAPLANE=${DATAPLANE_ENV}`, why);
  else if (DATA_PATH === 'native') assert.equal(s.dataPathReason, 'default', why);
  else assert.match(s.dataPathReason, /^(data plane addon not loaded: |native data path is opt-in)/, why);
}
