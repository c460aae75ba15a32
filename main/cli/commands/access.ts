// `peermesh allow NAME|all [WHAT]`, `peermesh deny NAME|all [WHAT]`, `peermesh access`: who may reach
// this machine through the mesh (docs/access.md). Through the running node's control socket.

import type { AccessStatus } from '../../control/api';
import { NODE_FLAGS, nodeDir, parse, UsageError } from '../args';
import { askNode, socketIn } from '../node-socket';
import { printTable } from './status';

const USAGE =
  'usage: peermesh allow|deny NAME|all [tcp/PORT[-PORT]|udp/PORT[-PORT]|tcp|udp|icmp|any]\n' +
  '       peermesh access [--json] | access default allow|deny | access remove N';

function show(s: AccessStatus, json: unknown): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const lines = [
    `default: ${s.default} (when no rule matches)`,
    s.error ? `NOT APPLIED: ${s.error}` : s.applied ? 'applied on this machine' : 'being applied',
    `dropped: ${s.dropped} packets from the mesh`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!s.rules.length) {
    process.stdout.write('no rules\n');
    return;
  }
  const table = [['#', 'ACTION', 'WHO', 'WHAT']];
  s.rules.forEach((r, i) => {
    const who =
      r.peer === 'all' ? 'all' : `${r.name || '?'} (${r.peer.slice(0, 8)})${r.inNetwork ? '' : ' [gone]'}`;
    table.push([String(i + 1), r.action, who, r.what]);
  });
  printTable(table);
}

/** `peermesh allow` / `peermesh deny`: a rule for a member (or all). */
export function cmdAllowDeny(action: 'allow' | 'deny'): (args: string[]) => Promise<void> {
  return async (args) => {
    const { values, positionals } = parse(args, { json: { type: 'boolean' }, ...NODE_FLAGS });
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError(USAGE);
    const [peer, what] = positionals;
    const s = await askNode<AccessStatus>(socketIn(nodeDir(values)), 'set-access', {
      op: action,
      peer,
      ...(what ? { what } : {}),
    });
    show(s, values.json);
  };
}

/** `peermesh access`: show the rules; `default allow|deny`; `remove N`. */
export async function cmdAccess(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, ...NODE_FLAGS });
  const socket = socketIn(nodeDir(values));
  const [verb, arg, ...extra] = positionals;
  if (extra.length) throw new UsageError(USAGE);
  let s: AccessStatus;
  if (!verb) s = await askNode<AccessStatus>(socket, 'access');
  else if (verb === 'default' && (arg === 'allow' || arg === 'deny'))
    s = await askNode<AccessStatus>(socket, 'set-access', { op: 'default', policy: arg });
  else if (verb === 'remove' && arg && /^\d{1,4}$/.test(arg))
    s = await askNode<AccessStatus>(socket, 'set-access', { op: 'remove', index: Number(arg) });
  else throw new UsageError(USAGE);
  show(s, values.json);
}
