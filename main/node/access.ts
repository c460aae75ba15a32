// Who may reach this machine through the mesh (docs/access.md): each machine decides for itself, no
// central policy. Rules name a member (kept by key, so a rename or an address change follows it) or
// `all`, and a protocol and ports; a member's own rules come before the rules for `all`, then the
// default (allow unless the user says deny). Replies to connections this machine opened always pass.
// Kept in `<state-dir>/access-<network>.json` (0600) and enforced by the helper's janitor in an
// nftables table on the device's input (both data paths write to the device, so both are covered);
// packets dropped are counted there and read back every few seconds.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type AccessRow, type AccessStatus, ApiFailure } from '../control/api';
import { parseIp } from '../core/ip';
import type { Mesh } from '../core/mesh';
import { KEY_RE } from '../core/mesh/records';
import { writeFileAtomic } from '../io/files';
import type { AccessWireRule, TunHelper } from '../io/helper';
import type { Logger } from './log';

export const MAX_ACCESS_RULES = 128;
/** How often the dropped-packet count is read back while something can drop (ms). */
const COUNT_EVERY = 2_000;
/** How often rules the host refused are tried again (ms). */
const RETRY_MS = 30_000;

export type AccessProto = 'any' | 'tcp' | 'udp' | 'icmp';

export interface AccessRule {
  allow: boolean;
  /** A member's key, or 'all'. */
  peer: string;
  proto: AccessProto;
  /** First and last port (tcp/udp), or null: every port. */
  ports: [number, number] | null;
}

/**
 * What a rule covers, from its text: `tcp/22`, `udp/60000-61000`, `tcp` (every port), `icmp`, `any`
 * (or nothing: everything). Throws a clear error otherwise.
 */
export function parseAccessSpec(text: string | undefined): Pick<AccessRule, 'proto' | 'ports'> {
  const t = (text ?? 'any').trim().toLowerCase();
  if (t === 'any' || t === 'all' || t === '') return { proto: 'any', ports: null };
  if (t === 'icmp' || t === 'ping') return { proto: 'icmp', ports: null };
  const m = /^(tcp|udp)(?:\/(\d{1,5})(?:-(\d{1,5}))?)?$/.exec(t);
  if (!m)
    throw new ApiFailure(
      'failed',
      `"${t.slice(0, 40)}" is not a protocol and port (tcp/22, udp/60000-61000, tcp, icmp or any)`,
    );
  if (m[2] === undefined) return { proto: m[1] as AccessProto, ports: null };
  const lo = Number(m[2]);
  const hi = m[3] === undefined ? lo : Number(m[3]);
  if (lo < 1 || hi > 65535 || lo > hi)
    throw new ApiFailure(
      'failed',
      `ports must be 1-65535, the first not above the last (got ${m[2]}-${m[3] ?? m[2]})`,
    );
  return { proto: m[1] as AccessProto, ports: [lo, hi] };
}

export function accessSpecText(r: Pick<AccessRule, 'proto' | 'ports'>): string {
  if (r.proto === 'any' || r.proto === 'icmp') return r.proto;
  if (!r.ports) return r.proto;
  return r.ports[0] === r.ports[1] ? `${r.proto}/${r.ports[0]}` : `${r.proto}/${r.ports[0]}-${r.ports[1]}`;
}

const sameWhat = (a: AccessRule, b: AccessRule) =>
  a.peer === b.peer && a.proto === b.proto && a.ports?.[0] === b.ports?.[0] && a.ports?.[1] === b.ports?.[1];

