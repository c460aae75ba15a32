// `peermesh routes`: the routes members offer and their state here; `peermesh routes accept
// CIDR|all` routes an offer (docs/mesh.md "Subnet routes"), `peermesh routes decline CIDR` stops
// routing it and keeps it declined; `peermesh exit-node` chooses an exit node. Through the running
// node's control socket.

import type { ExitStatus, RouteRow } from '../../control/api';
import { NODE_FLAGS, nodeDir, parse, UsageError } from '../args';
import { askNode, socketIn } from '../node-socket';
import { printTable } from './status';

const USAGE = 'usage: peermesh routes [--json] | routes accept CIDR|all | routes decline CIDR';

export async function cmdRoutes(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, ...NODE_FLAGS });
  const socket = socketIn(nodeDir(values));
  const [verb, route, ...extra] = positionals;
  if (extra.length || (verb && !route)) throw new UsageError(USAGE);
  if (verb === 'accept') {
    const r = await askNode<{ accepted: string[] }>(socket, 'accept-route', { route });
    process.stdout.write(
      r.accepted.length ? `accepted ${r.accepted.join(', ')}\n` : 'no route offered that holds\n',
    );
    return;
  }
  if (verb === 'decline') {
    const r = await askNode<{ declined: string }>(socket, 'decline-route', { route });
    process.stdout.write(`declined ${r.declined}\n`);
    return;
  }
  if (verb) throw new UsageError(USAGE);
  const rows = await askNode<RouteRow[]>(socket, 'routes');
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (!rows.length) {
    process.stdout.write('no member offers a route\n');
    return;
  }
  const table = [['ROUTE', 'OFFERED BY', 'STATE', 'WHY']];
  for (const r of rows) table.push([r.route, `${r.name} (${r.key.slice(0, 8)})`, r.state, r.reason ?? '']);
  printTable(table);
}

const EXIT_USAGE =
  'usage: peermesh exit-node [--json] | exit-node NAME|none [--allow-lan|--no-allow-lan] [--fail-open|--fail-closed]';

/**
 * `peermesh exit-node` (also `peermesh set exit-node`): show this machine's exit node and the members
 * that offer to be one, or choose one (`none`: stop). docs/exit-nodes.md.
 */
export async function cmdExitNode(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    'allow-lan': { type: 'boolean' },
    'no-allow-lan': { type: 'boolean' },
    'fail-open': { type: 'boolean' },
    'fail-closed': { type: 'boolean' },
    ...NODE_FLAGS,
  });
  const socket = socketIn(nodeDir(values));
  if (positionals.length > 1) throw new UsageError(EXIT_USAGE);
  if ((values['allow-lan'] && values['no-allow-lan']) || (values['fail-open'] && values['fail-closed']))
    throw new UsageError(EXIT_USAGE);
  let s: ExitStatus;
  if (positionals.length) {
    const opt = (yes: unknown, no: unknown) => (yes ? true : no ? false : undefined);
    const allowLan = opt(values['allow-lan'], values['no-allow-lan']);
    const failOpen = opt(values['fail-open'], values['fail-closed']);
    s = await askNode<ExitStatus>(socket, 'exit-node', {
      node: positionals[0],
      ...(allowLan !== undefined ? { allowLan } : {}),
      ...(failOpen !== undefined ? { failOpen } : {}),
    });
  } else {
    const st = await askNode<{ network: { exitNode: ExitStatus } | null }>(socket, 'status');
    if (!st.network) throw new UsageError('this node is not a member of a network');
    s = st.network.exitNode;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const lines = [
    s.state === 'none'
      ? 'exit node: none'
      : `exit node: ${s.node} (${s.state}${s.reason ? `: ${s.reason}` : ''})`,
    `LAN access while using it: ${s.allowLan ? 'yes' : 'no'}; when it goes away: ${s.failOpen ? "use this machine's uplink (fail open)" : 'block (fail closed)'}`,
    `offered by: ${s.offeredBy.length ? s.offeredBy.join(', ') : 'no member'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
