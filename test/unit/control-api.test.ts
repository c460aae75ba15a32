// The Control API's schemas (main/control/api.ts, schema.ts) and the unix-socket transport: valid
// requests pass with exactly their known fields; malformed, oversized, unknown and hostile ones get
// a structured error and never throw, crash the server or touch prototypes; secrets are not echoed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import {
  handleIpcCall,
  type RendererPolicy,
  type SenderInfo,
  type TrustedWindow,
} from '../../main/app/ipc-validate';
import {
  ApiFailure,
  COMMON_ERRORS,
  MAX_MESSAGE_BYTES,
  METHODS,
  type MethodName,
  type NodeHandlers,
  parseEvent,
  parseRequest,
} from '../../main/control/api';
import { serveTable } from '../../main/control/dispatch';
import { cidr, obj, str } from '../../main/control/schema';
import { ControlServer } from '../../main/control/socket';
import { WebServer } from '../../main/control/web-server';
import { ManagerError, NodeManager } from '../../main/node/manager';

describe('Control API schemas', () => {
  it('accepts a valid example of every method and keeps only known fields', () => {
    const examples: Record<keyof typeof METHODS, unknown> = {
      status: undefined,
      ping: {},
      metrics: { peer: 'pi', window: 900, points: 120 },
      'ping-peer': { peer: '100.64.1.2' },
      invite: { expiresSeconds: 3600, uses: 2 },
      invites: {},
      'revoke-invite': { id: '0a1b2c3d' },
      remove: { peer: 'pi.home' },
      state: {},
      peers: {},
      settings: {},
      logs: { level: 'warn', limit: 100 },
      connect: {},
      disconnect: {},
      'create-network': { name: 'home', nodeName: 'laptop' },
      join: { code: 'pm1-abcdefghijklmnop' },
      leave: {},
      rename: { peer: 'pi', name: 'Raspberry in the hall' },
      'set-settings': { listenPort: 51821, theme: 'dark', advertiseRoutes: ['192.168.1.0/24'], relay: true },
      routes: {},
      'accept-route': { route: 'all' },
      'decline-route': { route: '192.168.1.0/24' },
      'exit-node': { node: 'p', allowLan: true, failOpen: false },
      'add-device': { name: 'phone', endpoint: '203.0.113.7:51820' },
      'remove-device': { name: 'phone' },
      devices: {},
      access: {},
      'set-access': { op: 'allow', peer: 'laptop', what: 'tcp/22' },
    };
    for (const [method, params] of Object.entries(examples)) {
      const r = parseRequest({ id: 7, method, params });
      assert.equal(r.ok, true, `${method}: ${JSON.stringify(r)}`);
    }
    const r = parseRequest({ id: 'a', method: 'metrics', params: { peer: 'pi' } });
    assert.ok(r.ok && Object.getPrototypeOf(r.params) === Object.prototype);
    assert.deepEqual(r.ok && r.params, { peer: 'pi' });
  });

  it('gives a structured error for every malformed request', () => {
    const cases: [unknown, string][] = [
      [null, 'bad_request'],
      [[1, 2], 'bad_request'],
      ['status', 'bad_request'],
      [{ method: 'status' }, 'bad_request'],
      [{ id: { x: 1 }, method: 'status' }, 'bad_request'],
      [{ id: 'x'.repeat(65), method: 'status' }, 'bad_request'],
      [{ id: Number.NaN, method: 'status' }, 'bad_request'],
      [{ id: 1, method: 'status', extra: 1 }, 'bad_request'],
      [{ id: 1, method: 'nope' }, 'unknown_method'],
      [{ id: 1, method: '__proto__' }, 'unknown_method'],
      [{ id: 1, method: 'toString' }, 'unknown_method'],
      [{ id: 1, method: 'constructor' }, 'unknown_method'],
      [{ id: 1, method: 7 }, 'bad_request'],
      [{ id: 1, method: 'metrics', params: { peer: 'pi', window: 5 } }, 'bad_params'],
      [{ id: 1, method: 'metrics', params: { peer: 'pi', points: 1.5 } }, 'bad_params'],
      [{ id: 1, method: 'metrics', params: { peer: 'pi', points: Number.POSITIVE_INFINITY } }, 'bad_params'],
      [{ id: 1, method: 'metrics', params: { peer: '' } }, 'bad_params'],
      [{ id: 1, method: 'metrics', params: { peer: 'x'.repeat(101) } }, 'bad_params'],
      [{ id: 1, method: 'metrics', params: { peer: 'pi', more: 1 } }, 'bad_params'],
      [{ id: 1, method: 'metrics', params: [] }, 'bad_params'],
      [{ id: 1, method: 'invite', params: { expiresSeconds: 10 } }, 'bad_params'],
      [{ id: 1, method: 'remove', params: null }, 'bad_params'],
      [{ id: 1, method: 'create-network', params: { name: 'a b' } }, 'bad_params'],
      [{ id: 1, method: 'create-network', params: { name: 'home', nodeName: '-x' } }, 'bad_params'],
      [{ id: 1, method: 'set-settings', params: { listenPort: 70000 } }, 'bad_params'],
      [{ id: 1, method: 'set-settings', params: { theme: 'pink' } }, 'bad_params'],
      [{ id: 1, method: 'set-settings', params: { advertiseRoutes: ['10.0.0.0/33'] } }, 'bad_params'],
      [{ id: 1, method: 'set-settings', params: { interfaceName: 'x'.repeat(16) } }, 'bad_params'],
      [{ id: 1, method: 'join', params: { code: 'short' } }, 'bad_params'],
      [{ id: 1, method: 'logs', params: { limit: 0 } }, 'bad_params'],
    ];
    for (const [raw, code] of cases) {
      const r = parseRequest(raw);
      assert.equal(r.ok, false, JSON.stringify(raw));
      assert.equal(!r.ok && r.error.code, code, `${JSON.stringify(raw)}: ${JSON.stringify(r)}`);
    }
  });

  it('refuses __proto__ and friends without polluting anything', () => {
    const raw = JSON.parse('{"id":1,"method":"remove","params":{"peer":"pi","__proto__":{"polluted":1}}}');
    const r = parseRequest(raw);
    assert.equal(r.ok, false);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const c = parseRequest(
      JSON.parse('{"id":1,"method":"remove","params":{"constructor":{"prototype":{"x":1}}}}'),
    );
    assert.equal(c.ok, false);
  });

  it('never echoes a secret, token or code in an error', () => {
    const s = obj({ code: str({ max: 8 }), token: str({ max: 8 }) });
    for (const field of ['code', 'token'])
      assert.throws(
        () => s.parse({ code: 'ok', token: 'ok', [field]: 'SUPER-SECRET-VALUE' }),
        (e: Error) => {
          assert.doesNotMatch(e.message, /SUPER-SECRET/);
          assert.match(e.message, new RegExp(`params\\.${field}`));
          return true;
        },
      );
  });

  it('validates CIDR syntax', () => {
    const c = cidr();
    for (const ok of [
      '192.168.1.0/24',
      '10.0.0.1/32',
      '0.0.0.0/0',
      'fd00::/64',
      '::/0',
      '2001:db8::1/128',
      '::ffff:1.2.3.4/128',
    ])
      assert.equal(c.parse(ok), ok);
    for (const bad of [
      '192.168.1.0',
      '256.1.1.1/8',
      '1.2.3/8',
      '1.2.3.4/33',
      '1.2.3.4/08',
      'fd00::/129',
      'fd00:::1/64',
      '1:2:3:4:5:6:7:8:9/64',
      'g::/8',
      5,
      '',
    ])
      assert.throws(() => c.parse(bad), /expected a CIDR/, String(bad));
  });

  it('checks events a client receives', () => {
    assert.deepEqual(parseEvent({ type: 'rtt', key: 'k', ms: 12 }), { type: 'rtt', key: 'k', ms: 12 });
    assert.equal(parseEvent({ type: 'rtt', key: 'k', ms: -1 }), null);
    assert.equal(parseEvent({ type: 'evil' }), null);
    assert.equal(parseEvent('x'), null);
  });

  it('a seeded fuzz of 3000 random and mutated requests never throws', () => {
    let x = 0x9e3779b9;
    const rnd = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 0x100000000;
    };
    const atoms = [null, true, 0, -1, 1e300, Number.NaN, '', 'pi', 'x'.repeat(300), [], {}, '__proto__'];
    const value = (d: number): unknown => {
      const k = Math.floor(rnd() * (d > 3 ? atoms.length : atoms.length + 2));
      if (k < atoms.length) return atoms[k];
      if (k === atoms.length) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(d + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < rnd() * 4; i++)
        o[['peer', 'window', 'points', 'id', 'method', 'params', 'z'][Math.floor(rnd() * 7)]] = value(d + 1);
      return o;
    };
    const methods = [...Object.keys(METHODS), 'x', '__proto__'];
    for (let i = 0; i < 3000; i++) {
      const raw =
        rnd() < 0.5
          ? value(0)
          : { id: value(3), method: methods[Math.floor(rnd() * methods.length)], params: value(1) };
      assert.doesNotThrow(() => parseRequest(raw));
    }
  });
});

