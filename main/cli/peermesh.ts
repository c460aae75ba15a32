// `peermesh` command-line interface. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.

import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import v8 from 'node:v8';
import type { PeerRow } from '../control/api';
import { controlRequest } from '../control/socket';
import { ensurePrivateDir, writeFileAtomic } from '../io/files';
import {
  ConfigError,
  defaultStateDir,
  defaults,
  type LogLevel,
  loadConfigFile,
  type NodeConfig,
  parsePeerFlag,
  validate,
} from '../node/config';
import { collectBuffersPeriodically } from '../node/gc';
import {
  decodeKey,
  encodeKey,
  generatePrivateKey,
  publicKeyOf,
  readKeyFile,
  writeKeyFile,
} from '../node/identity';
import { Logger } from '../node/log';
import type { NodeStatus } from '../node/node';

const VERSION = '0.1.0';

class UsageError extends Error {}

const USAGE = `peermesh ${VERSION} — serverless peer-to-peer mesh VPN

Usage:
  peermesh up [options]            run a node in the foreground (Ctrl-C to stop)
  peermesh up -c A.json -c B.json  be a member of several networks at once, one interface each
                                   (state of each in <state-dir>/<network>; use --network NAME with
                                   status, invite and remove)
  peermesh ui [--port 7878] [--host ADDR] [--profile-dir DIR]
                                   the app without a desktop: create or join a network, connect and
                                   watch peers from a browser (URL with its token printed on stdout)
  peermesh status [--json]         show the running node: interface, peers, handshakes, traffic
  peermesh peers [--json]          the members: name, overlay IPv4, online, path, RTT, rates, last handshake
  peermesh invite [--expires 24h]  print a one-line join code for a new machine (30m, 12h, 7d; at most 30d)
  peermesh join CODE [options]     join the network of a join code and run the node (options as for "up")
  peermesh ping PEER [-c N]        live round-trip times to a member (key, name or IPv4) and its path
  peermesh remove PEER             remove a member (key, name or overlay IPv4) from the network, for good
  peermesh import-peervpn FILE [--out-dir DIR]
                                   turn a PeerVPN config into a PeerMesh config + secret file (default DIR:
                                   the state directory), and say which options have no equivalent
  peermesh keygen [--force]        create the node's identity in the state directory, print its public key
  peermesh keygen --out FILE       write a new private key to FILE (mode 0600), print its public key
  peermesh address --network NAME --secret-file FILE [--private-key-file FILE]
                                   print the overlay IPv4 and IPv6 this key gets in that network
  peermesh pubkey                  print the node's public key (from the state dir or --private-key-file)
  peermesh pubkey -                read a base64 private key on stdin, print its public key (like wg pubkey)
  peermesh genpsk                  print a new random pre-shared key
  peermesh version | help

Options of "up" (also settable in a JSON config file, see docs/config.md; flags override the file):
  -c, --config FILE               JSON config file
  --state-dir DIR                 identity, control socket (default: ${defaultStateDir()})
  --interface NAME                TUN interface name (default: pm0)
  --address CIDR                  overlay address of this node, repeatable (IPv4 and IPv6)
  --listen PORT                   UDP port (default: 51820; 0 = any)
  --mtu N                         interface MTU (default: 1420)
  --private-key-file FILE         use this private key instead of the state directory's
  --peer KEY[@HOST:PORT][,CIDR...]  a static peer and the overlay addresses it may use, repeatable
  --psk-file FILE                 pre-shared key for all static peers (optional)
  --log-level LEVEL               debug, info, warn, error (default: info)
  --network NAME                  join (or start) the mesh network NAME ...
  --secret-file FILE              ... whose secret is in FILE (any passphrase, at least 12 characters)
  --bootstrap HOST:PORT           a member to join through, repeatable (none: wait to be joined)
  --relay                         relay traffic between members that cannot reach each other
  --advertise-route CIDR          offer a subnet this machine reaches (e.g. a home LAN) to the other
                                  members, repeatable; this node forwards and masquerades into it
  --name NAME                     this node's name in the network (default: host name)
  --ui PORT                       serve the web UI and Control API on http://127.0.0.1:PORT (0: any free
                                  port); the URL with its access token is printed on stdout
  --ui-host ADDR                  bind the web UI elsewhere than loopback (only if you mean it)
  --hosts-file FILE|none          where members' names (NAME.NETWORK) are kept (default: /etc/hosts,
                                  when writable)
                                  With --network and no --address, the node's overlay addresses
                                  are derived from its key (100.64.0.0/10 and a per-network ULA).
Options of "status", "pubkey", "keygen": --state-dir DIR, --private-key-file FILE (pubkey)
`;

