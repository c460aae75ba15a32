// `peermesh up --ui` and `peermesh ui` as root: the web UI's NodeManager starts and stops the node — and so the TUN
// helper — at runtime (the UI's disconnect/connect), long after the process dropped root. So before
// the drop, root makes sure a helper exists that the dropped user may start and that gets
// CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE, for the DNS responder's port 53 on its own overlay
// addresses only) from its file capability, as the packages' helper does for its group
// (docs/helper.md "Privileges", docs/security.md section 12):
//
//   - the helper itself when it already is one: owned by root, not writable by anyone else, with
//     cap_net_admin,cap_net_bind_service+ep, executable by the user's uid or primary gid (a packaged
//     helper whose group is the user's group);
//   - else a private copy, byte for byte the helper root would have run (sha256 compared):
//     /usr/local/lib/peermesh/peermesh-helper.<user>, root:<the user's group> mode 0750,
//     `setcap cap_net_admin,cap_net_bind_service+ep`, in a root-owned directory no one else may
//     write (nor may anyone write a directory above it, unless sticky), made beside it under an
//     unpredictable name and renamed over it once complete; a copy there that is exactly that (both
//     capabilities included) is kept.
//
// Refused (one line, naming --stay-root as the explicit alternative): the user's group is not its
// own (another account has it as its primary group, or is listed in it: the copy would be theirs
// too), a /dev/net/tun the user may not open, no setcap, a file system without file capabilities (setcap fails: no xattrs) or mounted
// nosuid (the kernel ignores file capabilities there), an unsafe directory.
//
// The helper started that way runs as the user, so its policy for callers that are not root applies
// (docs/helper.md "Who may run it"): overlay addresses and routes, other routes and forwarded subnets
// only as root listed them in /etc/peermesh/route.allow and forward.allow, no --user.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { canExecute, readFileCaps } from '../io/file-caps';
import { ConfigError } from './config';
import { lookupGroup, type RunAs, unreachable, usersWithPrimaryGroup } from './privdrop';

/** Where root puts the private copies (one per user). */
export const CORE_HELPER_DIR = '/usr/local/lib/peermesh';
/**
 * Test hook: another directory for the copies (root's environment only: this process is root when
 * it reads it). test/netns/privdrop-ui.test.ts points it at a scratch directory, and at a file
 * system without extended attributes to see the refusal.
 */
export const CORE_HELPER_DIR_ENV = 'PEERMESH_CORE_HELPER_DIR';
const TUN_DEVICE = '/dev/net/tun';
export const SETCAP_PATHS = ['/usr/sbin/setcap', '/sbin/setcap', '/usr/bin/setcap', '/bin/setcap'];
/**
 * The helper's file capabilities (as the packages give them): cap_net_admin for the device, routes
 * and janitor; cap_net_bind_service for its --dns sockets only (docs/helper.md "Privileges").
 */
export const HELPER_CAPS = 'cap_net_admin,cap_net_bind_service+ep';

export interface CapableHelper {
  path: string;
  /** 'as-is': the helper itself; 'kept': the copy was there already; 'installed': copied now. */
  how: 'as-is' | 'kept' | 'installed';
}

/** The one-line refusal: what failed, and the explicit alternative. */
function cannot(who: RunAs, why: string): ConfigError {
  return new ConfigError(
    `the web UI as root (up --ui, ui): no helper with cap_net_admin that ${who.name} may start (${why}); the web UI's ` +
      `node runs as ${who.name} and starts the helper at each connect. Fix that, or keep root ` +
      'explicitly with --stay-root (unsafe: docs/security.md section 12)',
  );
}

/** The helper's allow list of routes for callers that are not root (compiled into the helper). */
export const ROUTE_ALLOW = '/etc/peermesh/route.allow';

/**
 * Whether an allow list (docs/helper.md "Who may run it": one CIDR per line, `#` comments) lists
 * 0.0.0.0/0, which the helper requires before it routes a user's traffic through an exit node. Only
 * this one line is looked for; the helper itself still checks the whole file (owner, mode, syntax).
 */
