// `peermesh routes`: the routes members offer and their state here; `peermesh routes accept
// CIDR|all` routes an offer (docs/mesh.md "Subnet routes"), `peermesh routes decline CIDR` stops
// routing it and keeps it declined. Through the running node's control socket.

import type { RouteRow } from '../../control/api';
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
