// Names for members: `<name>.<network>` (e.g. `pi.home`) in a block of the hosts file that PeerMesh
// manages, so every program on the machine resolves them through the normal resolver (glibc, musl,
// Go, Node), with no DNS server and no resolver configuration to change. docs/mesh.md "Names".
import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
 * Names for members: `<label>.<network>`; when two members share a label, the one with the smaller
 * key keeps it and the others get `<label>-<first 4 hex digits of their key>` — the same on every node.
 */
export function memberNames(network: string, members: { key: string; name: string }[]): Map<string, string> {
  const net = dnsLabel(network.replace(/\./g, '-'));
  const byLabel = new Map<string, string[]>();
  for (const m of members) {
    const l = dnsLabel(m.name);
    byLabel.set(l, [...(byLabel.get(l) ?? []), m.key]);
  }
  const out = new Map<string, string>();
  for (const [label, keys] of byLabel) {
    keys.sort();
    for (const [i, k] of keys.entries()) {
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
 * written); where the file is a bind mount (containers, `ip netns exec`), rename fails and it is
 * rewritten in place. Throws when the file cannot be written (no permission).
 */
export function writeHostsBlock(path: string, network: string, entries: HostEntry[] | null): boolean {
  const before = readFileSync(path, 'utf8');
  const after = withHostsBlock(before, network, entries);
  if (after === before) return false;
  const mode = statSync(path).mode & 0o777;
  const tmp = join(dirname(path), `.hosts.peermesh.${process.pid}`);
  try {
    writeFileSync(tmp, after, { mode });
    renameSync(tmp, path);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    writeFileSync(path, after);
  }
  return true;
}
