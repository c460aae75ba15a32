import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { importPeerVpn } from '../../main/control/peervpn';
import { defaults, loadConfigFile, validate } from '../../main/node/config';

const fixture = (name: string) =>
  readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'peervpn', name), 'utf8');

const PSK = 'correct horse battery staple 7f3a';
const base = `networkname home-net\npsk ${PSK}\n`;

/** The error message importPeerVpn throws for `text` (fails the test if it does not throw). */
function errorOf(text: string): string {
  try {
    importPeerVpn(text);
  } catch (e) {
    assert.ok(e instanceof Error);
    return e.message;
  }
  assert.fail(`no error for:\n${text}`);
}

describe('PeerVPN import', () => {
  it('maps every supported option of a full peervpn.conf', () => {
    const r = importPeerVpn(fixture('full.conf'), { secretFile: 'home-net.secret' });
    assert.deepEqual(r.config, {
      network: {
        name: 'home-net',
        secretFile: 'home-net.secret',
        bootstrap: ['198.18.0.2:7000', '198.18.0.3:7001', '[2001:db8:1337::1]:5678', 'vpn.example.org:7000'],
        relay: true,
      },
      interface: 'peervpn0',
      addresses: ['100.64.0.1/24', 'fd00::1/64'],
      listenPort: 7000,
    });
    assert.equal(r.secret, PSK);
  });

  it('warns once, naming the option and its line, for each option with no equivalent', () => {
    const { warnings } = importPeerVpn(fixture('full.conf'));
    const unsupported = [
      'upcmd',
      'local',
      'sockmark',
      'enablenat64clat',
      'enablendpcache',
      'enablevirtserv',
      'engine',
      'enableprivdrop',
      'user',
      'group',
      'chroot',
      'enableconsole',
    ];
    assert.equal(warnings.length, unsupported.length, warnings.join('\n'));
    const text = fixture('full.conf').split('\n');
    for (const opt of unsupported) {
      const hits = warnings.filter((w) => new RegExp(`^line \\d+: ${opt} ignored: .{20,}`).test(w));
      assert.equal(hits.length, 1, `${opt}: ${warnings.join('\n')}`);
      const line = Number(/^line (\d+)/.exec(hits[0])![1]);
      assert.ok(text[line - 1].startsWith(`${opt} `), `${opt} is on line ${line}`);
    }
    // Options whose PeerVPN value is already PeerMesh's behaviour say nothing.
    for (const quiet of ['enabletunneling', 'enableipv4', 'enableipv6', 'enablerelay', 'port', 'initpeers']) {
      assert.ok(!warnings.some((w) => w.includes(` ${quiet} `)), quiet);
    }
  });

  it('produces a config that PeerMesh itself loads and validates', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-peervpn-'));
    const r = importPeerVpn(fixture('full.conf'));
    assert.equal((r.config.network as { secretFile: string }).secretFile, 'home-net.secret');
    const file = path.join(dir, 'home-net.json');
    writeFileSync(file, JSON.stringify(r.config));
    const cfg = validate(loadConfigFile(file, defaults()));
    assert.deepEqual(cfg.network, {
      name: 'home-net',
      secretFile: path.join(dir, 'home-net.secret'),
      bootstrap: ['198.18.0.2:7000', '198.18.0.3:7001', '[2001:db8:1337::1]:5678', 'vpn.example.org:7000'],
      relay: true,
      advertiseRoutes: [],
    });
    assert.equal(cfg.interface, 'peervpn0');
    assert.deepEqual(cfg.addresses, ['100.64.0.1/24', 'fd00::1/64']);
    assert.equal(cfg.listenPort, 7000);
  });

  it('needs only networkname and psk; the rest keeps PeerMesh defaults', () => {
    const r = importPeerVpn(fixture('minimal.conf'));
    assert.deepEqual(r.config, { network: { name: 'lab', secretFile: 'lab.secret', bootstrap: [] } });
    assert.equal(r.secret, 'a long passphrase only members know');
    assert.deepEqual(r.warnings, []);
  });

  it('reads comments, blank lines, whitespace and line endings as PeerVPN does', () => {
    const r = importPeerVpn(
      [
        '# a comment',
        '',
        '   ; another comment',
        '\t',
        '  networkname   home-net   # trailing comment',
        'psk correct horse battery staple#not part of the psk',
        'port 7000;comment\r',
        'interface\tpeervpn0\r',
        'initpeers  198.18.0.2   7000\t198.18.0.2 7000  ',
        'enablerelay no',
        'endconfig',
        'this line is after endconfig and never read',
      ].join('\n'),
    );
    assert.deepEqual(r.config, {
      network: { name: 'home-net', secretFile: 'home-net.secret', bootstrap: ['198.18.0.2:7000'] },
      interface: 'peervpn0',
      listenPort: 7000,
    });
    assert.equal(r.secret, 'correct horse battery staple');
    assert.deepEqual(r.warnings, []);
    // Option names in any case (PeerVPN wants lower case; nothing is lost by being lenient).
    assert.equal(importPeerVpn(`${base}Port 7001\n`).config.listenPort, 7001);
  });

  it('lets a later line override an earlier one, with a warning', () => {
    const r = importPeerVpn(`${base}port 7000\nport 7001\ninitpeers 198.18.0.2 1\ninitpeers 198.18.0.3 2\n`);
    assert.equal(r.config.listenPort, 7001);
    assert.deepEqual((r.config.network as { bootstrap: string[] }).bootstrap, ['198.18.0.3:2']);
    assert.deepEqual(r.warnings, [
      'line 4: port given again (first on line 3); the last one counts, as in PeerVPN',
      'line 6: initpeers given again (first on line 5); the last one counts, as in PeerVPN',
    ]);
  });

  it('warns about the options that are only unsupported with some values, and unknown options', () => {
    const cases: [string, RegExp][] = [
      ['enabletunneling no', /^line 3: enabletunneling ignored: .*TUN interface/],
      ['enableipv4 no', /^line 3: enableipv4 ignored: .*cannot turn IPv4 off/],
      ['enableipv6 false', /^line 3: enableipv6 ignored: .*cannot turn IPv6 off/],
      ['local 198.18.0.1', /^line 3: local ignored: .*"198\.18\.0\.1" is not carried over/],
      ['enablesyslog yes', /^line 3: enablesyslog ignored: .*stderr/],
      ['enableseccomp yes', /^line 3: enableseccomp ignored: .*seccomp/],
      ['forceseccomp yes', /^line 3: forceseccomp ignored: .*seccomp/],
      ['echo hello', /^line 3: echo ignored: /],
      ['sockmark 0', /^line 3: sockmark ignored: .*SO_MARK/],
      ['enablefoo yes', /^line 3: unknown option "enablefoo" ignored: not a PeerVPN 0\.044 option/],
      ['constructor yes', /^line 3: unknown option "constructor" ignored: /],
    ];
    for (const [line, re] of cases) {
      const { warnings } = importPeerVpn(`${base}${line}\n`);
      assert.equal(warnings.length, 1, line);
      assert.match(warnings[0], re);
    }
    for (const quiet of ['enabletunneling yes', 'enableipv4 1', 'enableipv6 true', 'enablerelay no']) {
      assert.deepEqual(importPeerVpn(`${base}${quiet}\n`).warnings, [], quiet);
    }
  });

  it('brackets IPv6 initpeers, keeps host names, drops duplicates', () => {
    const r = importPeerVpn(
      `${base}initpeers fd00::9 7000 [2001:db8::2] 7000 peer-1.example.org 1 198.18.0.2 7000\n`,
    );
    assert.deepEqual((r.config.network as { bootstrap: string[] }).bootstrap, [
      '[fd00::9]:7000',
      '[2001:db8::2]:7000',
      'peer-1.example.org:1',
      '198.18.0.2:7000',
    ]);
  });

  it('uses the secretFile it is given', () => {
    const r = importPeerVpn(fixture('minimal.conf'), { secretFile: '/etc/peermesh/lab.secret' });
    assert.equal((r.config.network as { secretFile: string }).secretFile, '/etc/peermesh/lab.secret');
  });

  it('refuses malformed files with the line number', () => {
    const bad: [string, RegExp][] = [
      [`${base}port abc`, /^line 3: port "abc" must be a number 0-65535$/],
      [`${base}\nport 70000`, /^line 4: port .*"70000" must be a number 0-65535/],
      [`${base}port -1`, /^line 3: port .*must be a number/],
      [
        `${base}initpeers 198.18.0.2 7000 198.18.0.3`,
        /^line 3: initpeers needs pairs of host and port.*3 words/,
      ],
      [`${base}initpeers 198.18.0.2`, /^line 3: initpeers needs pairs/],
      [`${base}initpeers 198.18.0.2 0`, /^line 3: initpeers peer 1 \("198\.18\.0\.2"\): port "0" must be/],
      [`${base}initpeers 198.18.0.2 7000 198.18.0.3 x`, /^line 3: initpeers peer 2 .*port "x"/],
      [`${base}initpeers bad_host! 7000`, /^line 3: initpeers peer 1: "bad_host!" is neither an IP/],
      [
        `${base}initpeers fd00::1::2 7000`,
        /^line 3: initpeers peer 1: .*neither an IP address nor a host name/,
      ],
      [
        `${base}ifconfig4 100.64.0.1`,
        /^line 3: ifconfig4 "100\.64\.0\.1" must be an IPv4 address with a prefix/,
      ],
      [`${base}ifconfig4 100.64.0.300/24`, /^line 3: ifconfig4 .*IPv4/],
      [`${base}ifconfig4 100.64.0.1/33`, /^line 3: ifconfig4 .*IPv4/],
      [`${base}ifconfig4 fd00::1/64`, /^line 3: ifconfig4 .*IPv4/],
      [`${base}ifconfig6 100.64.0.1/24`, /^line 3: ifconfig6 .*IPv6 address with a prefix length/],
      [`${base}ifconfig6 fd00::zz/64`, /^line 3: ifconfig6 /],
      [`${base}interface this-name-is-too-long`, /^line 3: interface .*1-15 characters/],
      [`${base}enablerelay maybe`, /^line 3: enablerelay must be yes or no, not "maybe"/],
      [`${base}enablendpcache perhaps`, /^line 3: enablendpcache must be yes or no/],
      [`${base}enablerelay constructor`, /^line 3: enablerelay must be yes or no/],
      [`${base}sockmark lots`, /^line 3: sockmark must be a number/],
      [
        `networkname my network\npsk ${PSK}`,
        /^line 1: networkname "my network" cannot be a PeerMesh network name/,
      ],
      [`networkname\npsk ${PSK}`, /^line 1: networkname needs a value/],
      [`# no name\npsk ${PSK}\nport 7000`, /^no networkname line/],
      ['networkname home-net\nport 7000', /^no psk line/],
      ['networkname home-net\npsk', /^line 2: psk needs a value/],
      ['networkname home-net\n\npsk tiny-pw', /^line 3: psk is shorter than 12 characters/],
    ];
    for (const [text, re] of bad) assert.match(errorOf(text), re, text);
  });

  it('never shows the psk in a warning or an error', () => {
    const secretish = [
      // the psk where an option name is expected, and as the value of other options
      `${base}${PSK}\n`,
      `${base}correct\n`,
      `${base}local ${PSK}\n`,
      `${base}echo ${PSK}\n`,
      `${base}psk ${PSK}\n`,
    ];
    for (const text of secretish) {
      const { warnings } = importPeerVpn(text);
      assert.ok(warnings.length > 0, text);
      for (const w of warnings) {
        assert.ok(!w.includes(PSK) && !w.includes('correct horse'), w);
      }
    }
    const failing = [
      `${base}port ${PSK}`,
      `${base}initpeers ${PSK} 7000 x`,
      `${base}ifconfig4 ${PSK}`,
      `${base}interface ${PSK}`,
      `${base}enablerelay ${PSK}`,
      `networkname ${PSK}\npsk ${PSK}`,
      `networkname home-net\npsk short-psk`,
      `psk ${PSK}`,
    ];
    for (const text of failing) {
      const msg = errorOf(text);
      assert.ok(!msg.includes(PSK) && !msg.includes('correct') && !msg.includes('short-psk'), msg);
    }
    const withPsk = importPeerVpn(fixture('full.conf'));
    assert.ok(withPsk.warnings.length > 0);
    for (const w of withPsk.warnings) assert.ok(!w.includes(PSK), w);
  });
});
