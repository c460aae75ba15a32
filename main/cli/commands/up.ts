// `peermesh up`: the node's config from flags and config files (one network, or several with
// `-c A.json -c B.json`), and the node(s) in the foreground until a signal.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultHelperPath } from '../../io/helper';
import {
  ConfigError,
  defaults,
  type LogLevel,
  loadConfigFile,
  type NodeConfig,
  parsePeerFlag,
  validate,
} from '../../node/config';
import { allowsEverything, ROUTE_ALLOW } from '../../node/core-helper';
import { Logger } from '../../node/log';
import { loadKeys } from '../../node/persistence';
import type { RunAs } from '../../node/privdrop';
import { ensureStateDir, intFlag, isLogLevel, noPositionals, parse } from '../args';
import { capableHelperFor, dropNow, holdHostsFile, planDropAs, splitDropFlags, stateDirsOf } from '../drop';
import { onStopSignals, tuneHeapForPackets } from '../process';
import { runManager } from './ui';

export function buildUpConfig(args: string[]): NodeConfig {
  const { values, positionals } = parse(args, {
    config: { type: 'string', short: 'c' },
    'state-dir': { type: 'string' },
    interface: { type: 'string' },
    address: { type: 'string', multiple: true },
    listen: { type: 'string' },
    mtu: { type: 'string' },
    'private-key-file': { type: 'string' },
    peer: { type: 'string', multiple: true },
    'psk-file': { type: 'string' },
    'log-level': { type: 'string' },
    'hosts-file': { type: 'string' },
    ui: { type: 'string' },
    'ui-host': { type: 'string' },
    network: { type: 'string' },
    'secret-file': { type: 'string' },
    bootstrap: { type: 'string', multiple: true },
    relay: { type: 'boolean' },
    'advertise-route': { type: 'string', multiple: true },
    'accept-routes': { type: 'boolean' },
    'advertise-exit': { type: 'boolean' },
    'exit-node': { type: 'string' },
    'exit-allow-lan': { type: 'boolean' },
    'exit-fail-open': { type: 'boolean' },
    name: { type: 'string' },
  });
  noPositionals(positionals);
  let cfg = defaults();
  if (values.config) cfg = loadConfigFile(values.config as string, cfg);
  const v = values as Record<string, string | string[] | undefined>;
  if (v['state-dir']) cfg.stateDir = v['state-dir'] as string;
  if (v.interface) cfg.interface = v.interface as string;
  if (v.address) cfg.addresses = v.address as string[];
  const listen = intFlag(v.listen as string | undefined, 'listen');
  if (listen !== undefined) cfg.listenPort = listen;
  const mtu = intFlag(v.mtu as string | undefined, 'mtu');
  if (mtu !== undefined) cfg.mtu = mtu;
  if (v['private-key-file']) cfg.privateKeyFile = v['private-key-file'] as string;
  if (v['psk-file']) cfg.pskFile = v['psk-file'] as string;
  if (v.peer) cfg.peers = (v.peer as string[]).map(parsePeerFlag);
  if (v.name) cfg.name = v.name as string;
  if (
    v.network ||
    v['secret-file'] ||
    v.bootstrap ||
    values.relay ||
    v['advertise-route'] ||
    values['accept-routes'] ||
    values['advertise-exit'] ||
    v['exit-node']
  ) {
    const net = cfg.network ?? { name: '', secretFile: '', bootstrap: [], relay: false };
    if (values.relay) net.relay = true;
    if (values['accept-routes']) net.acceptRoutes = true;
    if (values['advertise-exit']) net.advertiseExit = true;
    if (v['exit-node']) net.exitNode = v['exit-node'] as string;
    if (v['advertise-route']) net.advertiseRoutes = v['advertise-route'] as string[];
    if (v.network) net.name = v.network as string;
    if (v['secret-file']) net.secretFile = v['secret-file'] as string;
    if (v.bootstrap) net.bootstrap = v.bootstrap as string[];
    if (!net.name || !net.secretFile)
      throw new ConfigError('a network needs both --network NAME and --secret-file FILE');
    cfg.network = net;
  }
  if (values['exit-allow-lan'] || values['exit-fail-open']) {
    if (!cfg.network) throw new ConfigError('--exit-allow-lan and --exit-fail-open need a network');
    if (values['exit-allow-lan']) cfg.network.exitAllowLan = true;
    if (values['exit-fail-open']) cfg.network.exitFailOpen = true;
  }
  if (v.ui !== undefined) {
    const port = intFlag(v.ui as string, 'ui');
    if (port === undefined || port > 65535) throw new ConfigError('--ui must be a port 0-65535');
    cfg.ui = { host: (v['ui-host'] as string | undefined) ?? '127.0.0.1', port };
  } else if (v['ui-host']) throw new ConfigError('--ui-host needs --ui PORT');
  if (v['hosts-file']) cfg.hostsFile = v['hosts-file'] === 'none' ? null : (v['hosts-file'] as string);
  if (v['log-level']) {
    const l = v['log-level'] as string;
    if (!isLogLevel(l)) throw new ConfigError(`--log-level must be debug, info, warn or error`);
    cfg.logLevel = l;
  }
  return validate(cfg);
}

