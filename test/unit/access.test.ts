// Access rules' text and order (main/node/access.ts): what a rule covers from its text, and what a
// member may reach by the rules read in their order (a member's own rules, then all, then the
// default). The enforcement itself is tested with real nodes in test/netns/access.test.ts.
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AccessRules, accessSpecText, parseAccessSpec } from '../../main/node/access';
import { Logger } from '../../main/node/log';
import { removeDir, tempDir } from '../lib/peermesh-proc';

const K1 = `${'A'.repeat(43)}=`;
const K2 = `${'B'.repeat(43)}=`;

describe('access rules', () => {
  it('reads what a rule covers, and refuses anything else with a clear error', () => {
    assert.deepEqual(parseAccessSpec('tcp/22'), { proto: 'tcp', ports: [22, 22] });
    assert.deepEqual(parseAccessSpec('UDP/60000-61000'), { proto: 'udp', ports: [60000, 61000] });
    assert.deepEqual(parseAccessSpec('tcp'), { proto: 'tcp', ports: null });
    assert.deepEqual(parseAccessSpec('icmp'), { proto: 'icmp', ports: null });
    assert.deepEqual(parseAccessSpec(undefined), { proto: 'any', ports: null });
    for (const bad of ['tcp/0', 'tcp/65536', 'tcp/90-80', 'sctp/5', 'tcp/22,23', 'icmp/8', '22', 'tcp/-1'])
      assert.throws(() => parseAccessSpec(bad), /not a protocol and port|ports must be/, bad);
    for (const t of ['tcp/22', 'udp/1-2', 'tcp', 'icmp', 'any'])
      assert.equal(accessSpecText(parseAccessSpec(t)), t);
  });

  it('says what each member may reach: its own rules first, then all, then the default', () => {
    const dir = tempDir('access-unit');
    try {
      const file = join(dir, 'access.json');
      const load = (data: unknown) => {
        writeFileSync(file, JSON.stringify(data));
        const r = new AccessRules(file, new Logger('error', () => {}));
        r.load();
        return r;
      };
      let r = load({ default: 'allow', rules: [] });
      assert.equal(r.summaryFor(K1), 'everything');
      r = load({
        default: 'deny',
        rules: [
          { action: 'allow', peer: 'all', what: 'tcp/80' },
          { action: 'deny', peer: K1, what: 'any' },
          { action: 'allow', peer: K2, what: 'tcp/22' },
        ],
      });
      assert.equal(r.summaryFor(K1), 'nothing', 'its own deny beats the rule for all');
      assert.equal(r.summaryFor(K2), 'tcp/22, tcp/80 only');
      assert.equal(r.summaryFor(`${'C'.repeat(43)}=`), 'tcp/80 only');
      r = load({ default: 'allow', rules: [{ action: 'deny', peer: 'all', what: 'tcp/22' }] });
      assert.equal(r.summaryFor(K1), 'everything except tcp/22');
      // Damaged entries are skipped, the rest kept.
      r = load({
        default: 'deny',
        rules: [
          { action: 'allow', peer: 'nope', what: 'tcp/22' },
          { action: 'allow', peer: K1, what: 'tcp/x' },
          { action: 'allow', peer: K1, what: 'icmp' },
        ],
      });
      assert.equal(r.summaryFor(K1), 'icmp only');
      assert.equal(r.status(null).rules.length, 1);
      assert.equal(statSync(file).isFile(), true);
    } finally {
      removeDir(dir);
    }
  });
});