export function allowsEverything(text: string): boolean {
  return text.split('\n').some((l) => l.replace(/#.*/, '').trim() === '0.0.0.0/0');
}

/** Mount options of the mount `path` lies on, from a /proc/self/mountinfo text (its longest prefix). */
export function mountOptionsOf(mountinfo: string, path: string): string[] {
  let best = '';
  let opts: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    const mnt = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    const inside = mnt === '/' || path === mnt || path.startsWith(`${mnt}/`);
    if (inside && mnt.length >= best.length) {
      best = mnt;
      opts = f[5].split(',');
    }
  }
  return opts;
}

/**
 * Whether `dir` and every directory above it are root's and written by root alone (a world-writable
 * sticky directory such as /tmp above it is fine: no one may rename root's entries there).
 * Returns what is wrong, or null.
 */
export function unsafeDirectory(
  dir: string,
  lstat: (p: string) => { uid: number; mode: number; isDirectory(): boolean } = lstatSync,
): string | null {
  for (let p = resolve(dir), first = true; ; p = dirname(p), first = false) {
    const st = lstat(p);
    if (!st.isDirectory()) return `${p} is not a directory`;
    const sticky = (st.mode & 0o1000) !== 0;
    if (st.uid !== 0) return `${p} is not owned by root`;
    if ((st.mode & 0o022) !== 0 && (first || !sticky))
      return `${p} is writable by others than root (mode ${(st.mode & 0o7777).toString(8)})`;
    if (dirname(p) === p) return null;
  }
}

/** Whether `who` may open the TUN clone device for reading and writing by its mode bits. */
export function tunOpenableBy(st: { uid: number; gid: number; mode: number }, who: RunAs): boolean {
  const need = st.uid === who.uid ? 0o600 : st.gid === who.gid ? 0o060 : 0o006;
  return (st.mode & need) === need;
}

/** Throws (naming --stay-root) unless `who` may open /dev/net/tun: the helper opens it as the user. */
export function checkTunOpenable(who: RunAs): void {
  const tun = statSync(TUN_DEVICE, { throwIfNoEntry: false });
  if (!tun || !tunOpenableBy(tun, who))
    throw cannot(
      who,
      tun
        ? `${TUN_DEVICE} is mode ${(tun.mode & 0o777).toString(8)}: ${who.name} cannot open it (distributions ship it 0666, as \`chmod 666 ${TUN_DEVICE}\` makes it: every open still needs cap_net_admin to create a device)`
        : `no ${TUN_DEVICE}`,
    );
}

/** Who else could run a copy that is root:<who's group> 0750: other accounts of that group. */
export function groupSharers(who: RunAs, primaryOf = usersWithPrimaryGroup, group = lookupGroup): string[] {
  const others = new Set(primaryOf(who.gid).filter((n) => n !== who.name));
  for (const m of group(who.gid)?.members ?? []) if (m !== who.name) others.add(m);
  return [...others].sort();
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Both of the helper's capabilities (HELPER_CAPS): a helper with cap_net_admin alone is copied anew. */
function hasHelperCaps(path: string): boolean {
  const caps = readFileCaps(path);
  return caps.netAdmin && !!caps.netBindService;
}

/** The mount option under which the kernel ignores file capabilities at `path` (nosuid, noexec), or null. */
function capsIgnoredAt(path: string): string | null {
  const opts = mountOptionsOf(readFileSync('/proc/self/mountinfo', 'utf8'), realpathSync(path));
  return ['nosuid', 'noexec'].find((o) => opts.includes(o)) ?? null;
}

/** The helper as it is, when it already is a capable helper `who` may start. */
function usableAsIs(path: string, who: RunAs): boolean {
  const st = lstatSync(path);
  return (
    st.isFile() &&
    st.uid === 0 &&
    (st.mode & 0o022) === 0 &&
    canExecute(st, who.uid, [who.gid]) &&
    unsafeDirectory(dirname(path)) === null &&
    unreachable(path, who) === null &&
    capsIgnoredAt(path) === null &&
    hasHelperCaps(path)
  );
}

/** An existing copy that is exactly what would be installed. */
function keptCopy(path: string, who: RunAs, hash: string): boolean {
  try {
    const st = lstatSync(path);
    return (
      st.isFile() &&
      st.nlink === 1 &&
      st.uid === 0 &&
      st.gid === who.gid &&
      (st.mode & 0o7777) === 0o750 &&
      sha256(readFileSync(path)) === hash &&
      hasHelperCaps(path)
    );
  } catch {
    return false;
  }
}

/** The missing directories of `dir`, made 0755 whatever root's umask (the user must pass them). */
function makeDirs(dir: string): void {
  if (existsSync(dir)) return;
  makeDirs(dirname(dir));
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
}

/**
 * A helper with cap_net_admin that `who` may start, identical to `helper` (see the top of the file).
 * Root only; throws a ConfigError naming --stay-root when none can be made.
 */
export function ensureCapableHelper(helper: string, who: RunAs, dirOverride?: string): CapableHelper {
  let bytes: Buffer;
  try {
    bytes = readFileSync(helper);
  } catch (e) {
    throw cannot(who, `cannot read ${helper}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (usableAsIs(helper, who)) return { path: helper, how: 'as-is' };
  const sharers = groupSharers(who);
  if (sharers.length)
    throw cannot(
      who,
      `its group ${lookupGroup(who.gid)?.name ?? who.gid} is also ${sharers.join(', ')}'s, who could start ` +
        'the copy too: give it a group of its own or choose another --user',
    );
  const dir = resolve(dirOverride ?? process.env[CORE_HELPER_DIR_ENV] ?? CORE_HELPER_DIR);
  makeDirs(dir);
  const unsafe = unsafeDirectory(dir);
  if (unsafe) throw cannot(who, unsafe);
  const dst = join(dir, `peermesh-helper.${who.name}`);
  const closed = unreachable(dst, who);
  if (closed) throw cannot(who, `${who.name} cannot reach ${dir}: ${closed}`);
  const ignored = capsIgnoredAt(dir);
  if (ignored)
    throw cannot(who, `${dir} is on a file system mounted ${ignored}, where file capabilities do not apply`);
  const hash = sha256(bytes);
  if (keptCopy(dst, who, hash)) return { path: dst, how: 'kept' };
  const setcap = SETCAP_PATHS.find((p) => existsSync(p));
  if (!setcap) throw cannot(who, 'setcap not found: install libcap2-bin');
  // A new file beside the old, complete before it takes the name: a running helper keeps its own.
  // chown before setcap (changing the owner clears file capabilities).
  const tmp = join(dir, `.peermesh-helper.${who.name}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o700);
  try {
    try {
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chownSync(tmp, 0, who.gid);
    chmodSync(tmp, 0o750);
    try {
      execFileSync(setcap, [HELPER_CAPS, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const err = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop();
      throw cannot(who, `setcap on ${dir} failed: ${err || (e as Error).message}`);
    }
    const caps = readFileCaps(tmp);
    if (!caps.netAdmin || !caps.netBindService)
      throw cannot(who, caps.known ? `the capability did not stay on the copy in ${dir}` : caps.text);
    renameSync(tmp, dst);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return { path: dst, how: 'installed' };
}
