// Membership of a mesh network: `peermesh invite` (a join code from a running member), `peermesh join
// CODE` (trade it for the network's secret, then run like `up`), `peermesh remove PEER` (for good).

import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { InviteResult, InviteRow } from '../../control/api';
import { INVITE_MAX_USES } from '../../core/constants';
import { ensurePrivateDir, writeFileAtomic } from '../../io/files';
import { defaults, type NodeConfig } from '../../node/config';
import { shortKey } from '../../node/log';
import { NODE_FLAGS, nodeDir, noPositionals, parse, parseDuration, UsageError } from '../args';
import { askNode, socketIn } from '../node-socket';
import { fail } from '../process';
import { buildUpConfig, cmdUp, splitDropFlags } from './up';

/** Who made an invitation, for `invite --list`: the member's name and short key, and whether it is this node. */
function inviterText(r: InviteRow): string {
  const who = r.byName ? `${r.byName} (${shortKey(r.by)})` : shortKey(r.by);
  return r.mine ? `${who}, this node` : who;
}

export async function cmdInvite(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    expires: { type: 'string' },
    uses: { type: 'string' },
    list: { type: 'boolean' },
    json: { type: 'boolean' },
    revoke: { type: 'string' },
    ...NODE_FLAGS,
  });
  noPositionals(positionals);
  const socket = socketIn(nodeDir(values));
  const making = values.expires !== undefined || values.uses !== undefined;
  if ((values.list ? 1 : 0) + (values.revoke !== undefined ? 1 : 0) + (making ? 1 : 0) > 1)
    throw new UsageError('use one of: --expires/--uses (a new code), --list, --revoke ID');
  if (values.list) {
    const rows = await askNode<InviteRow[]>(socket, 'invites', {});
    if (values.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else if (rows.length === 0) process.stdout.write('no invitations\n');
    else
      for (const r of rows)
        process.stdout.write(
          `${r.id}  ${r.state.padEnd(7)}  used ${r.uses}/${r.maxUses || 'any'}  expires ${r.expires}  by ${inviterText(r)}\n`,
        );
    return;
  }
  if (values.revoke !== undefined) {
    const id = String(values.revoke).trim().toLowerCase();
    if (!/^[0-9a-f]{8}$/.test(id))
      throw new UsageError('--revoke needs an invitation id (8 hex digits, from --list)');
    await askNode(socket, 'revoke-invite', { id });
    process.stdout.write(`revoked ${id}\n`);
    return;
  }
  const secs = parseDuration((values.expires as string | undefined) ?? '24h');
  if (secs < 60 || secs > 30 * 86400) throw new UsageError('--expires must be between 1m and 30d');
  const uses = values.uses === undefined ? 1 : Number(values.uses);
  if (!Number.isInteger(uses) || uses < 1 || uses > INVITE_MAX_USES)
    throw new UsageError(`--uses must be a whole number from 1 to ${INVITE_MAX_USES}`);
  const r = await askNode<InviteResult>(socket, 'invite', { expiresSeconds: secs, uses });
  process.stdout.write(`${r.code}\n`);
  process.stderr.write(
    `invitation ${r.id} for ${r.uses === 1 ? 'one machine' : `${r.uses} machines`}, valid until ${r.expires}, ` +
      `through ${r.endpoints.join(', ')}\n` +
      `on the new machine: peermesh join ${r.code}\n`,
  );
}

/**
 * Trade a join code for the network's secret (asking the code's members), save both in the state
 * directory (0600) with a config file, then run the node like "up" with that config.
 */
export async function cmdJoin(args: string[]): Promise<void> {
  const codeText = args[0];
  if (!codeText || codeText.startsWith('-'))
    throw new UsageError('usage: peermesh join CODE [options of "up"]');
  const { decodeInviteCode, InviteCodeError } = await import('../../core/invites');
  const { askInviter, saveJoinedEpoch } = await import('../../node/join');
  let code: ReturnType<typeof decodeInviteCode>;
  try {
    code = decodeInviteCode(codeText);
  } catch (e) {
    if (e instanceof InviteCodeError) throw new UsageError(e.message);
    throw e;
  }
  const rest = args.slice(1);
  const probe = buildUpConfig(splitDropFlags(rest).rest); // validates the options before anything happens
  if (code.expires * 1000 <= Date.now())
    fail(`this invitation expired at ${new Date(code.expires * 1000).toISOString()}; ask for a new one`, 1);
  const answer = await askInviter(code, probe.name).catch((e: Error) => fail(e.message, 1));
  if (!answer.ok) fail(`the network refused: ${answer.reason}`, 1);
  const dir = resolve(probe.stateDir);
  ensurePrivateDir(dir);
  const secretFile = join(dir, `${answer.network}.secret`);
  const configFile = join(dir, `${answer.network}.json`);
  refuseOtherNetwork(secretFile, answer.secret, answer.network, dir);
  writeFileAtomic(secretFile, Buffer.from(answer.secret), 0o600);
  saveJoinedEpoch(dir, answer);
  writeFileAtomic(configFile, `${JSON.stringify(joinedConfig(probe, dir, answer), null, 2)}\n`, 0o600);
  process.stderr.write(
    `joined network "${answer.network}"; saved ${configFile}. Next time: peermesh up -c ${configFile}\n`,
  );
  await cmdUp(['-c', configFile, ...rest]);
}

/**
 * Two networks may share a name (a network is its name and its secret). Joining one must never
 * overwrite the files of another of the same name in this state directory; joining the same network
 * again (same secret) refreshes them.
 */
function refuseOtherNetwork(secretFile: string, secret: Uint8Array, network: string, dir: string): void {
  let old: Buffer;
  try {
    old = readFileSync(secretFile);
  } catch {
    return; // nothing there yet
  }
  if (old.length !== secret.length || !timingSafeEqual(old, secret))
    fail(
      `another network named "${network}" is already set up in ${dir} (${network}.json): ` +
        'leave it, or join with another --state-dir',
      1,
    );
}

/**
 * The config `peermesh up -c` starts the same device with: its state directory (its identity) and
 * its name, the options given to join that shape the node, and the network (secret file beside it).
 */
function joinedConfig(
  probe: NodeConfig,
  dir: string,
  answer: { network: string; bootstrap: string[] },
): Record<string, unknown> {
  const d = defaults();
  const c: Record<string, unknown> = { stateDir: dir, name: probe.name };
  if (probe.interface !== d.interface) c.interface = probe.interface;
  if (probe.listenPort !== d.listenPort) c.listenPort = probe.listenPort;
  if (probe.mtu !== d.mtu) c.mtu = probe.mtu;
  if (probe.hostsFile !== d.hostsFile)
    c.hostsFile = probe.hostsFile === null ? null : resolve(probe.hostsFile);
  if (probe.logLevel !== d.logLevel) c.logLevel = probe.logLevel;
  c.network = {
    name: answer.network,
    secretFile: `${answer.network}.secret`,
    bootstrap: answer.bootstrap,
    ...(probe.network?.relay ? { relay: true } : {}),
    ...(probe.network?.advertiseRoutes?.length ? { advertiseRoutes: probe.network.advertiseRoutes } : {}),
  };
  return c;
}

export async function cmdRemove(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, NODE_FLAGS);
  if (positionals.length !== 1)
    throw new UsageError('usage: peermesh remove PEER (a key, name or overlay IPv4)');
  const r = await askNode<{ removed: string; name: string }>(socketIn(nodeDir(values)), 'remove', {
    peer: positionals[0],
  });
  process.stdout.write(`removed "${r.name}" (${r.removed}) from the network\n`);
}
