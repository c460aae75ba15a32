// Start real `peermesh` processes (the CLI as a user runs it) inside test namespaces.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
