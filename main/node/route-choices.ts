// This machine's user's choices about the routes members offer (docs/mesh.md "Subnet routes"): which
// are accepted (a route together with the member offering it) and which declined (a route, whoever
// offers it), kept in `<state-dir>/routes-<network>.json` (0600, written atomically). The mesh asks
// `accepts()` for every offer that holds in the network; `--accept-routes` accepts by itself those in
// private address space.
import { readFileSync } from 'node:fs';
import type { RouteRow } from '../control/api';
import { formatCidr, parseCidr } from '../core/ip';
import { isPrivateRoute, type Mesh, type RouteClaim } from '../core/mesh';
import { writeFileAtomic } from '../io/files';

const KEY_RE = /^[A-Za-z0-9+/]{43}=$/;
const MAX_ENTRIES = 1024;

/** A CIDR in its normal form (host bits cleared), or null. */
export function normalRoute(s: string): string | null {
  const c = parseCidr(s);
  return c && s.includes('/') ? formatCidr(c) : null;
}

export class RouteChoices {
  /** "route key" of accepted offers. */
  private readonly accepted = new Set<string>();
  private readonly declined = new Set<string>();

  constructor(
    private readonly file: string,
    /** `--accept-routes`: accept offers in private address space without asking. */
    readonly acceptPrivate: boolean,
  ) {}

  /** Read the saved choices (a missing file: none; a damaged entry is skipped). */
  load(): void {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch {
      return;
    }
    const d = (data ?? {}) as { accepted?: unknown; declined?: unknown };
    if (Array.isArray(d.accepted))
      for (const a of d.accepted.slice(0, MAX_ENTRIES)) {
        const x = (a ?? {}) as { route?: unknown; key?: unknown };
        const route = typeof x.route === 'string' ? normalRoute(x.route) : null;
        if (route && typeof x.key === 'string' && KEY_RE.test(x.key)) this.accepted.add(`${route} ${x.key}`);
      }
    if (Array.isArray(d.declined))
      for (const r of d.declined.slice(0, MAX_ENTRIES)) {
        const route = typeof r === 'string' ? normalRoute(r) : null;
        if (route) this.declined.add(route);
      }
  }

  private save(): void {
    const accepted = [...this.accepted].map((e) => {
      const [route, key] = e.split(' ');
      return { route, key };
    });
    writeFileAtomic(
      this.file,
      `${JSON.stringify({ accepted, declined: [...this.declined] }, null, 1)}\n`,
      0o600,
    );
  }

  /** Whether the user takes this offer (asked by the mesh for offers that hold). */
  accepts(route: string, key: string): boolean {
    if (this.declined.has(route)) return false;
    if (this.accepted.has(`${route} ${key}`)) return true;
    return this.acceptPrivate && isPrivateRoute(parseCidr(route)!);
  }

  /**
   * Accept offers that hold: one route (from whoever offers it now) or `all`. Returns the routes
   * accepted; throws when the route is not offered or does not hold.
   */
  accept(mesh: Mesh, which: string): string[] {
    const claims = mesh.routeClaims().filter((c) => c.key !== mesh.selfKey);
    let picked: RouteClaim[];
    if (which === 'all') picked = claims.filter((c) => c.holds);
    else {
      const route = normalRoute(which);
      if (!route)
        throw new Error(`"${which.slice(0, 50)}" is not a route (CIDR such as 192.168.1.0/24) or "all"`);
      const offers = claims.filter((c) => c.route === route);
      if (!offers.length) throw new Error(`no member offers ${route}`);
      picked = offers.filter((c) => c.holds);
      if (!picked.length) throw new Error(`${route} is refused: ${offers[0].reason}`);
    }
    for (const c of picked) {
      this.declined.delete(c.route);
      this.accepted.add(`${c.route} ${c.key}`);
    }
    this.save();
    mesh.routesChanged();
    return picked.map((c) => c.route);
  }

  /** Decline a route, whoever offers it (also one not offered yet); it is removed at once. */
  decline(mesh: Mesh, which: string): string {
    const route = normalRoute(which);
    if (!route) throw new Error(`"${which.slice(0, 50)}" is not a route (CIDR such as 192.168.1.0/24)`);
    for (const e of [...this.accepted]) if (e.startsWith(`${route} `)) this.accepted.delete(e);
    this.declined.add(route);
    this.save();
    mesh.routesChanged();
    return route;
  }

  /** Every offer and its state here; `local(route)` says this machine sits on that subnet. */
  rows(mesh: Mesh, local: (route: string) => boolean): RouteRow[] {
    const nameOf = (key: string) => mesh.members.get(key)?.name ?? '';
    return mesh.routeClaims().map((c): RouteRow => {
      const base = {
        route: c.route,
        key: c.key,
        name: c.key === mesh.selfKey ? mesh.record.n : nameOf(c.key),
      };
      if (!c.holds) return { ...base, state: 'refused', reason: c.reason };
      if (c.key === mesh.selfKey) return { ...base, state: 'own', reason: null };
      if (this.declined.has(c.route)) return { ...base, state: 'declined', reason: 'declined here' };
      if (!mesh.routedOf(c.key).includes(c.route))
        return {
          ...base,
          state: 'offered',
          reason:
            this.acceptPrivate && !isPrivateRoute(parseCidr(c.route)!)
              ? 'public addresses: accept it by name'
              : 'not accepted here',
        };
      if (local(c.route)) return { ...base, state: 'local', reason: 'this machine is on it' };
      return { ...base, state: 'routed', reason: null };
    });
  }
}