function fail(msg: string, code: number): never {
  process.stderr.write(`peermesh: ${msg}\n`);
  process.exit(code);
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/, ''));
  }
}

function intFlag(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new ConfigError(`--${name} must be a whole number, got "${v}"`);
  return Number(v);
}

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
    name: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
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
  if (v.network || v['secret-file'] || v.bootstrap || values.relay || v['advertise-route']) {
    const net = cfg.network ?? { name: '', secretFile: '', bootstrap: [], relay: false };
    if (values.relay) net.relay = true;
    if (v['advertise-route']) net.advertiseRoutes = v['advertise-route'] as string[];
    if (v.network) net.name = v.network as string;
    if (v['secret-file']) net.secretFile = v['secret-file'] as string;
    if (v.bootstrap) net.bootstrap = v.bootstrap as string[];
    if (!net.name || !net.secretFile)
      throw new ConfigError('a network needs both --network NAME and --secret-file FILE');
    cfg.network = net;
  }
  if (v.ui !== undefined) {
    const port = intFlag(v.ui as string, 'ui');
    if (port === undefined || port > 65535) throw new ConfigError('--ui must be a port 0-65535');
    cfg.ui = { host: (v['ui-host'] as string | undefined) ?? '127.0.0.1', port };
  } else if (v['ui-host']) throw new ConfigError('--ui-host needs --ui PORT');
  if (v['hosts-file']) cfg.hostsFile = v['hosts-file'] === 'none' ? null : (v['hosts-file'] as string);
  if (v['log-level']) {
    const l = v['log-level'] as string;
    if (!['debug', 'info', 'warn', 'error'].includes(l))
      throw new ConfigError(`--log-level must be debug, info, warn or error`);
    cfg.logLevel = l as LogLevel;
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
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
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

async function cmdUp(args: string[]): Promise<void> {
  const cfgs = buildUpConfigs(args);
  if (cfgs.length > 1) {
    await runNodes(cfgs);
    return;
  }
  const cfg = cfgs[0];
  if (cfg.ui) {
    await runManager({ fixedConfig: cfg, ui: cfg.ui, logLevel: cfg.logLevel, profileDir: cfg.stateDir });
    return;
  }
  // A node allocates one short-lived Buffer per received datagram. V8's default young generation
  // grows to ~48 MB under that rate, and the receive buffers it holds wait for it: a small
  // semi-space collects them sooner and keeps peak RSS flat (measured in bench/), at no
  // measurable throughput cost. Set before the heap grows; PEERMESH_SEMI_SPACE_MB overrides.
  v8.setFlagsFromString(`--max-semi-space-size=${Number(process.env.PEERMESH_SEMI_SPACE_MB) || 1}`);
  collectBuffersPeriodically();
  const log = new Logger(cfg.logLevel);
  // Imported here so that key/status commands do not load the data path.
  const { PeerMeshNode } = await import('../node/node');
  const node = await PeerMeshNode.start(cfg, log);
  let signals = 0;
  const onSignal = (sig: string) => {
    if (++signals > 1) {
      log.warn(`second ${sig}: exiting now`);
      process.exit(1);
    }
    void node.stop(`received ${sig}`);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  const reason = await node.stopped;
  process.exit(reason.startsWith('helper exited') ? 1 : 0);
}

/**
 * The node in a worker thread behind the NodeManager, with the web UI served from this thread: what
 * `peermesh ui` and `peermesh up --ui` run (packet work never stalls the UI server).
 */
async function runManager(o: {
  profileDir: string;
  ui: { host: string; port: number };
  fixedConfig?: NodeConfig;
  logLevel: LogLevel;
}): Promise<void> {
  const { NodeManager } = await import('../node/manager');
  const { rendererDir } = await import('../control/web-server');
  const mgr = await NodeManager.open({
    profileDir: o.profileDir,
    desktop: false,
    fixedConfig: o.fixedConfig,
    logLevel: o.logLevel,
    ui: { ...o.ui, staticDir: rendererDir() },
    logWrite: (l) =>
      process.stderr.write(`${new Date(l.time).toISOString()} ${l.level.padEnd(5)} ${l.message}\n`),
  }).catch((e: Error) => fail(`web UI on port ${o.ui.port}: ${e.message}`, 1));
  // The URL carries the access token: printed once to stdout (like Jupyter), never logged.
  process.stdout.write(`web UI: ${mgr.webUrl}\n`);
  let signals = 0;
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.on(sig, () => {
        if (++signals > 1) process.exit(1);
        void mgr.close().then(resolve);
      });
    // `up --ui` ends when its node fails to start or its helper dies, like `up`.
    if (o.fixedConfig)
      mgr.onEvent((e) => {
        if (e.type === 'state' && e.state === 'error') {
          process.exitCode = 1;
          void mgr.close().then(resolve);
        }
      });
  });
  process.exit(process.exitCode ?? 0);
}