/**
 * Several networks in one process: `up -c home.json -c work.json`. Each config is one network with
 * its own interface and port; each runs as its own node with its own identity and state in
 * <state-dir>/<network> (separate keys: members of one network cannot tell you are in the other).
 */
export function buildUpConfigs(args: string[]): NodeConfig[] {
  const files: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === '-c' || args[i] === '--config') && i + 1 < args.length) files.push(args[++i]);
    else if (args[i].startsWith('--config=')) files.push(args[i].slice(9));
    else rest.push(args[i]);
  }
  if (files.length <= 1) return [buildUpConfig(args)];
  const { values, positionals } = parse(rest, {
    'state-dir': { type: 'string' },
    'log-level': { type: 'string' },
  });
  noPositionals(positionals);
  const cfgs = files.map((f) => {
    const cfg = loadConfigFile(f, defaults());
    if (!cfg.network)
      throw new ConfigError(`${f}: with several -c, each config must be a network (network.name)`);
    if (values['state-dir']) cfg.stateDir = values['state-dir'] as string;
    cfg.stateDir = join(cfg.stateDir, cfg.network.name);
    if (values['log-level']) cfg.logLevel = values['log-level'] as LogLevel;
    cfg.memberRoutes = true;
    return validate(cfg);
  });
  for (const [what, get] of [
    ['network', (c: NodeConfig) => c.network!.name],
    ['interface', (c: NodeConfig) => c.interface],
    ['listen port', (c: NodeConfig) => (c.listenPort === 0 ? `0#${Math.random()}` : String(c.listenPort))],
  ] as const) {
    const seen = new Set<string>();
    for (const c of cfgs) {
      const v = get(c);
      if (seen.has(v))
        throw new ConfigError(`two configs use the same ${what} "${v}"; each network needs its own`);
      seen.add(v);
    }
  }
  return cfgs;
}

export { splitDropFlags } from '../drop';

/**
 * As root (and without --stay-root), who the core becomes once it is up: the user exists (the default
 * one is created when missing). Null: no drop. With --ui the node starts after the drop, as the user
 * (dropForUi): it gets no runAs (the helper takes no --user from a caller that is not root).
 */
function planDrop(user: string | null, stayRoot: boolean, cfgs: NodeConfig[]): RunAs | null {
  const ui = cfgs.length === 1 ? cfgs[0].ui : null;
  const runAs = planDropAs('up', user, stayRoot, ui ? { flag: '--ui', port: ui.port } : null);
  if (runAs && !ui) for (const c of cfgs) c.runAs = runAs;
  return runAs;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // missing: an empty list, as for the helper
  }
}

/**
 * `up --ui` as root, before the manager starts anything: a helper with cap_net_admin that the user
 * may start (core-helper.ts), the keys and the hosts file read and opened by root, then the drop.
 * Returns the configuration every start of the node (the UI's connect) uses from then on.
 */