describe('unix socket transport', () => {
  it('answers malformed, unknown and oversized requests with errors and keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-sock-'));
    const path = join(dir, 's.sock');
    // fake results: the socket only carries them
    const server = new ControlServer({
      status: () => ({ ok: true }),
      remove: (p: unknown) => ({ got: p }),
    } as unknown as Partial<NodeHandlers>);
    await server.listen(path);
    try {
      const talk = (lines: string[]) =>
        new Promise<Record<string, unknown>[]>((resolve) => {
          const c = net.connect(path);
          let buf = '';
          c.on('data', (d) => {
            buf += d;
            const got = buf.split('\n').filter(Boolean);
            if (got.length >= lines.length) {
              c.destroy();
              resolve(got.map((l) => JSON.parse(l)));
            }
          });
          c.on('connect', () => c.write(`${lines.join('\n')}\n`));
        });
      const r = await talk([
        'not json',
        '[]',
        '{"id":1,"method":"nope"}',
        '{"id":2,"method":"remove","params":{"peer":7}}',
        '{"id":3,"method":"ping-peer","params":{"peer":"x"}}',
        '{"id":4,"method":"remove","params":{"peer":"pi"}}',
        '{"id":5,"method":"status"}',
      ]);
      const byId = (id: unknown) => r.find((x) => x.id === id)!;
      assert.equal((r[0].error as { code: string }).code, 'bad_request');
      assert.equal((byId(1).error as { code: string }).code, 'unknown_method');
      assert.equal((byId(2).error as { code: string }).code, 'bad_params');
      assert.match((byId(3).error as { message: string }).message, /does not serve ping-peer/);
      assert.deepEqual(byId(4).result, { got: { peer: 'pi' } });
      assert.deepEqual(byId(5).result, { ok: true });
      const big = await talk([`{"id":9,"method":"status","params":{"peer":"${'x'.repeat(70_000)}"}}`]);
      assert.equal((big[0].error as { code: string }).code, 'too_large');
    } finally {
      server.close(path);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- one failure, one code, on every transport ---------------------------------------------------

/** A line to the unix socket, its one reply line back. */
function socketCall(path: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = net.connect(path);
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      c.destroy();
      resolve(JSON.parse(buf.slice(0, i)));
    });
    c.on('error', reject);
    c.on('connect', () => c.write(`${line}\n`));
  });
}

