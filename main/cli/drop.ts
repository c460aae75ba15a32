// The root drop as the commands that start a node use it (`peermesh up`, `up --ui`, `ui`): the
// `--user`/`--stay-root` flags, who to become, the helper with cap_net_admin a web UI's node starts
// as the user, and the drop itself with the directories it gives to the user first
// (docs/security.md section 12; the mechanisms are main/node/privdrop.ts and core-helper.ts).

import { dirname, resolve } from 'node:path';
import { madeDirs } from '../io/files';
import { ConfigError, type NodeConfig } from '../node/config';
import { checkTunOpenable, ensureCapableHelper } from '../node/core-helper';
import { openHostsFile } from '../node/hosts';
import type { Logger } from '../node/log';
import {
  checkReachable,
  chownTree,
  DEFAULT_DROP_USER,
  dropPrivileges,
  type RunAs,
  resolveRunAs,
} from '../node/privdrop';
import { UsageError } from './args';

/** `--user NAME` and `--stay-root` (flags of the command itself, not of a node's config), taken out of `args`. */
export function splitDropFlags(args: string[]): { rest: string[]; user: string | null; stayRoot: boolean } {
  const rest: string[] = [];
  let user: string | null = null;
  let stayRoot = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--stay-root') stayRoot = true;
    else if (a === '--user') {
      if (i + 1 >= args.length || args[i + 1].startsWith('-'))
        throw new UsageError('--user needs a user name');
      user = args[++i];
    } else if (a.startsWith('--user=')) user = a.slice(7);
    else rest.push(a);
  }
  if (user !== null && stayRoot) throw new UsageError('--user and --stay-root contradict each other');
  return { rest, user, stayRoot };
}

/**
 * As root (and without --stay-root), who the process becomes: the user exists (the default one is
 * created when missing). Null: no drop. `command` names the command in refusals; `ui` is the web UI's
 * port flag and port when there is one (the user cannot listen below 1024).
 */
export function planDropAs(
  command: string,
  user: string | null,
  stayRoot: boolean,
  ui: { flag: string; port: number } | null,
): RunAs | null {
  if (process.getuid?.() !== 0) {
    if (user !== null || stayRoot)
      throw new ConfigError(
        `${user !== null ? '--user' : '--stay-root'} is for "peermesh ${command}" run as root`,
      );
    return null;
  }
  if (stayRoot) return null;
  if (ui && ui.port > 0 && ui.port < 1024)
    throw new ConfigError(
      `${ui.flag} ${ui.port}: the web UI runs as an unprivileged user, which cannot listen below port 1024; choose another port, or --stay-root`,
    );
  return resolveRunAs(user ?? DEFAULT_DROP_USER, user === null);
}

/**
 * A web UI's node as root (`up --ui`, `ui`), before the drop: a helper with cap_net_admin the user
 * may start (core-helper.ts: the helper itself or root's copy for the user); its path.
 */
export function capableHelperFor(runAs: RunAs, helperPath: string, log: Logger): string {
  checkTunOpenable(runAs);
  const helper = ensureCapableHelper(helperPath, runAs);
  log.info(
    `the node starts the helper ${helper.path} (cap_net_admin, cap_net_bind_service, ${helper.how}) as ${runAs.name}`,
  );
  return helper.path;
}

/** The hosts file opened by root for the node to write after the drop, or undefined (the node says why). */
export function holdHostsFile(path: string | null): NodeConfig['hostsHeld'] {
  try {
    return path ? openHostsFile(path) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `dirs` (state directories, a web UI's profile directory) and everything in them go to the user,
 * then the drop; refused when the user could not reach them (a directory above that it may not
 * enter: `flag` is the option that chooses another).
 */
export function dropNow(runAs: RunAs, dirs: string[], log: Logger, flag = '--state-dir'): void {
  const abs = [...new Set(dirs.map((d) => resolve(d)))];
  // Directories this process made above them (`mkdir -p`, 0700) are the user's too.
  for (const made of madeDirs) if (abs.some((d) => d.startsWith(`${made}/`))) chownTree(made, runAs, false);
  for (const d of abs) checkReachable(d, runAs, flag);
  for (const d of abs) chownTree(d, runAs);
  dropPrivileges(runAs);
  log.info(`running as ${runAs.name} (uid ${runAs.uid}, gid ${runAs.gid}) without capabilities`);
}

/** The state directories of `cfgs` a drop gives to the user: for several networks, their parent. */
export function stateDirsOf(cfgs: NodeConfig[]): string[] {
  return cfgs.map((c) => (cfgs.length > 1 ? dirname(c.stateDir) : c.stateDir));
}