function dropForUi(runAs: RunAs, cfg: NodeConfig, log: Logger): NodeConfig {
  // The helper's policy for callers that are not root applies from now on (docs/helper.md "Who may
  // run it"). What it refuses at the start (addresses and routes outside the overlay ranges not in
  // route.allow, offered subnets not in forward.allow, --advertise-exit without 0.0.0.0/0 there)
  // ends the start with its reason (ui.ts adds what to do); what it would refuse later is said here:
  // exit routing (refused, traffic would not go through the exit) and members' subnets (warned).
  if (cfg.network?.exitNode && !allowsEverything(readOr(ROUTE_ALLOW)))
    throw new ConfigError(
      `--exit-node with --ui as root: the node runs as ${runAs.name}, and the helper routes a user's traffic through an exit node only when root lists 0.0.0.0/0 in ${ROUTE_ALLOW}; add it there, or keep root with --stay-root`,
    );
  if (cfg.network?.acceptRoutes)
    log.warn(
      `--accept-routes with --ui as root: the node runs as ${runAs.name}, so members' subnets get a route only where ${ROUTE_ALLOW} lists them (others are refused and logged)`,
    );
  const helperPath = capableHelperFor(runAs, cfg.helperPath ?? defaultHelperPath(), log);
  ensureStateDir(cfg.stateDir);
  const keys = loadKeys(cfg, log); // a generated identity goes to the user with the directory
  const hostsHeld = holdHostsFile(cfg.hostsFile);
  dropNow(runAs, [cfg.stateDir], log);
  return { ...cfg, helperPath, keys, hostsHeld };
}

export async function cmdUp(argv: string[]): Promise<void> {
  const { rest: args, user, stayRoot } = splitDropFlags(argv);
  const cfgs = buildUpConfigs(args);
  const runAs = planDrop(user, stayRoot, cfgs);
  if (cfgs.length > 1) {
    await runNodes(cfgs, runAs);
    return;
  }
  const cfg = cfgs[0];
  const log = new Logger(cfg.logLevel);
  if (stayRoot) log.warn('--stay-root: the node keeps running as root (unsafe: docs/security.md)');
  if (cfg.ui) {
    const fixedConfig = runAs ? dropForUi(runAs, cfg, log) : cfg;
    await runManager({
      fixedConfig,
      ui: cfg.ui,
      logLevel: cfg.logLevel,
      profileDir: cfg.stateDir,
      runsAs: runAs?.name,
    });
    return;
  }
  tuneHeapForPackets();
  // Imported here so that key/status commands do not load the data path.
  const { PeerMeshNode } = await import('../../node/node');
  // With a drop: everything privileged first, then the drop, then the data plane's threads (go()).
  const node = runAs ? await PeerMeshNode.prepare(cfg, log) : await PeerMeshNode.start(cfg, log);
  if (runAs) {
    try {
      dropNow(runAs, stateDirsOf(cfgs), log);
    } catch (e) {
      await node.stop(`cannot drop privileges: ${(e as Error).message}`);
      throw e;
    }
    await node.go();
  }
  onStopSignals(
    (sig) => void node.stop(`received ${sig}`),
    (sig) => log.warn(`second ${sig}: exiting now`),
  );
  const reason = await node.stopped;
  process.exit(reason.startsWith('helper exited') ? 1 : 0);
}

/** Several nodes (one per network) in this process; stops all on a signal or when one fails. */
async function runNodes(cfgs: NodeConfig[], runAs: RunAs | null): Promise<void> {
  tuneHeapForPackets();
  const { PeerMeshNode } = await import('../../node/node');
  const nodes: import('../../node/node').PeerMeshNode[] = [];
  for (const cfg of cfgs) {
    ensureStateDir(cfg.stateDir);
    const prefix = `[${cfg.network!.name}] `;
    const log = new Logger(cfg.logLevel, (l) =>
      process.stderr.write(l.replace(/^(\S+ \S+\s+)/, `$1${prefix}`)),
    );
    try {
      nodes.push(runAs ? await PeerMeshNode.prepare(cfg, log) : await PeerMeshNode.start(cfg, log));
    } catch (e) {
      for (const n of nodes) await n.stop('another network failed to start');
      throw e;
    }
  }
  if (runAs) {
    // Every network's privileged part first, then the drop, then all data planes (see cmdUp).
    let step = 'cannot drop privileges';
    try {
      dropNow(runAs, stateDirsOf(cfgs), new Logger(cfgs[0].logLevel));
      step = 'another network failed to start';
      for (const n of nodes) await n.go();
    } catch (e) {
      for (const n of nodes) await n.stop(`${step}: ${(e as Error).message}`);
      throw e;
    }
  }
  onStopSignals((sig) => void Promise.all(nodes.map((n) => n.stop(`received ${sig}`))));
  // One network's helper dying stops that node; the others keep running until a signal.
  const reasons = await Promise.all(nodes.map((n) => n.stopped));
  process.exit(reasons.some((r) => r.startsWith('helper exited')) ? 1 : 0);
}