async function cmdUi(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    'profile-dir': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const port = intFlag((values.port as string | undefined) ?? '7878', 'port')!;
  if (port > 65535) throw new ConfigError('--port must be 0-65535');
  const level = ((values['log-level'] as string | undefined) ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level))
    throw new ConfigError(`bad --log-level "${level}"`);
  await runManager({
    profileDir: (values['profile-dir'] as string | undefined) ?? join(defaultStateDir(), 'app'),
    ui: { host: (values.host as string | undefined) ?? '127.0.0.1', port },
    logLevel: level,
  });
}

/** Several nodes (one per network) in this process; stops all on a signal or when one fails. */
async function runNodes(cfgs: NodeConfig[]): Promise<void> {
  v8.setFlagsFromString(`--max-semi-space-size=${Number(process.env.PEERMESH_SEMI_SPACE_MB) || 1}`);
  collectBuffersPeriodically();
  const { PeerMeshNode } = await import('../node/node');
  const nodes: import('../node/node').PeerMeshNode[] = [];
  for (const cfg of cfgs) {
    ensurePrivateDir(cfg.stateDir);
    const prefix = `[${cfg.network!.name}] `;
    const log = new Logger(cfg.logLevel, (l) =>
      process.stderr.write(l.replace(/^(\S+ \S+\s+)/, `$1${prefix}`)),
    );
    try {
      nodes.push(await PeerMeshNode.start(cfg, log));
    } catch (e) {
      for (const n of nodes) await n.stop('another network failed to start');
      throw e;
    }
  }
  const stopAll = (why: string) => Promise.all(nodes.map((n) => n.stop(why)));
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => {
      if (++signals > 1) process.exit(1);
      void stopAll(`received ${sig}`);
    });
  // One network's helper dying stops that node; the others keep running until a signal.
  const reasons = await Promise.all(nodes.map((n) => n.stopped));
  process.exit(reasons.some((r) => r.startsWith('helper exited')) ? 1 : 0);
}

