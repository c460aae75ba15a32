// `peermesh up` as root: once the TUN helper is up (device, UDP port, DNS port 53 and control socket
// bound, systemd-resolved told), the core — which parses every datagram strangers send — switches to
// an unprivileged user for the rest of its life: supplementary groups cleared, gid and uid set (real,
// effective and saved), so the kernel clears the permitted and effective capabilities. glibc applies
// set*id to every thread of the process (the data plane's and libuv's threads too); dropPrivileges
// checks each thread in /proc/self/task afterwards. docs/security.md "The core after `up` as root".
import { execFileSync } from 'node:child_process';
import { lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from './config';

/** The account the core runs as after the drop. */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/** The default account, created (`useradd --system`) when missing. */
export const DEFAULT_DROP_USER = 'peermesh';

const NAME_RE = /^[a-z_][a-z0-9_-]{0,31}\$?$/;

/** One account of passwd(5): the fields the drop uses. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

/** One group of group(5). */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A name as an entry of /etc/passwd or /etc/group may spell it (no separators, no NIS markers). */
const ENTRY_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/;
/** A uid or gid: decimal, below 2^32 - 1 ((uid_t)-1 means "no change" to the kernel). */
const ID_RE = /^(0|[1-9][0-9]{0,9})$/;

function entryId(s: string): number | null {
  if (!ID_RE.test(s)) return null;
  const n = Number(s);
  return n < 0xffffffff ? n : null;
}

/**
 * The lines of a passwd(5) or group(5) text that have exactly `fields` fields, a valid name and id
 * (field 2); blank lines, comments, NIS markers (`+`, `-`) and anything malformed are skipped, as
 * glibc's files backend would not give them either.
 */
function entryLines(text: string, fields: number): { f: string[]; id: number }[] {
  const out: { f: string[]; id: number }[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length !== fields || !ENTRY_NAME_RE.test(f[0])) continue;
    const id = entryId(f[2]);
    if (id !== null) out.push({ f, id });
  }
  return out;
}

/** The well-formed accounts of an /etc/passwd text (name:pw:uid:gid:gecos:home:shell), in order. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const { f, id } of entryLines(text, 7)) {
    const gid = entryId(f[3]);
    if (gid !== null) out.push({ name: f[0], uid: id, gid });
  }
  return out;
}

/** The well-formed groups of an /etc/group text (name:pw:gid:member,member), in order. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const { f, id } of entryLines(text, 4)) {
    const members = f[3] === '' ? [] : f[3].split(',');
    if (members.every((m) => ENTRY_NAME_RE.test(m))) out.push({ name: f[0], gid: id, members });
  }
  return out;
}

/** Where the accounts are looked up first (a test passes its own files). */
export const ACCOUNT_FILES = { passwd: '/etc/passwd', group: '/etc/group' };

function readEntries<T>(path: string, parse: (text: string) => T[]): T[] {
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}

