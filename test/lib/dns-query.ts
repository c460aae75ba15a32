// Asking a node's DNS responder (docs/dns.md) from inside a namespace, with Node's resolver (c-ares),
// so no dig or getent is needed: the name's A records, or the address's PTR name, or the error code.
import type { NetnsLab } from './netns';

/** Resolve NAME (A) or ADDRESS (PTR) at SERVER with Node's resolver; prints the answer or the error code. */
export const RESOLVE = `const [server, what] = process.argv.slice(1); const r = new (require('node:dns').promises.Resolver)({ timeout: 1500, tries: 1 });
r.setServers([server]);
(/^[\\d.]+$/.test(what) ? r.reverse(what) : r.resolve4(what)).then((a) => console.log(a.join(',')), (e) => console.log(e.code));`;

/** `what` resolved at `server` (port 53) from namespace `host`: addresses or names joined by commas, or an error code. */
export function resolveAt(lab: NetnsLab, host: string, server: string, what: string): string {
  return lab.exec(host, process.execPath, ['-e', RESOLVE, server, what]).trim();
}
