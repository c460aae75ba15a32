// A file's capabilities (the `security.capability` extended attribute) as getcap shows them, and
// whether a uid may execute a file by its mode bits: what the desktop app (main/app/privilege.ts)
// and `peermesh up --ui` as root (main/node/core-helper.ts) ask of a helper before they start it.
//
// Node has no getxattr(2), so capabilities are read with `getcap` from libcap2-bin (Debian/Ubuntu:
// libcap2-bin, Fedora: libcap), whose text output is parsed here (both its formats:
// `PATH cap_net_admin=ep` from libcap >= 2.26 and `PATH = cap_net_admin+ep` before). Without getcap
// the answer is "unknown".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const GETCAP_PATHS = ['/usr/sbin/getcap', '/sbin/getcap', '/usr/bin/getcap', '/bin/getcap'];

export interface FileCaps {
  /** Whether the capabilities could be read at all. */
  known: boolean;
  /** cap_net_admin in both the permitted and the effective set. */
  netAdmin: boolean;
  /** cap_net_bind_service likewise (the helper binds the DNS responder's port 53 with it). */
  netBindService?: boolean;
  /** getcap's line, for the log. */
  text: string;
}

/**
 * Whether a capability text (cap_to_text(3) format, the part after the path) grants cap_net_admin
 * permitted + effective.
 */
export function capTextHasNetAdmin(text: string): boolean {
  return capTextGrants(text, 'cap_net_admin');
}

/**
 * Whether a capability text grants `cap` permitted + effective. Clauses are separated by spaces:
 * `caps OP flags [OP flags]...`, OP one of `=` (set exactly), `+` (add), `-` (remove); an empty or
 * `all` caps list means every capability.
 */
export function capTextGrants(text: string, cap: string): boolean {
  const flags = new Set<string>();
  for (const clause of text.trim().split(/\s+/)) {
    if (!clause) continue;
    const m = /^([a-z0-9_,]*)((?:[=+-][eip]*)+)$/i.exec(clause);
    if (!m) continue;
    const caps = m[1].toLowerCase().split(',').filter(Boolean);
    const applies = caps.length === 0 || caps.includes('all') || caps.includes(cap);
    if (!applies) continue;
    for (const op of m[2].match(/[=+-][eip]*/gi) ?? []) {
      const f = op.slice(1).toLowerCase();
      if (op[0] === '=') flags.clear();
      for (const c of f) {
        if (op[0] === '-') flags.delete(c);
        else flags.add(c);
      }
    }
  }
  return flags.has('e') && flags.has('p');
}

/** Parses getcap's output for `path` (empty output: no capabilities). */
export function parseGetcap(output: string, path: string): FileCaps {
  const line = output.split('\n').find((l) => l.startsWith(path)) ?? '';
  if (!line) return { known: true, netAdmin: false, text: '' };
  const rest = line
    .slice(path.length)
    .replace(/^\s*=\s+/, ' ')
    .trim();
  return {
    known: true,
    netAdmin: capTextHasNetAdmin(rest),
    netBindService: capTextGrants(rest, 'cap_net_bind_service'),
    text: line.trim(),
  };
}

export interface ProbeOptions {
  getcapPaths?: string[];
  /** Runs a command; default spawnSync with a 5 s timeout. */
  run?: (cmd: string, args: string[]) => { status: number | null; stdout: string; error?: Error };
}

function defaultRun(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  return { status: r.status, stdout: r.stdout ?? '', error: r.error };
}

/** The helper's file capabilities through getcap; `known: false` without a working getcap. */
export function readFileCaps(path: string, opts: ProbeOptions = {}): FileCaps {
  const run = opts.run ?? defaultRun;
  const tool = (opts.getcapPaths ?? GETCAP_PATHS).find((p) => existsSync(p));
  if (!tool) return { known: false, netAdmin: false, text: 'getcap not found (install libcap2-bin)' };
  const r = run(tool, [path]);
  if (r.error || r.status !== 0)
    return {
      known: false,
      netAdmin: false,
      text: `getcap failed: ${r.error?.message ?? `exit ${r.status}`}`,
    };
  return parseGetcap(r.stdout, path);
}

/** The permission bits that decide whether `uid` (with groups `gids`) may execute a file. */
export function canExecute(
  st: { mode: number; uid: number; gid: number },
  uid: number,
  gids: number[],
): boolean {
  if (uid === 0) return (st.mode & 0o111) !== 0;
  if (st.uid === uid) return (st.mode & 0o100) !== 0;
  if (gids.includes(st.gid)) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}