/** A text message to the WebSocket, its reply back. */
function wsCall(ws: WebSocket, text: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())));
    ws.send(text);
  });
}

function wsOpen(url: string): Promise<WebSocket> {
  const u = new URL(url);
  const token = new URLSearchParams(u.hash.slice(1)).get('token');
  const ws = new WebSocket(`ws://${u.host}/api`, ['peermesh.v1', `peermesh.auth.${token}`], {
    origin: `http://${u.host}`,
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** What a reply says: its error code, or `ok` and the result. */
function outcome(r: Record<string, unknown> | { ok: boolean; result?: unknown; error?: unknown }): string {
  const e = (r as { error?: { code?: unknown } }).error;
  if (e) return String(e.code);
  return `ok ${JSON.stringify((r as { result?: unknown }).result)}`;
}

describe('one failure gives one code on the unix socket, the WebSocket and Electron IPC', () => {
  // A node's handler table that fails in every way a handler can; `remove` says how by its peer.
  const failing = {
    ping: () => undefined,
    status: () => ({ big: 1n }),
    remove: ({ peer }: { peer: string }) => {
      if (peer === 'plain') throw new Error('plain error');
      if (peer === 'busy') throw new ApiFailure('busy', 'the node did not answer');
      if (peer === 'fs') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      if (peer === 'manager') throw new ManagerError('bad_params', 'bad join code');
      if (peer === 'odd') throw Object.assign(new Error('odd'), { code: 'not_a_code' });
      return { removed: peer, name: peer };
    },
  } as unknown as Partial<NodeHandlers>;
  const serve = serveTable(failing);
  const fileUrl = pathToFileURL('/app/renderer/dist/index.html').href;
  const policy: RendererPolicy = { rendererFileUrl: fileUrl, devServerOrigin: null };
  const trusted: TrustedWindow = { webContentsId: 1, mainFrame: { processId: 5, routingId: 1 } };
  const sender: SenderInfo = { webContentsId: 1, frame: { url: fileUrl, processId: 5, routingId: 1 } };

  const req = (o: Record<string, unknown>) => JSON.stringify(o);
  const remove = (id: number, peer: string) => req({ id, method: 'remove', params: { peer } });
  /** [what, request text, expected outcome on every transport; null: not a message IPC can carry]. */
  const cases: [string, string, string, boolean][] = [
    ['not JSON', '{"id":1,', 'bad_request', false],
    ['not an object', '[1]', 'bad_request', true],
    ['an id that is an object', '{"id":{},"method":"ping"}', 'bad_request', true],
    ['an id of 100 characters', req({ id: 'i'.repeat(100), method: 'ping' }), 'bad_request', true],
    ['an unknown top-level field', '{"id":1,"method":"ping","extra":true}', 'bad_request', true],
    ['a method that is not a string', '{"id":1,"method":7}', 'bad_request', true],
    ['no method', '{"id":1}', 'bad_request', true],
    ['an unknown method', '{"id":1,"method":"nope"}', 'unknown_method', true],
    ['a method the node does not serve', '{"id":1,"method":"connect"}', 'unknown_method', true],
    ['bad params', '{"id":1,"method":"remove","params":{"peer":7}}', 'bad_params', true],
    ['over MAX_MESSAGE_BYTES', remove(1, 'x'.repeat(MAX_MESSAGE_BYTES)), 'too_large', true],
    ['a plain Error', remove(1, 'plain'), 'failed', true],
    ['an ApiFailure with a code', remove(1, 'busy'), 'busy', true],
    ["an fs error's code (EACCES)", remove(1, 'fs'), 'failed', true],
    ["the manager's ManagerError", remove(1, 'manager'), 'bad_params', true],
    ['a code not in the contract', remove(1, 'odd'), 'failed', true],
    ['a result of undefined', '{"id":1,"method":"ping"}', 'ok null', true],
    ['a good call', remove(1, 'pi'), 'ok {"removed":"pi","name":"pi"}', true],
    ['a result with no JSON form', '{"id":1,"method":"status"}', 'internal', false],
  ];

  it('the same request gets the same code, or the same result, on each transport', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-codes-'));
    const path = join(dir, 's.sock');
    const socket = new ControlServer(failing);
    await socket.listen(path);
    const web = await WebServer.start({ port: 0, handle: async (m, p) => serve(m, p) });
    const ws = await wsOpen(web.url);
    try {
      for (const [what, text, want, ipc] of cases) {
        assert.equal(outcome(await socketCall(path, text)), want, `unix socket: ${what}`);
        assert.equal(outcome(await wsCall(ws, text)), want, `WebSocket: ${what}`);
        if (!ipc) continue;
        const reply = await handleIpcCall(sender, trusted, policy, JSON.parse(text), async (m, p) =>
          serve(m, p),
        );
        assert.equal(outcome(reply), want, `Electron IPC: ${what}`);
      }
    } finally {
      ws.close();
      await web.close();
      socket.close(path);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("through the app's NodeManager: its failures give the same code on the WebSocket and IPC", async () => {
    const profileDir = mkdtempSync(join(tmpdir(), 'pm-codes-app-'));
    const m = await NodeManager.open({
      profileDir,
      desktop: false,
      ui: { host: '127.0.0.1', port: 0, staticDir: null },
    });
    const ws = await wsOpen(m.webUrl!);
    try {
      const manager: [string, string, string][] = [
        ['connect without a network', '{"id":1,"method":"connect"}', 'failed'],
        ['a node method while disconnected', '{"id":1,"method":"invite","params":{}}', 'failed'],
        [
          'a join code that does not decode',
          req({ id: 1, method: 'join', params: { code: 'pm1-not-a-code' } }),
          'bad_params',
        ],
        ['leave without a network', '{"id":1,"method":"leave"}', 'failed'],
        ['bad params', '{"id":1,"method":"set-settings","params":{"theme":"pink"}}', 'bad_params'],
        ['a method that is not a string', '{"id":1,"method":7}', 'bad_request'],
        ['peers while disconnected', '{"id":1,"method":"peers"}', 'ok []'],
      ];
      for (const [what, text, want] of manager) {
        assert.equal(outcome(await wsCall(ws, text)), want, `WebSocket: ${what}`);
        const reply = await handleIpcCall(sender, trusted, policy, JSON.parse(text), (meth, p) =>
          m.handle(meth, p),
        );
        assert.equal(outcome(reply), want, `Electron IPC: ${what}`);
        // a code a method gives is one the contract declares for it
        const method = (JSON.parse(text) as { method?: unknown }).method;
        if (!want.startsWith('ok') && typeof method === 'string' && method in METHODS) {
          const declared: readonly string[] = [...COMMON_ERRORS, ...METHODS[method as MethodName].errors];
          assert.ok(declared.includes(want), `${method} answers ${want}, not declared in METHODS`);
        }
      }
    } finally {
      ws.close();
      await m.close();
      rmSync(profileDir, { recursive: true, force: true });
    }
  });
});
