// The pieces of the root drop (main/node/privdrop.ts) that need no root: `up`'s --user/--stay-root
// flags, the check of a thread's credentials as /proc shows them, the hosts file rewritten through a
// held descriptor (and refused once the file was replaced), the state directory's reachability, and
// the strict reading of /etc/passwd and /etc/group that spares a start its `getent` child.
// As root, in a scratch root (an overlay on /etc): the default account created where the packages'
// group `peermesh` exists gets a group of its own, for which root can make the web UI's helper copy.
// The drop itself runs in test/netns/privdrop.test.ts (root, real nodes).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { splitDropFlags } from '../../main/cli/commands/up';
import { defaultHelperPath } from '../../main/io/helper';
import { openHostsFile, writeHostsBlockFd } from '../../main/node/hosts';
import {
  checkReachable,
  credentialProblems,
  lookupGroup,
  lookupUser,
  parseGroup,
  parsePasswd,
  usersWithPrimaryGroup,
} from '../../main/node/privdrop';
import { inScratchRoot } from '../lib/scratch-root';

const status = (over: Record<string, string> = {}) =>
  Object.entries({
    Name: 'node',
    Uid: '995\t995\t995\t995',
    Gid: '994\t994\t994\t994',
    Groups: '',
    NStgid: '123',
    CapInh: '0000000000000000',
    CapPrm: '0000000000000000',
    CapEff: '0000000000000000',
    CapBnd: '000001ffffffffff',
    CapAmb: '0000000000000000',
    ...over,
  })
    .map(([k, v]) => `${k}:\t${v}`)
    .join('\n');

