// `peermesh ui` (and `peermesh up --ui`): the node in a worker thread behind the NodeManager, with the
// web UI and Control API served from this thread.

import { join } from 'node:path';
import { defaultHelperPath } from '../../io/helper';
import { ConfigError, defaultStateDir, type LogLevel, type NodeConfig } from '../../node/config';
import { Logger, logLineText } from '../../node/log';
import { ensureStateDir, intFlag, isLogLevel, noPositionals, parse } from '../args';
import { capableHelperFor, dropNow, holdHostsFile, planDropAs, splitDropFlags } from '../drop';
import { fail, onStopSignals } from '../process';

/**
 * The node in a worker thread behind the NodeManager, with the web UI served from this thread: what
 * `peermesh ui` and `peermesh up --ui` run (packet work never stalls the UI server).
 */
export async function runManager(o: {
  profileDir: string;
  ui: { host: string; port: number };
  fixedConfig?: NodeConfig;
  logLevel: LogLevel;
  /** `up --ui` or `ui` as root: the user the process dropped to (a refusal by the helper's policy says so). */
  runsAs?: string;
  /** `ui` as root: the helper the user may start, and the hosts file root opened (see cmdUi). */
  helperPath?: string;
  hostsHeld?: NodeConfig['hostsHeld'];
}): Promise<void> {
  const { NodeManager } = await import('../../node/manager');
  const { rendererDir } = await import('../../control/web-server');
  const mgr = await NodeManager.open({
    profileDir: o.profileDir,
    desktop: false,
    fixedConfig: o.fixedConfig,
    helperPath: o.helperPath,
    hostsHeld: o.hostsHeld,
    logLevel: o.logLevel,
    ui: { ...o.ui, staticDir: rendererDir() },
    logWrite: (l) => process.stderr.write(logLineText(l.time, l.level, l.message)),
  }).catch((e: Error) => fail(`web UI on port ${o.ui.port}: ${e.message}`, 1));
  // The URL carries the access token in its fragment (#token=, never sent to a server): printed once to
  // stdout (like Jupyter), never logged.
  process.stdout.write(`web UI: ${mgr.webUrl}\n`);
  await new Promise<void>((resolve) => {
    onStopSignals(() => void mgr.close().then(resolve));
    mgr.onEvent((e) => {
      if (e.type !== 'state' || e.state !== 'error') return;
      if (o.runsAs && /\brefused: /.test(e.error ?? ''))
        process.stderr.write(
          `peermesh: the node runs as ${o.runsAs}, so the helper applies its policy for callers that are not root (docs/helper.md "Who may run it"): list the route or subnet in /etc/peermesh/route.allow or forward.allow, or keep root with --stay-root\n`,
        );
      // `up --ui` ends when its node fails to start or its helper dies, like `up`; `ui` stays (the
      // error shows in the web UI, whose settings may change what was refused).
      if (o.fixedConfig) {
        process.exitCode = 1;
        void mgr.close().then(resolve);
      }
    });
  });
  process.exit(process.exitCode ?? 0);
}

/**
 * `peermesh ui`. As root (without --stay-root) it drops like `up --ui` (docs/security.md section 12):
 * root makes the helper the user may start, opens /etc/hosts, gives the profile directory (settings,
 * network secrets, the node's state) to the user, drops, and only then opens the profile and serves
 * the web UI; what the manager writes later (a network created or joined) is the user's.
 */
export async function cmdUi(argv: string[]): Promise<void> {
  const { rest: args, user, stayRoot } = splitDropFlags(argv);
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    'profile-dir': { type: 'string' },
    'log-level': { type: 'string' },
  });
  noPositionals(positionals);
  const port = intFlag((values.port as string | undefined) ?? '7878', 'port')!;
  if (port > 65535) throw new ConfigError('--port must be 0-65535');
  const level = (values['log-level'] as string | undefined) ?? 'info';
  if (!isLogLevel(level)) throw new ConfigError(`bad --log-level "${level}"`);
  const profileDir = (values['profile-dir'] as string | undefined) ?? join(defaultStateDir(), 'app');
  const runAs = planDropAs('ui', user, stayRoot, { flag: '--port', port });
  const log = new Logger(level);
  if (stayRoot)
    log.warn('--stay-root: the web UI and its node keep running as root (unsafe: docs/security.md)');
  let root: { helperPath: string; hostsHeld: NodeConfig['hostsHeld'] } | null = null;
  if (runAs) {
    const helperPath = capableHelperFor(runAs, defaultHelperPath(), log);
    ensureStateDir(profileDir);
    root = { helperPath, hostsHeld: holdHostsFile('/etc/hosts') };
    dropNow(runAs, [profileDir], log, '--profile-dir');
  }
  await runManager({
    profileDir,
    ui: { host: (values.host as string | undefined) ?? '127.0.0.1', port },
    logLevel: level,
    runsAs: runAs?.name,
    ...root,
  });
}
