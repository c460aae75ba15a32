// Names for members: `<name>.<network>` (e.g. `pi.home`) in a block of the hosts file that PeerMesh
// manages, so every program on the machine resolves them through the normal resolver (glibc, musl,
// Go, Node), with no DNS server and no resolver configuration to change. docs/mesh.md "Names".
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { writeFileAtomic } from '../io/files';

export interface HostEntry {
  name: string;
  addresses: string[];
}

/** A DNS label from a free-form name: lower case, `a-z 0-9 -`, at most 63, never empty. */
export function dnsLabel(s: string): string {
  const l = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return l || 'node';
}

/**
 * Names for members: `<label>.<network>`; when two members share a label, the member that had it
 * first keeps it (the earlier join time, then the smaller key) and the others get
 * `<label>-<first 4 hex digits of their key>` — the same on every node holding the same records.
 */
/** The DNS domain of a network's names (`home` for network "home"). */
export function networkDomain(network: string): string {
  return dnsLabel(network.replace(/\./g, '-'));
}

export function memberNames(
  network: string,
  members: { key: string; name: string; joined: number }[],
): Map<string, string> {
  const net = networkDomain(network);
  const byLabel = new Map<string, { key: string; joined: number }[]>();
  for (const m of members) {
    const l = dnsLabel(m.name);
    byLabel.set(l, [...(byLabel.get(l) ?? []), m]);
  }
  const out = new Map<string, string>();
  for (const [label, list] of byLabel) {
    list.sort((a, b) => a.joined - b.joined || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const [i, { key: k }] of list.entries()) {
      const hex = Buffer.from(k, 'base64').subarray(0, 2).toString('hex');
      out.set(k, `${i === 0 ? label : `${label.slice(0, 58)}-${hex}`}.${net}`);
    }
  }
  return out;
}

const begin = (network: string) => `# BEGIN peermesh ${network} (managed by peermesh; do not edit)`;
const end = (network: string) => `# END peermesh ${network}`;

/** The hosts file text with our block for `network` replaced (entries null: removed). Pure. */
export function withHostsBlock(text: string, network: string, entries: HostEntry[] | null): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const l of lines) {
    if (l === begin(network)) inside = true;
    else if (inside && l === end(network)) inside = false;
    else if (!inside) out.push(l);
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  if (entries?.length) {
    out.push(begin(network));
    for (const e of entries) for (const a of e.addresses) out.push(`${a}\t${e.name}`);
    out.push(end(network));
  }
  return `${out.join('\n')}\n`;
}

/**
 * Rewrite the block in the hosts file: a temp file renamed over it where possible (never half
 * written; the temp file's name is unpredictable and it is created exclusively, so a link planted
 * in a shared directory such as a custom `--hosts-file` in /tmp is never followed; the file keeps
 * its owner and mode); where the file is a bind mount (containers, `ip netns exec`), rename fails
 * and it is rewritten in place, opened without following a link. Throws when the file cannot be
 * written (no permission).
 */
export function writeHostsBlock(file: string, network: string, entries: HostEntry[] | null): boolean {
  const path = realpathSync(file); // a hosts file that is a link (some distributions) is kept a link
  const before = readFileSync(path, 'utf8');
  const after = withHostsBlock(before, network, entries);
  if (after === before) return false;
  const st = statSync(path);
  try {
    writeFileAtomic(path, after, st.mode & 0o777, { uid: st.uid, gid: st.gid });
  } catch {
    const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
    try {
      writeFileSync(fd, after);
    } finally {
      closeSync(fd);
    }
  }
  return true;
}

/**
 * The hosts file opened for writing (not following a link at the end), for a node that will run
 * without the right to write it (`up` as root drops privileges: privdrop.ts). Throws when it cannot
 * be opened.
 */
export function openHostsFile(file: string): { path: string; fd: number } {
  const path = realpathSync(file);
  return { path, fd: openSync(path, constants.O_RDWR | constants.O_NOFOLLOW) };
}

/**
 * Rewrite the block through a descriptor opened before the drop: in place (the new text written
 * over the old from the start, then the file cut to its length: a reader never sees it empty).
 * Throws when the path no longer names the opened file (another program replaced it: our writes
 * would go nowhere).
 */
export function writeHostsBlockFd(
  held: { path: string; fd: number },
  network: string,
  entries: HostEntry[] | null,
): boolean {
  const st = fstatSync(held.fd);
  let now: { dev: number; ino: number } | null = null;
  try {
    now = statSync(held.path);
  } catch {
    /* removed */
  }
  if (!now || now.ino !== st.ino || now.dev !== st.dev)
    throw new Error(`${held.path} was replaced by another program since the node started`);
  const buf = Buffer.alloc(st.size);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(held.fd, buf, off, buf.length - off, off);
    if (n === 0) break;
    off += n;
  }
  const before = buf.subarray(0, off).toString('utf8');
  const after = Buffer.from(withHostsBlock(before, network, entries));
  if (after.toString('utf8') === before) return false;
  let w = 0;
  while (w < after.length) w += writeSync(held.fd, after, w, after.length - w, w);
  ftruncateSync(held.fd, after.length);
  fsyncSync(held.fd);
  return true;
}
