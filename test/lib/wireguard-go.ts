// Debian's wireguard-go + wg in a namespace, for interop tests.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { type NetnsLab, waitFor } from './netns';

/** Why wireguard-go tests cannot run here, or null. */
export function wireguardGoSkipReason(): string | null {
  try {
    execFileSync('wireguard-go', ['--version'], { stdio: 'ignore' });
    execFileSync('wg', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'skipped: needs wireguard-go and wg (apt-get install wireguard-go wireguard-tools)';
  }
}

/** Start wireguard-go for interface `ifname` in `host` (killed by the lab's cleanup). */
export function spawnWireguardGo(lab: NetnsLab, host: string, ifname: string): ChildProcess {
  return lab.spawnIn(host, 'wireguard-go', ['-f', ifname], {
    env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' },
  });
}

/** Wait for its UAPI socket, then `wg set IF ARGS...`. */
export async function wgSet(lab: NetnsLab, host: string, ifname: string, args: string[]): Promise<void> {
  await waitFor('wireguard-go UAPI socket', () => lab.tryExec(host, 'wg', ['show', ifname]).ok, 10_000);
  lab.exec(host, 'wg', ['set', ifname, ...args]);
}