export class AccessRules {
  private defaultDeny = false;
  private rules: AccessRule[] = [];
  /** What the janitor holds (a text of the wire rules) and whether the last change failed. */
  private applied = '';
  private pending = '';
  private error: string | null = null;
  private dropped = 0;
  private failed = '';
  private failedAt = 0;
  private lastCount = 0;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Read the saved rules (a missing file: none; a damaged entry is skipped). */
  load(): void {
    let d: { default?: unknown; rules?: unknown };
    try {
      d = (JSON.parse(readFileSync(this.file, 'utf8')) ?? {}) as typeof d;
    } catch {
      return;
    }
    this.defaultDeny = d.default === 'deny';
    if (!Array.isArray(d.rules)) return;
    for (const x of d.rules.slice(0, MAX_ACCESS_RULES)) {
      const r = (x ?? {}) as Record<string, unknown>;
      if (typeof r.peer !== 'string' || (r.peer !== 'all' && !KEY_RE.test(r.peer))) continue;
      try {
        const what = parseAccessSpec(typeof r.what === 'string' ? r.what : 'invalid');
        this.rules.push({ allow: r.action === 'allow', peer: r.peer, ...what });
      } catch {
        /* skipped */
      }
    }
  }

  private save(): void {
    const rules = this.rules.map((r) => ({
      action: r.allow ? 'allow' : 'deny',
      peer: r.peer,
      what: accessSpecText(r),
    }));
    writeFileAtomic(
      this.file,
      `${JSON.stringify({ default: this.defaultDeny ? 'deny' : 'allow', rules }, null, 1)}\n`,
      0o600,
    );
  }

  /**
   * `allow` / `deny`: a rule for a member (or all) and what it covers; the same member and coverage
   * replaces the earlier rule. `default`: the policy when no rule matches. `remove`: the rule at a
   * 1-based position of status().rules. The host follows at once. `keyOf` gives the key of the member a
   * request names (the node's one lookup, api-handlers.ts memberNamed: an ambiguous name is refused).
   */
  change(
    mesh: Mesh,
    keyOf: (peer: string) => string,
    tun: TunHelper | null,
    p: {
      op: 'allow' | 'deny' | 'remove' | 'default';
      peer?: string;
      what?: string;
      policy?: 'allow' | 'deny';
      index?: number;
    },
    dnsOn: boolean,
  ): AccessStatus {
    if (p.op === 'default') {
      if (!p.policy) throw new ApiFailure('failed', 'say the default: allow or deny');
      this.defaultDeny = p.policy === 'deny';
    } else if (p.op === 'remove') {
      const i = (p.index ?? 0) - 1;
      const order = this.ordered();
      if (i < 0 || i >= order.length)
        throw new ApiFailure('failed', `no rule ${p.index ?? ''} (there are ${order.length})`);
      this.rules = this.rules.filter((r) => r !== order[i]);
    } else {
      if (!p.peer) throw new ApiFailure('failed', 'say which member (a name, or all)');
      const rule: AccessRule = {
        allow: p.op === 'allow',
        peer: p.peer === 'all' ? 'all' : keyOf(p.peer),
        ...parseAccessSpec(p.what),
      };
      const rest = this.rules.filter((r) => !sameWhat(r, rule));
      if (rest.length >= MAX_ACCESS_RULES)
        throw new ApiFailure('failed', `at most ${MAX_ACCESS_RULES} rules`);
      this.rules = [...rest, rule];
    }
    this.save();
    this.sync(mesh, tun, dnsOn);
    return this.status(mesh);
  }

  /** Members' rules first, then the rules for all, each in the order given. */
  private ordered(): AccessRule[] {
    return [...this.rules.filter((r) => r.peer !== 'all'), ...this.rules.filter((r) => r.peer === 'all')];
  }

  /** The rules as the janitor takes them (members that left the network drop out; their rule stays). */
  private wire(mesh: Mesh, dnsOn: boolean): AccessWireRule[] {
    const out: AccessWireRule[] = [];
    // The network's names keep working whatever the rules say: DNS to our responder (docs/dns.md).
    if (dnsOn && (this.defaultDeny || this.rules.some((r) => !r.allow)))
      for (const proto of ['udp', 'tcp'] as const)
        out.push({ allow: true, proto, ports: [53, 53], from: null });
    for (const r of this.ordered()) {
      let from: AccessWireRule['from'] = null;
      if (r.peer !== 'all') {
        const m = mesh.members.get(r.peer);
        if (!m?.rec || m.removed) continue;
        const a = mesh.addressesOf(r.peer);
        from = { v4: parseIp(a.v4)!.bytes, v6: parseIp(a.v6)!.bytes };
      }
      out.push({ allow: r.allow, proto: r.proto, ports: r.ports, from });
    }
    return out;
  }