/** `getent DB NAME`, for an account or group that only NSS knows (LDAP, sssd, systemd's). */
function getent(db: 'passwd' | 'group', name: string): string[] | null {
  try {
    const line = execFileSync('getent', [db, name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return line.split('\n')[0].split(':');
  } catch {
    return null; // exit 2: no such entry
  }
}

/**
 * The account `name`: from /etc/passwd (the first entry, as glibc reads it), else from NSS through
 * getent (a child process: 15-20 ms, so only when the file does not have it).
 */
export function lookupUser(name: string, files = ACCOUNT_FILES): PasswdEntry | null {
  const e = readEntries(files.passwd, parsePasswd).find((p) => p.name === name);
  if (e) return e;
  const f = getent('passwd', name);
  if (!f || f.length < 4) return null;
  const uid = entryId(f[2]);
  const gid = entryId(f[3]);
  return uid === null || gid === null ? null : { name: f[0], uid, gid };
}

/** The group `name` (or, a number, that gid): /etc/group first, else getent. */
export function lookupGroup(name: string | number, files = ACCOUNT_FILES): GroupEntry | null {
  const e = readEntries(files.group, parseGroup).find((g) =>
    typeof name === 'number' ? g.gid === name : g.name === name,
  );
  if (e) return e;
  const f = getent('group', String(name));
  const gid = f && f.length >= 3 ? entryId(f[2]) : null;
  if (!f || gid === null) return null;
  return { name: f[0], gid, members: f[3]?.trim() ? f[3].trim().split(',') : [] };
}

/** The accounts of /etc/passwd whose primary group is `gid` (NSS accounts are not listed). */
export function usersWithPrimaryGroup(gid: number, files = ACCOUNT_FILES): string[] {
  return readEntries(files.passwd, parsePasswd)
    .filter((p) => p.gid === gid)
    .map((p) => p.name);
}

/**
 * The default account's own group where the packages' group took the account's name: the group
 * `peermesh` (deb/rpm post-install) is the helper's, root:peermesh 0750 with cap_net_admin, and its
 * members may start it. The dropped core is never one of them; a web UI's node starts a copy of the
 * helper owned by root and the account's group (core-helper.ts), so that group must be its alone.
 */
export const DEFAULT_DROP_GROUP = 'peermesh-core';

/** useradd's group option for a new account `name`: its own group, made (groupadd) when needed. */
function ownGroupOf(name: string): string[] {
  if (!lookupGroup(name)) return ['--user-group'];
  const group = DEFAULT_DROP_GROUP;
  const g = lookupGroup(group);
  if (!g) {
    made(
      () => lookupGroup(group),
      () => run('groupadd', ['--system', group], `the group ${group} for the user ${name}`),
    );
    return ['--gid', group];
  }
  // One left by an earlier start whose useradd failed is taken; one that is others' is not.
  const others = [...usersWithPrimaryGroup(g.gid), ...g.members];
  if (others.length)
    throw new ConfigError(
      `cannot create the user ${name} with its own group: the group ${name} is the packages' (the helper's) and ${group} is also ${[...new Set(others)].join(', ')}'s; create the user with a group of its own, or choose one with --user NAME`,
    );
  return ['--gid', group];
}

/** Runs an account tool (useradd, groupadd); a failure says what could not be made and what to do. */
function run(tool: string, args: string[], what: string): void {
  try {
    execFileSync(tool, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new ConfigError(
      `cannot create ${what} (${err || (e as Error).message}); create it, or choose a user with --user NAME`,
    );
  }
}

/**
 * Runs `make` (useradd, groupadd) and returns what `lookup` finds then. A failure is no failure when
 * the account or group exists all the same (another tool made it meanwhile). useradd and groupadd
 * wait for /etc/passwd's lock themselves (up to 15 s), so a lock is not retried here.
 */
function made<T>(lookup: () => T | null, make: () => void): T | null {
  try {
    make();
  } catch (e) {
    const found = lookup();
    if (found) return found;
    throw e;
  }
  return lookup();
}

/** Waits `ms` milliseconds, blocking: accounts are made before the node starts anything else. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Where starts take turns at making the default account: root's /run, emptied at each boot. */
export const ACCOUNT_LOCK = '/run/peermesh-account.lock';
/** A turn held longer than this was a start that died in it (a turn takes well under a second). */
const ACCOUNT_LOCK_STALE_MS = 15_000;

/**
 * Runs `fn` alone among the starts on this machine (a directory made with mkdir is the turn). Nodes
 * started together on a fresh machine (at boot, one per network) would otherwise race to create the
 * same account: useradd checks that the name is free before it locks /etc/passwd, so two racing
 * useradds both write it, the last one's uid and gid win, and a node that read the first one's runs
 * as a uid that no longer exists; the others fail with "already exists". Without /run (a container)
 * or where it is not writable (not root: then no account can be made either) `fn` runs without a turn.
 */
function inAccountTurn<T>(fn: () => T): T {
  const deadline = Date.now() + 2 * ACCOUNT_LOCK_STALE_MS;
  for (;;) {
    try {
      mkdirSync(ACCOUNT_LOCK, 0o700);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EROFS') return fn();
      if (code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(ACCOUNT_LOCK).mtimeMs > ACCOUNT_LOCK_STALE_MS) rmdirSync(ACCOUNT_LOCK);
      } catch {
        // gone meanwhile: the next try takes it
      }
      if (Date.now() > deadline)
        throw new ConfigError(
          `cannot create the node's account: another start has held ${ACCOUNT_LOCK} for over ${ACCOUNT_LOCK_STALE_MS / 1000} s; remove it, or choose a user with --user NAME`,
        );
      pause(20 + Math.floor(Math.random() * 30));
    }
  }
  try {
    return fn();
  } finally {
    try {
      rmdirSync(ACCOUNT_LOCK);
    } catch {
      // taken as stale by a start that waited too long: nothing of ours to remove
    }
  }
}

/** useradd for the default account: a system account, no home, no login shell, a group of its own. */
function makeAccount(name: string): PasswdEntry | null {
  return made(
    () => lookupUser(name),
    () =>
      run(
        'useradd',
        [
          '--system',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          '/usr/sbin/nologin',
          ...ownGroupOf(name),
          name,
        ],
        `the user ${name} for the node to run as`,
      ),
  );
}

/**
 * The default account, made in a turn when it is not complete: no entry, or (another start's useradd
 * under way, which writes /etc/passwd before /etc/group) an entry whose group is not there yet. A
 * complete account takes no turn, so a turn left by a start that died holds up no later start.
 */
function accountOf(name: string): PasswdEntry | null {
  const pw = lookupUser(name);
  if (pw && lookupGroup(pw.gid)) return pw;
  return inAccountTurn(() => lookupUser(name) ?? makeAccount(name));
}

/**
 * The account to drop to: `name` as the system knows it, or (the default name only) created as a
 * system account without a home or login shell. Its primary group is its own: a new group of its
 * name, or, where a group of that name exists already (the packages' `peermesh` group, whose members
 * may run the helper with its file capability), DEFAULT_DROP_GROUP — never that group, nor one
 * other accounts share. Refuses uid 0 and gid 0.
 */
export function resolveRunAs(name: string, create: boolean): RunAs {
  if (!NAME_RE.test(name)) throw new ConfigError(`--user: "${name}" is not a user name`);
  const pw = create ? accountOf(name) : lookupUser(name);
  if (!pw) throw new ConfigError(`--user ${name}: no such user`);
  const { uid, gid } = pw;
  if (uid === 0 || gid === 0)
    throw new ConfigError(
      `--user ${name}: uid ${uid}, gid ${gid}: the node never keeps running as root (uid or gid 0); choose an unprivileged user`,
    );
  return { name, uid, gid };
}

/** Whether `who` may traverse (search) directory `st` by its mode bits. */
function maySearch(st: { uid: number; gid: number; mode: number }, who: RunAs): boolean {
  if (st.uid === who.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === who.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/**
 * The state directory (or a web UI's profile directory: `flag` --profile-dir) must stay reachable
 * after the drop (the node writes there while it runs): every directory above it must let the user
 * through. Throws a ConfigError naming the one that does not.
 */
export function checkReachable(dir: string, who: RunAs, flag = '--state-dir'): void {
  const closed = unreachable(dir, who);
  if (closed)
    throw new ConfigError(
      `the ${flag === '--state-dir' ? 'state' : 'profile'} directory ${dir} is not reachable by the user ${who.name} (${closed}): choose another ${flag} or --user`,
    );
}

/** The first directory above `path` that `who` may not pass through ("DIR is mode M, owner U"), or null. */
export function unreachable(path: string, who: RunAs): string | null {
  for (let p = dirname(resolve(path)); ; p = dirname(p)) {
    const st = statSync(p);
    if (!maySearch(st, who)) return `${p} is mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid}`;
    if (dirname(p) === p) return null;
  }
}

/**
 * Give the state directory and everything in it (or, not `recursive`, the directory alone) to `who`
 * (modes unchanged: 0700, files 0600).
 * Links are not followed (lchown); a file with other hard links that `who` does not own already is
 * refused (it could be a link to a file elsewhere, planted by an earlier run).
 */
export function chownTree(path: string, who: RunAs, recursive = true): void {
  const st = lstatSync(path);
  if (st.isDirectory() && recursive) {
    for (const e of readdirSync(path)) chownTree(join(path, e), who);
  } else if (st.isFile() && st.nlink > 1 && st.uid !== who.uid) {
    throw new ConfigError(`${path} has other hard links: refusing to give it to ${who.name}`);
  }
  if (st.uid !== who.uid || st.gid !== who.gid) lchownSync(path, who.uid, who.gid);
}

/** What is wrong with one thread's credentials after the drop ('' when nothing). */
export function credentialProblems(status: string, who: { uid: number; gid: number }): string {
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1].trim() ?? '?';
  const problems: string[] = [];
  const ids = (name: string, want: number) => {
    const v = field(name).split(/\s+/);
    if (v.length !== 4 || v.some((x) => Number(x) !== want)) problems.push(`${name} ${v.join(' ')}`);
  };
  ids('Uid', who.uid);
  ids('Gid', who.gid);
  if (field('Groups') !== '') problems.push(`Groups ${field('Groups')}`);
  for (const cap of ['CapPrm', 'CapEff', 'CapAmb'])
    if (!/^0+$/.test(field(cap))) problems.push(`${cap} ${field(cap)}`);
  return problems.join(', ');
}

/**
 * Switch the whole process to `who` for good and check every thread. Throws when anything is left
 * (the caller stops the node: it never goes on half dropped).
 */
export function dropPrivileges(who: RunAs): void {
  if (!process.setgroups || !process.setgid || !process.setuid) throw new Error('no setuid on this platform');
  process.setgroups([]);
  process.setgid(who.gid);
  process.setuid(who.uid);
  for (const tid of readdirSync('/proc/self/task')) {
    let status: string;
    try {
      status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const p = credentialProblems(status, who);
    if (p) throw new Error(`privileges not dropped in thread ${tid}: ${p}`);
  }
}