function ago(iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2)} ${units[i]}`;
}

export function formatStatus(s: NodeStatus): string {
  const lines = [
    `interface: ${s.interface}`,
    `  public key: ${s.publicKey}`,
    `  listening port: ${s.listenPort}`,
    `  addresses: ${s.addresses.join(', ') || '(none)'}`,
    `  mtu: ${s.mtu}`,
    `  up: ${s.uptimeSeconds} s`,
  ];
  for (const p of s.peers) {
    lines.push(
      '',
      `peer: ${p.publicKey}`,
      `  endpoint: ${p.endpoint ?? '(none)'}`,
      `  allowed ips: ${p.allowedIps.join(', ') || '(none)'}`,
      `  latest handshake: ${ago(p.latestHandshake)}`,
      `  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`,
    );
    if (p.persistentKeepalive) lines.push(`  persistent keepalive: every ${p.persistentKeepalive} s`);
  }
  return `${lines.join('\n')}\n`;
}

/** "30m", "24h", "7d", "3600s" or a bare number of seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d{1,7})([smhd]?)$/.exec(s.trim());
  if (!m) throw new UsageError(`--expires must look like 30m, 24h or 7d, got "${s}"`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

/**
 * The state directory of the node a command talks to: --state-dir, or the default; with --network
 * NAME, the subdirectory a multi-network `up` gave that network (<state-dir>/<NAME>).
 */
function nodeDir(values: Record<string, unknown>): string {
  const base = (values['state-dir'] as string | undefined) ?? defaultStateDir();
  const net = values.network as string | undefined;
  if (!net) return base;
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(net) || net === '.' || net === '..')
    throw new UsageError(`bad network name "${net}"`);
  return join(base, net);
}

async function cmdInvite(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    expires: { type: 'string' },
    'state-dir': { type: 'string' },
    network: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const secs = parseDuration((values.expires as string | undefined) ?? '24h');
  if (secs < 60 || secs > 30 * 86400) throw new UsageError('--expires must be between 1m and 30d');
  const dir = nodeDir(values);
  let r: { code: string; expires: string; endpoints: string[] };
  try {
    r = (await controlRequest(join(dir, 'peermesh.sock'), 'invite', { expiresSeconds: secs })) as typeof r;
  } catch (e) {
    fail((e as Error).message, 1);
  }
  process.stdout.write(`${r.code}\n`);
  process.stderr.write(
    `valid until ${r.expires}, through ${r.endpoints.join(', ')}\n` +
      `on the new machine: peermesh join ${r.code}\n`,
  );
}

/**
 * Trade a join code for the network's secret (asking the inviting node), save both in the state
 * directory (0600) with a config file, then run the node like "up" with that config.
 */
async function cmdJoin(args: string[]): Promise<void> {
  const codeText = args[0];
  if (!codeText || codeText.startsWith('-'))
    throw new UsageError('usage: peermesh join CODE [options of "up"]');
  const { decodeInviteCode, InviteCodeError } = await import('../core/invites');
  const { askInviter } = await import('../node/join');
  let code: ReturnType<typeof decodeInviteCode>;
  try {
    code = decodeInviteCode(codeText);
  } catch (e) {
    if (e instanceof InviteCodeError) throw new UsageError(e.message);
    throw e;
  }
  const rest = args.slice(1);
  const probe = buildUpConfig(rest); // validates the options before anything happens
  if (code.expires * 1000 <= Date.now())
    fail(`this invitation expired at ${new Date(code.expires * 1000).toISOString()}; ask for a new one`, 1);
  const answer = await askInviter(code, probe.name).catch((e: Error) => fail(e.message, 1));
  if (!answer.ok) fail(`the inviting node refused: ${answer.reason}`, 1);
  const dir = probe.stateDir;
  ensurePrivateDir(dir);
  const secretFile = join(dir, `${answer.network}.secret`);
  const configFile = join(dir, `${answer.network}.json`);
  writeFileAtomic(secretFile, Buffer.from(answer.secret), 0o600);
  writeFileAtomic(
    configFile,
    `${JSON.stringify({ network: { name: answer.network, secretFile, bootstrap: answer.bootstrap } }, null, 2)}\n`,
    0o600,
  );
  process.stderr.write(
    `joined network "${answer.network}"; saved ${configFile}. Next time: peermesh up -c ${configFile}\n`,
  );
  await cmdUp(['-c', configFile, ...rest]);
}

async function cmdRemove(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'state-dir': { type: 'string' },
    network: { type: 'string' },
  });
  if (positionals.length !== 1)
    throw new UsageError('usage: peermesh remove PEER (a key, name or overlay IPv4)');
  const dir = nodeDir(values);
  let r: { removed: string; name: string };
  try {
    r = (await controlRequest(join(dir, 'peermesh.sock'), 'remove', { peer: positionals[0] })) as typeof r;
  } catch (e) {
    fail((e as Error).message, 1);
  }
  process.stdout.write(`removed "${r.name}" (${r.removed}) from the network\n`);
}

async function cmdImportPeerVpn(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'out-dir': { type: 'string' },
    'state-dir': { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('usage: peermesh import-peervpn FILE [--out-dir DIR]');
  const { importPeerVpn } = await import('../control/peervpn');
  let text: string;
  try {
    text = readFileSync(positionals[0], 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read ${positionals[0]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const dir =
    (values['out-dir'] as string | undefined) ??
    (values['state-dir'] as string | undefined) ??
    defaultStateDir();
  let r: ReturnType<typeof importPeerVpn>;
  try {
    r = importPeerVpn(text);
  } catch (e) {
    throw new UsageError(`${positionals[0]}: ${(e as Error).message}`);
  }
  const net = (r.config.network as { name: string }).name;
  const configFile = join(dir, `${net}.json`);
  const secretFile = join(dir, `${net}.secret`);
  (r.config.network as { secretFile: string }).secretFile = secretFile;
  if (existsSync(configFile)) fail(`${configFile} exists already; move it away or pick --out-dir`, 1);
  ensurePrivateDir(dir);
  if (r.secret !== null) writeFileAtomic(secretFile, Buffer.from(r.secret), 0o600);
  writeFileAtomic(configFile, `${JSON.stringify(r.config, null, 2)}\n`, 0o600);
  validate(loadConfigFile(configFile, defaults())); // what "up -c" will read must be accepted
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(
    `wrote ${configFile} and ${secretFile} (mode 0600). Start with: peermesh up -c ${configFile}\n`,
  );
}

/** `peermesh ping PEER [-c N]`: one RTT probe a second through the running node, with the path. */
async function cmdPing(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    count: { type: 'string', short: 'c' },
    'state-dir': { type: 'string' },
    network: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('usage: peermesh ping PEER [-c COUNT]');
  const count =
    values.count === undefined ? Number.POSITIVE_INFINITY : intFlag(values.count as string, 'count')!;
  const sock = join(nodeDir(values), 'peermesh.sock');
  let stop = false;
  process.on('SIGINT', () => {
    stop = true;
  });
  const rtts: number[] = [];
  let sent = 0;
  for (; sent < count && !stop; sent++) {
    const t0 = Date.now();
    let r: { name: string; rttMs: number | null; path: string; via: string | null };
    try {
      r = (await controlRequest(sock, 'ping-peer', { peer: positionals[0] }, 5000)) as typeof r;
    } catch (e) {
      fail((e as Error).message, 1);
    }
    const how =
      r.path === 'relayed' ? `relayed via ${r.via}` : r.path === 'direct' ? 'direct' : 'no path yet';
    if (r.rttMs === null) process.stdout.write(`${r.name}: no answer (${how})\n`);
    else {
      rtts.push(r.rttMs);
      process.stdout.write(`${r.name}: rtt ${r.rttMs.toFixed(2)} ms (${how})\n`);
    }
    const wait = 1000 - (Date.now() - t0);
    if (sent + 1 < count && !stop && wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  rtts.sort((a, b) => a - b);
  const loss = sent ? Math.round((100 * (sent - rtts.length)) / sent) : 0;
  process.stdout.write(
    `${sent} probes, ${rtts.length} answered, ${loss} % loss` +
      (rtts.length
        ? `, rtt min/median/max ${rtts[0].toFixed(2)}/${rtts[Math.floor((rtts.length - 1) / 2)].toFixed(2)}/${rtts[rtts.length - 1].toFixed(2)} ms`
        : '') +
      '\n',
  );
  if (rtts.length === 0) process.exit(1);
}

/** The overlay addresses a key gets in a network (its first choice; a running node's status is authoritative). */
async function cmdAddress(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    network: { type: 'string' },
    'secret-file': { type: 'string' },
    'private-key-file': { type: 'string' },
    'state-dir': { type: 'string' },
  });
  if (positionals.length || !values.network || !values['secret-file'])
    throw new UsageError(
      'usage: peermesh address --network NAME --secret-file FILE [--private-key-file FILE | --state-dir DIR]',
    );
  const { loadSecret } = await import('../node/node');
  const { memberAddresses, networkKeys } = await import('../core/mesh');
  const secret = loadSecret(values['secret-file'] as string, new Logger('error'));
  const path =
    (values['private-key-file'] as string | undefined) ??
    join((values['state-dir'] as string | undefined) ?? defaultStateDir(), 'private.key');
  const key = readKeyFile(path, 'private key file').key;
  const a = memberAddresses(networkKeys(values.network as string, secret), publicKeyOf(key));
  process.stdout.write(`${a.v4}\n${a.v6}\n`);
}

/** `peermesh peers [--json]`: the peer list (the UI's rows) of the running node. */
async function cmdPeers(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    'state-dir': { type: 'string' },
    network: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  let rows: PeerRow[];
  try {
    rows = (await controlRequest(join(nodeDir(values), 'peermesh.sock'), 'peers')) as PeerRow[];
  } catch (e) {
    fail((e as Error).message, 1);
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const table = [['NAME', 'IPV4', 'STATE', 'PATH', 'RTT', 'RX/TX', 'HANDSHAKE']];
  for (const r of rows.sort((a, b) => (a.alias ?? a.name).localeCompare(b.alias ?? b.name)))
    table.push([
      r.alias ? `${r.alias} (${r.name})` : r.name,
      r.ipv4,
      r.online ? 'online' : 'offline',
      r.path === 'relayed'
        ? `relayed via ${r.via}`
        : r.path === 'direct'
          ? `direct ${r.endpoint ?? ''}`.trim()
          : '-',
      r.rttMs === null ? '-' : `${r.rttMs.toFixed(1)} ms`,
      `${bytes(r.rxBps)}/s ${bytes(r.txBps)}/s`,
      r.lastHandshake ? ago(new Date(r.lastHandshake).toISOString()) : 'never',
    ]);
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  process.stdout.write(
    `${table
      .map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n')}\n`,
  );
}

