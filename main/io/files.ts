// Files the node keeps: written atomically (temp file + fsync + rename + directory fsync), so a crash
// never leaves a half-written key or config. Secrets get mode 0600, the state directory 0700.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const TEMP_RE = /^\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/**
 * Write `path` atomically. The temp file has an unpredictable name and is created exclusively
 * (O_CREAT|O_EXCL: never follows a link someone planted in a shared directory). `owner`, when
 * given, is applied to the temp file before it replaces the original (keeps a file's owner when
 * root rewrites it). When the rename fails (e.g. a bind-mounted file) the temp file is removed and
 * the error thrown.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  owner?: { uid: number; gid: number },
): void {
  const dir = dirname(path);
  // unique per write: two writes in one millisecond, or from two threads of one process, never meet
  const tmp = join(dir, `.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode); // the umask may have narrowed the mode given to open
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* closed already */
    }
    unlinkSync(tmp);
    throw e;
  }
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * Remove temporary files that writers killed mid-write left in `dir` (the real files are intact:
 * a temp file never replaces one until it is complete). Files of live processes are kept.
 */
export function sweepStaleTemp(dir: string): number {
  let n = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const f of names) {
    const m = TEMP_RE.exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    try {
      unlinkSync(join(dir, f));
      n++;
    } catch {
      /* gone already */
    }
  }
  return n;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `mkdir -p`, one level at a time. (Node 20's `mkdirSync(path, { recursive: true })` spins forever
 * where a parent exists but takes no new directories, as under /proc: mkdir says ENOENT there, and
 * Node takes that for a missing parent and tries again.) Throws one clear error naming the level
 * that could not be made.
 */
/**
 * Every directory this process made (absolute paths): `peermesh up` as root gives those above a state
 * directory to the user it drops to (they are ours, made 0700 for that directory alone).
 */
export const madeDirs = new Set<string>();

function makeDirs(path: string, mode: number): void {
  const missing: string[] = [];
  for (let p = resolve(path); !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, { mode });
      madeDirs.add(dir);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST') continue; // made meanwhile by someone else: fine
      const why = err.code === 'ENOENT' ? `${dirname(dir)} takes no new directories` : err.message;
      throw new Error(`cannot create ${dir}: ${why}`);
    }
  }
}

/** Create the state directory (mode 0700) if needed; refuse one that others can read or write. */
export function ensurePrivateDir(path: string): void {
  makeDirs(path, 0o700);
  const st = statSync(path);
  if (!st.isDirectory()) throw new Error(`${path} is not a directory`);
  if ((st.mode & 0o077) !== 0) {
    throw new Error(
      `state directory ${path} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 700 it`,
    );
  }
}