describe('privilege drop', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pm-privdrop-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('takes --user NAME, --user=NAME and --stay-root out of up’s arguments', () => {
    assert.deepEqual(splitDropFlags(['--network', 'x', '--user', 'pm', '--listen', '1']), {
      rest: ['--network', 'x', '--listen', '1'],
      user: 'pm',
      stayRoot: false,
    });
    assert.deepEqual(splitDropFlags(['--user=pm']).user, 'pm');
    assert.deepEqual(splitDropFlags(['--stay-root']), { rest: [], user: null, stayRoot: true });
    assert.throws(() => splitDropFlags(['--user']), /--user needs a user name/);
    assert.throws(() => splitDropFlags(['--user', '--listen']), /--user needs a user name/);
    assert.throws(() => splitDropFlags(['--user', 'pm', '--stay-root']), /contradict/);
  });

  it('accepts a thread with the user’s ids, no groups, no capabilities; names each thing left', () => {
    const who = { uid: 995, gid: 994 };
    assert.equal(credentialProblems(status(), who), '');
    assert.match(credentialProblems(status({ Uid: '995\t0\t995\t995' }), who), /^Uid 995 0 995 995$/);
    assert.match(credentialProblems(status({ Gid: '0\t0\t0\t0' }), who), /Gid/);
    assert.match(credentialProblems(status({ Groups: '0 27' }), who), /^Groups 0 27$/);
    assert.match(credentialProblems(status({ CapEff: '0000000000001000' }), who), /^CapEff /);
    assert.match(credentialProblems(status({ CapPrm: '000001ffffffffff' }), who), /^CapPrm /);
    assert.match(credentialProblems(status({ CapAmb: '0000000000001000' }), who), /^CapAmb /);
    assert.match(credentialProblems('Name:\tx', who), /Uid \?/, 'a status without the fields is refused');
  });

  it('rewrites the hosts block in place through the held descriptor; refuses once the file was replaced', () => {
    const file = join(dir, 'hosts');
    writeFileSync(file, '127.0.0.1\tlocalhost\n# a comment of the admin\n');
    const held = openHostsFile(file);
    const e = [{ name: 'b.net', addresses: ['100.64.0.2', 'fd00::2'] }];
    assert.equal(writeHostsBlockFd(held, 'net', e), true);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^127\.0\.0\.1\tlocalhost\n# a comment of the admin\n# BEGIN peermesh net/);
    assert.match(text, /\n100\.64\.0\.2\tb\.net\nfd00::2\tb\.net\n# END peermesh net\n$/);
    assert.equal(writeHostsBlockFd(held, 'net', e), false, 'unchanged: not written');
    assert.equal(writeHostsBlockFd(held, 'net', null), true);
    assert.equal(
      readFileSync(file, 'utf8'),
      '127.0.0.1\tlocalhost\n# a comment of the admin\n',
      'shorter: cut',
    );
    writeFileSync(join(dir, 'hosts.new'), '127.0.0.1\tlocalhost\n');
    renameSync(join(dir, 'hosts.new'), file);
    assert.throws(() => writeHostsBlockFd(held, 'net', e), /was replaced by another program/);
    assert.equal(readFileSync(file, 'utf8'), '127.0.0.1\tlocalhost\n');
  });

  it('a state directory below a directory the user may not enter is refused, naming it', () => {
    const closed = mkdtempSync(join(tmpdir(), 'pm-closed-')); // 0700, owned by whoever runs this
    try {
      const who = { name: 'someone', uid: 4242424, gid: 4242424 };
      assert.throws(
        () => checkReachable(join(closed, 'state'), who),
        (e: Error) => e.message.includes(closed),
      );
      checkReachable(join(tmpdir(), 'state'), who); // /tmp: open to everyone
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
  it('reads /etc/passwd strictly: seven fields, a name, decimal ids; every bad line is skipped', () => {
    const text = [
      'root:x:0:0:root:/root:/bin/bash',
      'peermesh:x:995:994::/nonexistent:/usr/sbin/nologin',
      '# a comment:x:1:1::/:/bin/sh',
      '',
      '+nisuser::::::',
      '-blocked:x:7:7::/:/bin/sh',
      'short:x:1000:1000',
      'extra:x:1001:1001::/:/bin/sh:more',
      'neg:x:-1:1::/:/bin/sh',
      'hex:x:0x10:1::/:/bin/sh',
      'lead:x:010:1::/:/bin/sh',
      'big:x:4294967295:1::/:/bin/sh',
      'space name:x:1002:1002::/:/bin/sh',
      ':x:1003:1003::/:/bin/sh',
      'nogid:x:1004:::/:/bin/sh',
      'peermesh:x:1:1::/:/bin/sh',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\r',
      'ok$:x:1005:1005::/:/bin/sh',
    ].join('\n');
    assert.deepEqual(parsePasswd(text), [
      { name: 'root', uid: 0, gid: 0 },
      { name: 'peermesh', uid: 995, gid: 994 },
      { name: 'peermesh', uid: 1, gid: 1 },
      { name: 'nobody', uid: 65534, gid: 65534 },
      { name: 'ok$', uid: 1005, gid: 1005 },
    ]);
  });

  it('reads /etc/group strictly: four fields, a decimal gid, well-formed members', () => {
    const text = [
      'root:x:0:',
      'nogroup:x:65534:',
      'peermesh:x:994:alice,bob',
      'bad:x:99x:',
      'three:x:5',
      'members:x:6:alice,,bob',
      'spaced:x:7:al ice',
      '+:::',
    ].join('\n');
    assert.deepEqual(parseGroup(text), [
      { name: 'root', gid: 0, members: [] },
      { name: 'nogroup', gid: 65534, members: [] },
      { name: 'peermesh', gid: 994, members: ['alice', 'bob'] },
    ]);
  });

  it('looks accounts up in the files first (the first entry wins), getent only for what they lack', () => {
    const files = { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
    writeFileSync(
      files.passwd,
      'pm-a:x:4000:4000::/:/bin/sh\npm-a:x:4001:4001::/:/bin/sh\npm-b:x:4002:4000::/:/bin/sh\n',
    );
    writeFileSync(files.group, 'pm-a:x:4000:pm-c\n');
    assert.deepEqual(lookupUser('pm-a', files), { name: 'pm-a', uid: 4000, gid: 4000 });
    assert.deepEqual(lookupGroup('pm-a', files), { name: 'pm-a', gid: 4000, members: ['pm-c'] });
    assert.deepEqual(lookupGroup(4000, files)?.name, 'pm-a');
    assert.deepEqual(usersWithPrimaryGroup(4000, files), ['pm-a', 'pm-b']);
    // Not in these files: the system's (getent) answers, here for root, whom every system has.
    assert.equal(lookupUser('root', files)?.uid, 0);
    assert.equal(lookupUser('no-such-user-pm', files), null);
    assert.equal(lookupGroup('no-such-group-pm', files), null);
  });

  const scratchTools = ['unshare', 'useradd', 'groupadd', 'setcap'];
  const asRoot =
    process.getuid?.() === 0 &&
    spawnSync('sh', ['-c', scratchTools.map((t) => `command -v ${t}`).join(' && ')]).status === 0;
  it('creates the default account with a group of its own where the packages’ group peermesh exists; the web UI’s helper copy is made for it', {
    skip: asRoot ? false : 'needs root, unshare and the account tools',
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-privdrop-account-'));
    chmodSync(dir, 0o755); // the account passes it to reach the copy
    try {
      // What a start as root does: resolveRunAs, then (up --ui, ui) ensureCapableHelper.
      const mod = (m: string) => JSON.stringify(join(__dirname, '..', '..', 'main', 'node', m));
      const script = join(dir, 'start.js');
      writeFileSync(
        script,
        `const { resolveRunAs, lookupGroup } = require(${mod('privdrop')});
         const { ensureCapableHelper, groupSharers } = require(${mod('core-helper')});
         const who = resolveRunAs('peermesh', true);
         const group = lookupGroup(who.gid).name;
         console.log('RUNAS ' + JSON.stringify({ ...who, group, sharers: groupSharers(who) }));
         console.log('AGAIN ' + JSON.stringify(resolveRunAs('peermesh', true)));
         try {
           console.log('HELPER ' + JSON.stringify(ensureCapableHelper(process.argv[2], who, process.argv[3])));
         } catch (e) { console.log('REFUSED ' + e.message); }\n`,
      );
      const packaged = join(dir, 'peermesh-helper');
      const copies = join(dir, 'lib');
      // The packages' setup (after-install.sh): the group peermesh, the helper root:peermesh 0750.
      // No account peermesh yet (edited out of the files: userdel refuses while a node runs as it).
      const r = inScratchRoot(
        dir,
        ['/etc'],
        `sed -i '/^peermesh:/d; /^peermesh-core:/d' /etc/passwd /etc/shadow /etc/group /etc/gshadow
         groupadd --system peermesh
         cp ${defaultHelperPath()} ${packaged}; chown root:peermesh ${packaged}; chmod 0750 ${packaged}
         setcap cap_net_admin+ep ${packaged}
         ${process.execPath} ${script} ${packaged} ${copies}
         getent group peermesh | cut -d: -f3 | sed 's/^/PKGGID /'
         stat -c 'COPY %G %a' ${copies}/peermesh-helper.peermesh || true`,
      );
      assert.equal(r.status, 0, r.stderr);
      const line = (tag: string) => new RegExp(`^${tag} (.*)$`, 'm').exec(r.stdout)?.[1] ?? '';
      const who = JSON.parse(line('RUNAS') || '{}') as {
        name: string;
        gid: number;
        group: string;
        sharers: string[];
      };
      assert.equal(who.name, 'peermesh', r.stdout + r.stderr);
      assert.equal(who.group, 'peermesh-core', 'a group of its own, not nogroup');
      assert.notEqual(who.gid, Number(line('PKGGID')), 'never the packages’ group');
      assert.deepEqual(who.sharers, [], 'no other account has its group');
      assert.equal(JSON.parse(line('AGAIN')).gid, who.gid, 'the next start takes the account as it is');
      assert.equal(line('REFUSED'), '', 'the web UI’s copy is not refused');
      assert.equal(
        JSON.parse(line('HELPER')).how,
        'installed',
        'a copy: the packaged helper is not the account’s',
      );
      assert.equal(line('COPY'), 'peermesh-core 750');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A test of making the default account, in a scratch directory of its own (as root only). */
  const accountTest = (title: string, body: (dir: string) => void) =>
    it(title, { skip: asRoot ? false : 'needs root, unshare and the account tools' }, () => {
      const dir = mkdtempSync(join(tmpdir(), 'pm-privdrop-account-'));
      try {
        body(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

  /** A start as root would make it (resolveRunAs): prints RUNAS {account, group} or REFUSED, and MS. */
  const startScript = (dir: string): string => {
    const script = join(dir, 'start.js');
    const mod = JSON.stringify(join(__dirname, '..', '..', 'main', 'node', 'privdrop'));
    writeFileSync(
      script,
      `const { resolveRunAs, lookupGroup } = require(${mod});
       const t0 = Date.now();
       try {
         const who = resolveRunAs('peermesh', true);
         console.log('RUNAS ' + JSON.stringify({ ...who, group: lookupGroup(who.gid)?.name }));
       } catch (e) { console.log('REFUSED ' + e.message); }
       console.log('MS ' + (Date.now() - t0));\n`,
    );
    return script;
  };

  accountTest(
    'a turn left by a start that died: taken over when stale, and never waited for when the account is complete',
    (dir) => {
      const script = startScript(dir);
      // /run is an overlay too: the turn made here is this scratch root's alone.
      const r = inScratchRoot(
        dir,
        ['/etc', '/run'],
        `sed -i '/^peermesh:/d; /^peermesh-core:/d' /etc/passwd /etc/shadow /etc/group /etc/gshadow
         mkdir /run/peermesh-account.lock && touch -d '-60 seconds' /run/peermesh-account.lock
         ${process.execPath} ${script}
         test -e /run/peermesh-account.lock && echo LEFT
         mkdir /run/peermesh-account.lock
         ${process.execPath} ${script}`,
      );
      assert.equal(r.status, 0, r.stderr);
      const starts = r.stdout.split('\n').filter((l) => /^(RUNAS|REFUSED) /.test(l));
      const ms = [...r.stdout.matchAll(/^MS (\d+)$/gm)].map((m) => Number(m[1]));
      assert.equal(starts.length, 2, r.stdout);
      assert.match(starts[0], /^RUNAS \{"name":"peermesh"/, 'a turn 60 s old is taken over');
      assert.doesNotMatch(r.stdout, /^LEFT$/m, 'and given back');
      assert.equal(starts[1], starts[0], 'the complete account needs no turn');
      assert.ok(ms[1] < 2000, `no wait for a fresh turn when the account is complete (${ms[1]} ms)`);
    },
  );

  // Seen in the lab on a fresh machine: three nodes started at once, two refused to start
  // ("useradd: user 'peermesh' already exists"). Here 6 starts race, with and without the
  // packages' group (then the group peermesh-core is raced for too).
  accountTest(
    'nodes started together on a fresh machine all run as the one account the first of them made',
    (dir) => {
      const script = startScript(dir);
      for (const pkgGroup of [false, true]) {
        const r = inScratchRoot(
          dir,
          ['/etc'],
          `sed -i '/^peermesh:/d; /^peermesh-core:/d' /etc/passwd /etc/shadow /etc/group /etc/gshadow
           ${pkgGroup ? 'groupadd --system peermesh' : ''}
           for i in 1 2 3 4 5 6; do ${process.execPath} ${script} & done; wait
           grep -c '^peermesh:' /etc/passwd | sed 's/^/ACCOUNTS /'`,
        );
        assert.equal(r.status, 0, r.stderr);
        const starts = r.stdout.split('\n').filter((l) => /^(RUNAS|REFUSED) /.test(l));
        assert.equal(starts.length, 6, r.stdout);
        assert.deepEqual(
          starts.filter((l) => l.startsWith('REFUSED')),
          [],
          'no start is refused',
        );
        const who = new Set(starts);
        assert.equal(who.size, 1, `every start runs as the same account: ${[...who].join(' / ')}`);
        const first = JSON.parse(starts[0].slice(6)) as { name: string; group: string };
        assert.equal(first.group, pkgGroup ? 'peermesh-core' : 'peermesh');
        assert.match(r.stdout, /^ACCOUNTS 1$/m, 'one account made');
      }
    },
  );
});