  /** Bring the host's rules in line (at start, after a change, when members' addresses change). */
  sync(mesh: Mesh | null, tun: TunHelper | null, dnsOn: boolean): void {
    if (!mesh || !tun) return;
    const rules = this.wire(mesh, dnsOn);
    const active = this.defaultDeny || rules.some((r) => !r.allow);
    const text = active
      ? JSON.stringify([
          this.defaultDeny,
          rules.map((r) => [r.allow, r.proto, r.ports, r.from && [...r.from.v4, ...r.from.v6]]),
        ])
      : 'off';
    if (text === this.applied || text === this.pending) return;
    // After a failure the same rules are tried again every RETRY_MS, not every second.
    if (text === this.failed && performance.now() - this.failedAt < RETRY_MS) return;
    this.pending = text;
    if (!active) tun.clearAccess();
    else
      tun.setAccess(
        this.defaultDeny,
        parseIp(mesh.addressesOf(mesh.selfKey).v6)!.bytes.subarray(0, 8),
        rules,
      );
  }

  /** The janitor's answers (onRoute): applied or failed, and the dropped count. */
  answered(op: string, error: string | null, count: number): void {
    if (op === 'access-count') {
      if (!error) this.dropped = count;
      return;
    }
    if (op === 'access-commit' || op === 'access-off') {
      if (error) {
        this.error = `access rules not applied: ${error}`;
        this.log.error(this.error);
      } else {
        this.error = null;
        if (op === 'access-off') this.dropped = 0;
        if (this.applied !== this.pending)
          this.log.info(
            op === 'access-off'
              ? 'access rules: none (all members may reach this machine)'
              : 'access rules applied',
          );
      }
      if (error) {
        this.failed = this.pending;
        this.failedAt = performance.now();
      }
      this.applied = error ? '' : this.pending;
      this.pending = '';
    } else if (op.startsWith('access-') && error) {
      this.error = `access rules not applied: ${error}`;
    }
  }

  /** Read the dropped count now and then, while something can drop. */
  tick(now: number, tun: TunHelper | null): void {
    if (!tun || this.applied === '' || this.applied === 'off' || now - this.lastCount < COUNT_EVERY) return;
    this.lastCount = now;
    tun.askAccessDropped();
  }

  status(mesh: Mesh | null): AccessStatus {
    const nameOf = (key: string) => (key === 'all' ? 'all' : (mesh?.members.get(key)?.name ?? ''));
    const rows = this.ordered().map(
      (r): AccessRow => ({
        action: r.allow ? 'allow' : 'deny',
        peer: r.peer,
        name: nameOf(r.peer),
        what: accessSpecText(r),
        inNetwork:
          r.peer === 'all' || !!(mesh?.members.get(r.peer)?.rec && !mesh.members.get(r.peer)?.removed),
      }),
    );
    return {
      default: this.defaultDeny ? 'deny' : 'allow',
      rules: rows,
      applied: this.pending === '' && this.error === null,
      error: this.error,
      dropped: this.dropped,
    };
  }

  /** What a member may reach here, in a few words (the peer list's "may reach this machine"). */
  summaryFor(key: string): string {
    const allowed: string[] = [];
    const denied: string[] = [];
    for (const r of this.ordered()) {
      if (r.peer !== key && r.peer !== 'all') continue;
      if (r.proto === 'any') {
        if (r.allow) return denied.length ? `everything except ${denied.join(', ')}` : 'everything';
        return allowed.length ? `${allowed.join(', ')} only` : 'nothing';
      }
      (r.allow ? allowed : denied).push(accessSpecText(r));
    }
    if (!this.defaultDeny) return denied.length ? `everything except ${denied.join(', ')}` : 'everything';
    return allowed.length ? `${allowed.join(', ')} only` : 'nothing';
  }
}
