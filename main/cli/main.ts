// `peermesh` command-line interface: the command table, the help text, and the exit codes:
// 0 ok, 1 runtime failure, 2 bad usage or configuration (one line on stderr saying what is wrong).
// Each command group lives in commands/ (up, ui, status, mesh, keys, peervpn); shared flag parsing in
// args.ts, signals and failing in process.ts, the running node's control socket in node-socket.ts.

import { ConfigError, defaultStateDir } from '../node/config';
import { UsageError } from './args';
import { fail } from './process';

const VERSION = '0.1.0';

const USAGE = `peermesh ${VERSION} — serverless peer-to-peer mesh VPN

Usage:
  peermesh up [options]            run a node in the foreground (Ctrl-C to stop)
  peermesh up -c A.json -c B.json  be a member of several networks at once, one interface each
                                   (state of each in <state-dir>/<network>; use --network NAME with
                                   status, invite and remove)
  peermesh ui [--port 7878] [--host ADDR] [--profile-dir DIR] [--user NAME | --stay-root]
                                   the app without a desktop: create or join a network, connect and
                                   watch peers from a browser (URL with its token printed on stdout);
                                   as root it runs as --user (default: peermesh), as "up --ui" does
  peermesh status [--json]         show the running node: interface, peers, handshakes, traffic
  peermesh peers [--json]          the members: name, overlay IPv4, online, path, RTT, rates, last handshake
  peermesh invite [--expires 24h] [--uses N]
                                   print a one-line join code for a new machine (30m, 12h, 7d; at most 30d);
                                   it admits one machine, or N (at most 100)
  peermesh invite --list [--json]  the invitations the network holds: id, who made it, uses, expiry, state
  peermesh invite --revoke ID      revoke an invitation: it admits no one from now on
  peermesh join CODE [options]     join the network of a join code and run the node (options as for "up")
  peermesh ping PEER [-c N]        live round-trip times to a member (key, name or IPv4) and its path
  peermesh remove PEER             remove a member (key, name or overlay IPv4) from the network, for good
  peermesh routes [--json]         the routes members offer, who offers each and its state here
  peermesh routes accept CIDR|all  route a member's offer through the tunnel (kept across restarts)
  peermesh routes decline CIDR     stop routing it, and keep it declined
  peermesh add-device NAME [--endpoint HOST:PORT] [--out FILE]
                                   a phone or router with a stock WireGuard app, this node its gateway:
                                   prints its config and a QR code (shown once)
  peermesh devices [--json]        the devices this node is the gateway of
  peermesh remove-device NAME      remove one (members stop routing it at once)
  peermesh exit-node [NAME|none] [--allow-lan|--no-allow-lan] [--fail-open|--fail-closed]
                                   choose an exit node (or none), or show the current one and who offers
  peermesh allow NAME|all [WHAT]   let a member (or all) reach this machine: WHAT is tcp/22, udp/53,
                                   tcp/8000-8100, tcp, udp, icmp or any (default); docs/access.md
  peermesh deny NAME|all [WHAT]    keep a member (or all) from reaching it (replies to this machine's own
                                   connections always pass)
  peermesh access [--json]         the rules, the default and how many packets they dropped
  peermesh access default allow|deny   what happens when no rule matches (allow until you say deny)
  peermesh access remove N         remove rule N (as numbered by "peermesh access")
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
  --accept-routes                 route other members' offers in private address space without asking
                                  (default: each one is accepted with "peermesh routes accept")
  --advertise-exit                offer this machine as an exit node: members that choose it send all
                                  their traffic out its uplink (docs/exit-nodes.md)
  --exit-node NAME|none           send all traffic through a member that offers to be an exit node
  --exit-allow-lan                ... but keep reaching this machine's own LANs directly
  --exit-fail-open                ... and when it goes away, use this machine's uplink (default: block)
  --name NAME                     this node's name in the network (default: host name)
  --ui PORT                       serve the web UI and Control API on http://127.0.0.1:PORT (0: any free
                                  port); the URL with its access token is printed on stdout
  --ui-host ADDR                  bind the web UI elsewhere than loopback (only if you mean it)
  --user NAME                     as root: the user the node runs as once it is up (default: peermesh,
                                  created if missing; never root; also for ui); docs/security.md section 12
  --stay-root                     as root: keep running as root (unsafe: only for debugging; also for ui)
  --hosts-file FILE|none          where members' names (NAME.NETWORK) are kept (default: /etc/hosts,
                                  when writable)
                                  With --network and no --address, the node's overlay addresses
                                  are derived from its key (100.64.0.0/10 and a per-network ULA).
Options of "status", "pubkey", "keygen": --state-dir DIR, --private-key-file FILE (pubkey)
`;