async function cmdStatus(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    'state-dir': { type: 'string' },
    network: { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const dir = nodeDir(values);
  // One node, or (no socket here, no --network) every network a multi-network `up` runs below it.
  let socks = [join(dir, 'peermesh.sock')];
  if (!values.network && !existsSync(socks[0]) && existsSync(dir)) {
    const subs = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'peermesh.sock')))
      .map((d) => join(dir, d.name, 'peermesh.sock'));
    if (subs.length) socks = subs;
  }
  const all: NodeStatus[] = [];
  for (const sock of socks) {
    try {
      all.push((await controlRequest(sock, 'status')) as NodeStatus);
    } catch (e) {
      fail((e as Error).message, 1);
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(all.length === 1 ? all[0] : all, null, 2)}\n`);
  else process.stdout.write(all.map(formatStatus).join('\n'));
}

function cmdKeygen(args: string[]): void {
  const { values, positionals } = parse(args, {
    out: { type: 'string' },
    force: { type: 'boolean' },
    'state-dir': { type: 'string' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  let path = values.out as string | undefined;
  if (!path) {
    const dir = (values['state-dir'] as string | undefined) ?? defaultStateDir();
    try {
      ensurePrivateDir(dir);
    } catch (e) {
      throw new ConfigError(`state directory: ${(e as Error).message}`);
    }
    path = join(dir, 'private.key');
  }
  if (existsSync(path) && !values.force) {
    throw new ConfigError(
      `${path} exists; use --force to replace this identity (peers will no longer know it)`,
    );
  }
  const key = generatePrivateKey();
  writeKeyFile(path, key);
  process.stdout.write(`${encodeKey(publicKeyOf(key))}\n`);
}

function cmdPubkey(args: string[]): void {
  const { values, positionals } = parse(args, {
    'state-dir': { type: 'string' },
    'private-key-file': { type: 'string' },
  });
  let key: Uint8Array;
  if (positionals[0] === '-') {
    key = decodeKey(readFileSync(0, 'utf8'), 'private key on stdin');
  } else if (positionals.length) {
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  } else {
    const path =
      (values['private-key-file'] as string | undefined) ??
      join((values['state-dir'] as string | undefined) ?? defaultStateDir(), 'private.key');
    key = readKeyFile(path, 'private key file').key;
  }
  process.stdout.write(`${encodeKey(publicKeyOf(key))}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'up':
        await cmdUp(rest);
        return;
      case 'ui':
        return await cmdUi(rest);
      case 'status':
        await cmdStatus(rest);
        return;
      case 'peers':
        await cmdPeers(rest);
        return;
      case 'remove':
        await cmdRemove(rest);
        return;
      case 'invite':
        await cmdInvite(rest);
        return;
      case 'join':
        await cmdJoin(rest);
        return;
      case 'import-peervpn':
        await cmdImportPeerVpn(rest);
        return;
      case 'address':
        await cmdAddress(rest);
        return;
      case 'ping':
        await cmdPing(rest);
        return;
      case 'keygen':
        cmdKeygen(rest);
        return;
      case 'pubkey':
        cmdPubkey(rest);
        return;
      case 'genpsk':
        process.stdout.write(`${encodeKey(randomBytes(32))}\n`);
        return;
      case 'version':
      case '--version':
        process.stdout.write(`peermesh ${VERSION}\n`);
        return;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return;
      default:
        throw new UsageError(`unknown command "${cmd}" (try: peermesh help)`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) fail(e.message, 2);
    // Key files that cannot be read or parsed are configuration errors too.
    const msg = (e as Error).message;
    if (/^cannot read|is not a base64 32-byte key/.test(msg)) fail(msg, 2);
    fail(msg, 1);
  }
}
