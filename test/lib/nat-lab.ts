// The two-NAT topology of the NAT tests (nat.test, first-packet.test):
//
//   a (198.19.1.2) -- ra [NAT] --+                      +-- [NAT] rb -- b (198.19.2.2)
//                                 +-- switch 198.18.100.0/24 (p = .3, ra = .1, rb = .2)
//
// P is public. The routers count the packets to and from each other and P (natCounter names
// to_peer / from_peer / to_p / from_p), so a test can tell a direct path from a relayed one.
import type { NetnsLab } from './netns';

export const NAT_P_ENDPOINT = '198.18.100.3:51820';

/** The topology; `more` adds more hosts on the switch (198.18.100.4 and up), beside P. */
export function buildNatLab(lab: NetnsLab, type: 'cone' | 'symmetric', more: string[] = []): void {
  for (const h of ['p', 'ra', 'rb', 'a', 'b', ...more]) lab.addHost(h);
  lab.lan([
    ['ra', '198.18.100.1/24'],
    ['rb', '198.18.100.2/24'],
    ['p', '198.18.100.3/24'],
    ...more.map((h, i): [string, string] => [h, `198.18.100.${4 + i}/24`]),
  ]);
  lab.link('a', '198.19.1.2/24', 'ra', '198.19.1.1/24', { aIf: `i${lab.id}a`, bIf: `l${lab.id}a` });
  lab.link('b', '198.19.2.2/24', 'rb', '198.19.2.1/24', { aIf: `i${lab.id}b`, bIf: `l${lab.id}b` });
  lab.exec('a', 'ip', ['route', 'add', 'default', 'via', '198.19.1.1']);
  lab.exec('b', 'ip', ['route', 'add', 'default', 'via', '198.19.2.1']);
  lab.natRouter('ra', lab.vethName('ra'), type, { peer: '198.18.100.2', p: '198.18.100.3' });
  lab.natRouter('rb', lab.vethName('rb'), type, { peer: '198.18.100.1', p: '198.18.100.3' });
}