type Run = (args: string[]) => void | Promise<void>;

// Each command's module is loaded when that command runs: a node's start does not pay for the
// modules of status, invite, devices... (and `peermesh status` not for the node's).
const access = () => import('./commands/access');
const devices = () => import('./commands/devices');
const keys = () => import('./commands/keys');
const mesh = () => import('./commands/mesh');
const routes = () => import('./commands/routes');
const status = () => import('./commands/status');

const COMMANDS: Record<string, Run> = {
  up: async (a) => (await import('./commands/up')).cmdUp(a),
  ui: async (a) => (await import('./commands/ui')).cmdUi(a),
  status: async (a) => (await status()).cmdStatus(a),
  peers: async (a) => (await status()).cmdPeers(a),
  remove: async (a) => (await mesh()).cmdRemove(a),
  routes: async (a) => (await routes()).cmdRoutes(a),
  'exit-node': async (a) => (await routes()).cmdExitNode(a),
  'add-device': async (a) => (await devices()).cmdAddDevice(a),
  'remove-device': async (a) => (await devices()).cmdRemoveDevice(a),
  devices: async (a) => (await devices()).cmdDevices(a),
  allow: async (a) => (await access()).cmdAllowDeny('allow')(a),
  deny: async (a) => (await access()).cmdAllowDeny('deny')(a),
  access: async (a) => (await access()).cmdAccess(a),
  set: async (args) => {
    if (args[0] !== 'exit-node') throw new UsageError('usage: peermesh set exit-node NAME|none [options]');
    return (await routes()).cmdExitNode(args.slice(1));
  },
  invite: async (a) => (await mesh()).cmdInvite(a),
  join: async (a) => (await mesh()).cmdJoin(a),
  'import-peervpn': async (a) => (await import('./commands/peervpn')).cmdImportPeerVpn(a),
  address: async (a) => (await keys()).cmdAddress(a),
  ping: async (a) => (await status()).cmdPing(a),
  keygen: async (a) => (await keys()).cmdKeygen(a),
  pubkey: async (a) => (await keys()).cmdPubkey(a),
  genpsk: async () => (await keys()).cmdGenpsk(),
  version: () => void process.stdout.write(`peermesh ${VERSION}\n`),
  help: () => void process.stdout.write(USAGE),
};
COMMANDS['--version'] = COMMANDS.version;
COMMANDS['--help'] = COMMANDS['-h'] = COMMANDS.help;

export async function main(argv: string[]): Promise<void> {
  const [cmd = 'help', ...rest] = argv;
  try {
    const run = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!run) throw new UsageError(`unknown command "${cmd}" (try: peermesh help)`);
    await run(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) fail(e.message, 2);
    // Key files that cannot be read or parsed are configuration errors too.
    const msg = (e as Error).message;
    if (/^cannot read|is not a base64 32-byte key/.test(msg)) fail(msg, 2);
    fail(msg, 1);
  }
}

/**
 * Load the modules `peermesh up` and the commands load, then run a node's start to its first packets
 * in memory (warm-up.ts: no network, TUN device or privileges): the build compiles them this way
 * before writing V8's code cache of the CLI bundle (main/cli/launch.ts), so that a start finds the
 * bytecode of what it runs in the cache instead of compiling it lazily.
 */
export async function warmUp(): Promise<void> {
  await Promise.all([
    import('./commands/up'),
    import('../node/node'),
    access(),
    devices(),
    keys(),
    mesh(),
    routes(),
    status(),
  ]);
  const [{ warmUpStart }, { Logger }] = await Promise.all([import('./warm-up'), import('../node/log')]);
  try {
    await warmUpStart(new Logger('debug', () => {}));
  } catch (e) {
    // The build goes on: a cache of the modules alone (a start then compiles more of its code).
    process.stderr.write(`warm-up of the code cache failed, the cache holds less: ${(e as Error).message}\n`);
  }
}
