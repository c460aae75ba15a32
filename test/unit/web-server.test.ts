// The localhost web UI server: real HTTP requests (any Host/Origin header) and real WebSocket clients against
// servers on 127.0.0.1. Every defence gets a test: Host check (DNS rebinding), token (Bearer or WebSocket
// subprotocol, traded for a session token; never a cookie or the query), Origin check, path traversal, security
// headers, and a WebSocket protocol that survives bad input. (test/unit/ui-token.test.ts: the same in Chromium.)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Gates, SESSION_IDLE_MS } from '../../main/control/web-gates';
import { WebServer } from '../../main/control/web-server';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RpcReply {
  id?: unknown;
  result?: unknown;
  error?: { code: string; message: string };
  type?: string;
  event?: unknown;
}

const base = mkdtempSync(join(tmpdir(), 'pm-web-'));
const www = join(base, 'www');
const INDEX = '<!doctype html><title>PeerMesh UI</title><script src="/app.js"></script>';
const APP_JS = 'console.log("peermesh app");';
const SECRET = 'TOP-SECRET-OUTSIDE-STATICDIR';
const METRICS = '# TYPE peermesh_peers gauge\npeermesh_peers 3\n';

const sockets: WebSocket[] = [];
const servers: WebServer[] = [];
let gate: (() => void) | null = null;
let gateOpen: Promise<void> = Promise.resolve();

/**
 * The Control API behind the server, faked over real method names (the server checks every request
 * against the contract before it calls this): `rename` echoes its checked params, `ping` returns
 * nothing, `remove` fails in the ways a handler can, `peers` waits for the test's gate.
 */
async function handle(method: string, params: unknown): Promise<unknown> {
  const peer = (params as { peer?: string }).peer;
  switch (method) {
    case 'rename':
      return params;
    case 'ping':
      return undefined;
    case 'remove':
      if (peer === 'coded') throw Object.assign(new Error('nope'), { code: 'busy' });
      if (peer === 'odd') throw Object.assign(new Error('odd'), { code: 'not_found' });
      throw new Error('kaboom');
    case 'peers':
      await gateOpen;
      return 'done';
    default:
      throw Object.assign(new Error(`unknown method ${method}`), { code: 'unknown_method' });
  }
}

/** A `rename` call (the fake echoes its checked params) gets its answer. */
async function echoes(ws: WebSocket, id: number | string, name: string): Promise<void> {
  const reply = await call(ws, { id, method: 'rename', params: { peer: 'p', name } });
  assert.deepEqual(reply, { id, result: { peer: 'p', name } });
}

function request(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: { Host: `127.0.0.1:${port}`, ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface WsOpts {
  path?: string;
  origin?: string;
  headers?: Record<string, string>;
  /** Authenticate as the browser page does: the subprotocol peermesh.auth.TOKEN next to peermesh.v1. */
  token?: string;
}

/** The printed link's token (in its fragment). */
function linkToken(url: string): string {
  return new URLSearchParams(new URL(url).hash.slice(1)).get('token')!;
}

/** Opens a WebSocket: resolves with the open socket, or with the HTTP status of a refused upgrade. */
function openWs(port: number, opts: WsOpts = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const protocols = opts.token !== undefined ? ['peermesh.v1', `peermesh.auth.${opts.token}`] : [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/api'}`, protocols, {
      headers: opts.headers ?? {},
      ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
    });
    sockets.push(ws);
    ws.on('error', () => {});
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

async function mustOpen(port: number, opts: WsOpts): Promise<WebSocket> {
  const r = await openWs(port, opts);
  assert.ok(typeof r !== 'number', `upgrade refused with ${r}`);
  return r;
}

function nextMessage(ws: WebSocket): Promise<RpcReply> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('socket closed'));
    ws.once('close', onClose);
    ws.once('message', (data) => {
      ws.off('close', onClose);
      resolve(JSON.parse(data.toString()) as RpcReply);
    });
  });
}

function call(ws: WebSocket, payload: unknown, binary = false): Promise<RpcReply> {
  const p = nextMessage(ws);
  ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload), { binary });
  return p;
}

describe('web UI server', () => {
  let server: WebServer;
  let port: number;
  let token: string;
  let origin: string;
  let bearer: string;

  before(async () => {
    mkdirSync(join(www, 'assets'), { recursive: true });
    writeFileSync(join(www, 'index.html'), INDEX);
    writeFileSync(join(www, 'app.js'), APP_JS);
    writeFileSync(join(www, 'assets', 'style.css'), 'body{color:red}');
    writeFileSync(join(www, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(www, 'assets', 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    writeFileSync(join(www, 'assets', 'data.json'), '{"a":1}');
    writeFileSync(join(www, 'assets', 'font.woff2'), Buffer.from('wOF2'));
    writeFileSync(join(www, '.env'), SECRET);
    writeFileSync(join(base, 'secret.txt'), SECRET);
    symlinkSync(join(base, 'secret.txt'), join(www, 'link.txt'));
    server = await WebServer.start({
      port: 0,
      staticDir: www,
      handle,
      metricsText: () => METRICS,
      maxMessageBytes: 1024,
    });
    servers.push(server);
    port = server.port;
    token = linkToken(server.url);
    origin = `http://127.0.0.1:${port}`;
    bearer = `Bearer ${token}`;
  });

  after(async () => {
    for (const ws of sockets) ws.terminate();
    await Promise.all(servers.map((s) => s.close()));
    rmSync(base, { recursive: true, force: true });
  });

  it('binds to 127.0.0.1 by default and prints a link with the token in its fragment', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    assert.equal(new URL(server.url).port, String(port));
    assert.equal(server.accessToken, token);
    assert.ok(port > 0);
  });

  it('serves the public UI build without a token, but nothing of the node: /api, /metrics, /session', async () => {
    assert.equal((await request(port, '/')).body, INDEX);
    assert.equal((await request(port, '/app.js')).body, APP_JS);
    for (const path of ['/metrics', '/api', '/session']) {
      const r = await request(port, path);
      assert.equal(r.status, 401, path);
      assert.ok(!r.body.includes('peermesh_peers'), path);
      assert.ok(r.body.length < 200);
    }
    assert.equal(await openWs(port, { origin }), 401);
  });

  it('refuses a wrong token of the same or a different length, as Bearer or subprotocol', async () => {
    const same = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    assert.equal(same.length, token.length);
    for (const bad of [same, 'short', `${token}x`, '']) {
      const r = await request(port, '/metrics', { headers: { Authorization: `Bearer ${bad}` } });
      assert.equal(r.status, 401, `Bearer ${bad}`);
      if (bad !== '') assert.equal(await openWs(port, { origin, token: bad }), 401, `subprotocol ${bad}`);
    }
  });

  it('takes the token from no cookie and no query string (cookies reach every port; queries get logged)', async () => {
    for (const headers of [{ Cookie: `pm_token=${token}` }, { Cookie: `token=${token}` }]) {
      assert.equal((await request(port, '/metrics', { headers })).status, 401);
      assert.equal(await openWs(port, { origin, headers }), 401);
    }
    assert.equal((await request(port, `/metrics?token=${token}`)).status, 401);
    assert.equal(await openWs(port, { path: `/api?token=${token}`, origin }), 401);
    // The old `?token=` link sets no cookie and redirects nowhere: it just gets the page.
    const old = await request(port, `/?token=${token}`);
    assert.equal(old.status, 200);
    assert.equal(old.headers['set-cookie'], undefined);
  });

  it('trades the printed token for a session token (POST /session, own Origin), which then works', async () => {
    const r = await request(port, '/session', {
      method: 'POST',
      headers: { Authorization: bearer, Origin: origin },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['set-cookie'], undefined);
    assert.equal(r.headers['cache-control'], 'no-store');
    const { session } = JSON.parse(r.body) as { session: string };
    assert.match(session, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(session, token);
    assert.equal(
      (await request(port, '/session', { headers: { Authorization: `Bearer ${session}` } })).status,
      204,
    );
    const ws = await mustOpen(port, { origin, token: session });
    assert.equal(ws.protocol, 'peermesh.v1', 'the server selects our protocol, never echoes the token');
    await echoes(ws, 1, 'session');
    ws.close();
    // A session token cannot mint more sessions; a POST needs our Origin; a foreign one is refused.
    const again = { Authorization: `Bearer ${session}`, Origin: origin };
    assert.equal((await request(port, '/session', { method: 'POST', headers: again })).status, 401);
    assert.equal(
      (await request(port, '/session', { method: 'POST', headers: { Authorization: bearer } })).status,
      403,
    );
    for (const o of ['http://evil.example', `http://127.0.0.1:${port + 1}`]) {
      const h = { Authorization: bearer, Origin: o };
      assert.equal((await request(port, '/session', { method: 'POST', headers: h })).status, 403, o);
    }
    assert.equal(
      (await request(port, '/session', { headers: { Authorization: 'Bearer nope-nope-nope-nope' } })).status,
      401,
    );
  });

  it('accepts Authorization: Bearer', async () => {
    const r = await request(port, '/metrics', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
  });

  it('refuses foreign Host headers with 403 even with a valid token (DNS rebinding)', async () => {
    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      '127.0.0.1.evil.example',
      `127.0.0.1.evil.example:${port}`,
      `localhost.:${port}`,
      `127.0.0.1:${port + 1}`,
      `localhost:${port}@evil.example`,
    ]) {
      const r = await request(port, '/', { headers: { Host: host, Authorization: bearer } });
      assert.equal(r.status, 403, host);
      assert.ok(!r.body.includes('PeerMesh UI'), host);
    }
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      'localhost',
      'LOCALHOST',
    ]) {
      const r = await request(port, '/', { headers: { Host: host, Authorization: bearer } });
      assert.equal(r.status, 200, host);
    }
  });

  it('sets the security headers on every response, with connect-src from the accepted Host', async () => {
    const r = await request(port, '/', { headers: { Authorization: bearer } });
    assert.equal(
      r.headers['content-security-policy'],
      `default-src 'self'; connect-src 'self' ws://127.0.0.1:${port}; img-src 'self' data:; ` +
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    );
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const local = await request(port, '/', { headers: { Host: `localhost:${port}`, Authorization: bearer } });
    assert.match(
      String(local.headers['content-security-policy']),
      new RegExp(`connect-src 'self' ws://localhost:${port};`),
    );
    for (const r2 of [
      await request(port, '/'),
      await request(port, '/', { headers: { Host: 'evil.example' } }),
    ]) {
      assert.match(String(r2.headers['content-security-policy']), /frame-ancestors 'none'/);
      assert.equal(r2.headers['x-content-type-options'], 'nosniff');
      assert.equal(r2.headers['referrer-policy'], 'no-referrer');
    }
  });

  it('serves static files with the right content types, and index.html for SPA routes', async () => {
    const types: Record<string, string> = {
      '/index.html': 'text/html; charset=utf-8',
      '/app.js': 'text/javascript; charset=utf-8',
      '/assets/style.css': 'text/css; charset=utf-8',
      '/assets/logo.svg': 'image/svg+xml',
      '/assets/logo.png': 'image/png',
      '/assets/data.json': 'application/json; charset=utf-8',
      '/assets/font.woff2': 'font/woff2',
    };
    for (const [path, type] of Object.entries(types)) {
      const r = await request(port, path, { headers: { Authorization: bearer } });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
    }
    for (const path of ['/peers', '/peers/abc/settings', '/assets']) {
      const r = await request(port, path, { headers: { Authorization: bearer } });
      assert.equal(r.status, 200, path);
      assert.equal(r.body, INDEX, path);
    }
    assert.equal((await request(port, '/missing.js', { headers: { Authorization: bearer } })).status, 404);
    const head = await request(port, '/app.js', { method: 'HEAD', headers: { Authorization: bearer } });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], String(APP_JS.length));
  });

  it('never serves files outside staticDir (path traversal), nor dotfiles or escaping symlinks', async () => {
    for (const path of [
      '/../../etc/passwd',
      '/../secret.txt',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/..%2fetc',
      '/..%2fsecret.txt',
      '/..%2Fsecret.txt',
      '/%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/..\\secret.txt',
      '/assets/../../secret.txt',
      '/./../secret.txt',
      '//etc/passwd',
      '/%00',
      '/index.html%00.js',
      '/%',
      '/.env',
      '/link.txt',
    ]) {
      const r = await request(port, path, { headers: { Authorization: bearer } });
      assert.ok(r.status === 400 || r.status === 404, `${path} -> ${r.status}`);
      assert.ok(!r.body.includes(SECRET), path);
      assert.ok(!r.body.includes('root:'), path);
    }
  });

  it('requires the same Origin for non-GET requests and refuses a foreign Origin on any request', async () => {
    const post = await request(port, '/', {
      method: 'POST',
      headers: { Authorization: bearer, Origin: origin },
    });
    assert.equal(post.status, 405);
    assert.equal(
      (await request(port, '/', { method: 'POST', headers: { Authorization: bearer } })).status,
      403,
    );
    for (const o of ['http://evil.example', `http://localhost:${port + 1}`, 'null']) {
      const r = await request(port, '/', { method: 'POST', headers: { Authorization: bearer, Origin: o } });
      assert.equal(r.status, 403, o);
      const g = await request(port, '/', { headers: { Authorization: bearer, Origin: o } });
      assert.equal(g.status, 403, o);
    }
  });

  it('serves /metrics with a Bearer token (no Origin needed) and refuses it without', async () => {
    const r = await request(port, '/metrics', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(r.body, METRICS);
    const no = await request(port, '/metrics');
    assert.equal(no.status, 401);
    assert.ok(!no.body.includes('peermesh_peers'));
  });

  it('accepts a WebSocket with a valid token (Bearer or subprotocol) and the same Origin, and calls handle', async () => {
    const a = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    await echoes(a, 1, 'x12');
    const b = await mustOpen(port, { origin, token });
    assert.equal(b.protocol, 'peermesh.v1');
    assert.deepEqual(await call(b, { id: 'q', method: 'ping' }), { id: 'q', result: null });
    const c = await mustOpen(port, {
      origin: `http://localhost:${port}`,
      headers: { Host: `localhost:${port}`, Authorization: `Bearer ${token}` },
    });
    await echoes(c, 2, 'hi');
    assert.ok(server.clientCount() >= 3);
    for (const ws of [a, b, c]) ws.close();
  });

  it('refuses WebSocket upgrades with a foreign Origin, no Origin, a wrong token or a foreign Host', async () => {
    assert.equal(
      await openWs(port, { origin: 'http://evil.example', headers: { Authorization: bearer } }),
      403,
    );
    assert.equal(
      await openWs(port, { origin: `http://127.0.0.1:${port + 1}`, headers: { Authorization: bearer } }),
      403,
    );
    assert.equal(
      await openWs(port, { origin: `http://localhost:${port}`, headers: { Authorization: bearer } }),
      403,
    );
    assert.equal(await openWs(port, { headers: { Authorization: bearer } }), 403);
    assert.equal(await openWs(port, { origin }), 401);
    assert.equal(await openWs(port, { origin, headers: { Authorization: 'Bearer wrong' } }), 401);
    assert.equal(await openWs(port, { origin, token: 'wrong-wrong-wrong-wrong' }), 401);
    // the right token from a foreign Origin (another page on 127.0.0.1): still refused
    assert.equal(await openWs(port, { origin: `http://127.0.0.1:${port + 1}`, token }), 403);
    assert.equal(
      await openWs(port, {
        origin: `http://evil.example:${port}`,
        headers: { Host: `evil.example:${port}`, Authorization: bearer },
      }),
      403,
    );
    assert.equal(await openWs(port, { path: '/other', origin, headers: { Authorization: bearer } }), 404);
  });

  it('answers malformed requests with bad_request and keeps the connection usable', async () => {
    const ws = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    const bad: [unknown, unknown][] = [
      ['{not json', null],
      ['[1,2,3]', null],
      ['"a string"', null],
      ['null', null],
      ['{"method":"ping"}', null],
      ['{"id":{},"method":"ping"}', null],
      ['{"id":7}', 7],
      ['{"id":8,"method":42}', 8],
      ['{"id":10,"method":"ping","extra":1}', 10],
    ];
    for (const [msg, id] of bad) {
      const r = await call(ws, msg);
      assert.equal(r.error?.code, 'bad_request', String(msg).slice(0, 40));
      assert.equal(r.id, id, String(msg).slice(0, 40));
      await echoes(ws, 100, '1');
    }
    const bin = await call(ws, Buffer.from('{"id":1,"method":"ping"}'), true);
    assert.equal(bin.error?.code, 'bad_request');
    await echoes(ws, 101, '2');
    ws.close();
  });

  it('closes a connection whose message exceeds the hard ceiling, and the server lives on', async () => {
    const ws = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send('x'.repeat(1024 * 3));
    assert.equal(await closed, 1009);
    const again = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    await echoes(again, 1, '3');
    again.close();
  });

  it('maps handler errors as every transport does: a contract code is kept, anything else is failed', async () => {
    const ws = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    const remove = (id: number, peer: string) => call(ws, { id, method: 'remove', params: { peer } });
    assert.deepEqual(await remove(1, 'coded'), { id: 1, error: { code: 'busy', message: 'nope' } });
    assert.deepEqual(await remove(2, 'odd'), { id: 2, error: { code: 'failed', message: 'odd' } });
    assert.deepEqual(await remove(3, 'boom'), { id: 3, error: { code: 'failed', message: 'kaboom' } });
    assert.equal((await call(ws, { id: 4, method: 'nope' })).error?.code, 'unknown_method');
    assert.equal(
      (await call(ws, { id: 5, method: 'remove', params: { peer: 7 } })).error?.code,
      'bad_params',
    );
    await echoes(ws, 6, 'true');
    ws.close();
  });

  it('answers a message over maxMessageBytes with too_large and keeps the connection usable', async () => {
    const ws = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    const r = await call(ws, JSON.stringify({ id: 9, method: 'rename', params: { peer: 'x'.repeat(1500) } }));
    assert.deepEqual(r, {
      id: null,
      error: { code: 'too_large', message: 'request larger than 1024 bytes' },
    });
    await echoes(ws, 10, 'still');
    ws.close();
  });

  it('bounds requests in flight per connection at 32 (then busy)', async () => {
    gateOpen = new Promise<void>((resolve) => {
      gate = resolve;
    });
    const ws = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    const replies: RpcReply[] = [];
    const all = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        replies.push(JSON.parse(data.toString()) as RpcReply);
        if (replies.length === 34) resolve();
      });
    });
    for (let i = 1; i <= 34; i++) ws.send(JSON.stringify({ id: i, method: 'peers' }));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      replies.map((r) => [r.id, r.error?.code]),
      [
        [33, 'busy'],
        [34, 'busy'],
      ],
    );
    gate!();
    await all;
    assert.equal(replies.filter((r) => r.result === 'done').length, 32);
    ws.close();
  });

  it('broadcasts events to authenticated clients', async () => {
    const ws = await mustOpen(port, { origin, headers: { Authorization: bearer } });
    const got = nextMessage(ws);
    server.broadcast({ kind: 'peer-up', peer: 'abc' });
    assert.deepEqual(await got, { type: 'event', event: { kind: 'peer-up', peer: 'abc' } });
    ws.close();
  });
});

describe('web UI server without a built UI, with allowedHosts and a given token', () => {
  const TOKEN = 'given-token-0123456789abcdef';
  let server: WebServer;
  let port: number;
  const opened: WebSocket[] = [];

  before(async () => {
    server = await WebServer.start({
      port: 0,
      staticDir: null,
      token: TOKEN,
      allowedHosts: ['peermesh.local'],
      handle,
    });
    port = server.port;
  });

  after(async () => {
    for (const ws of opened) ws.terminate();
    await server.close();
  });

  it('serves a small "not built" page, and 404 for /metrics without metricsText', async () => {
    assert.equal(server.url, `http://127.0.0.1:${port}/#token=${TOKEN}`);
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const r = await request(port, '/', { headers: auth });
    assert.equal(r.status, 200);
    assert.match(r.body, /not built/);
    assert.equal((await request(port, '/app.js', { headers: auth })).status, 404);
    assert.equal((await request(port, '/metrics', { headers: auth })).status, 404);
  });

  it('accepts a Host listed in allowedHosts (HTTP and WebSocket), still nothing else', async () => {
    const auth = `Bearer ${TOKEN}`;
    const host = `peermesh.local:${port}`;
    assert.equal((await request(port, '/', { headers: { Host: host, Authorization: auth } })).status, 200);
    assert.equal(
      (await request(port, '/', { headers: { Host: 'other.local', Authorization: auth } })).status,
      403,
    );
    const ws = await mustOpen(port, {
      origin: `http://peermesh.local:${port}`,
      headers: { Host: host, Authorization: auth },
    });
    opened.push(ws);
    await echoes(ws, 1, 'ok');
    ws.close();
  });

  it('caps WebSocket clients at 16 (then 503)', async () => {
    const opts = { origin: `http://127.0.0.1:${port}`, headers: { Authorization: `Bearer ${TOKEN}` } };
    while (server.clientCount() > 0) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 16; i++) opened.push(await mustOpen(port, opts));
    assert.equal(server.clientCount(), 16);
    assert.equal(await openWs(port, opts), 503);
    for (const ws of opened) ws.close();
  });

  it('close() disconnects clients and stops listening', async () => {
    while (server.clientCount() > 0) await new Promise((r) => setTimeout(r, 10));
    const ws = await mustOpen(port, {
      origin: `http://127.0.0.1:${port}`,
      token: TOKEN,
    });
    opened.push(ws);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await server.close();
    assert.equal(await closed, 1001);
    assert.equal(server.clientCount(), 0);
    await assert.rejects(request(port, '/'), /ECONNREFUSED/);
  });
});

describe('web UI session tokens', () => {
  const req = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as http.IncomingMessage;

  it('a session dies SESSION_IDLE_MS after its last socket closed, not while one is open', () => {
    let t = 1_000_000;
    const gates = new Gates(
      'launch-token-0123456789',
      '127.0.0.1',
      [],
      () => 1,
      () => t,
    );
    const s = gates.newSession();
    const cred = gates.credential(req(s));
    assert.equal(cred?.kind, 'session');
    if (cred?.kind !== 'session') return;
    gates.track(cred.session, 1);
    t += SESSION_IDLE_MS * 3;
    assert.equal(gates.credential(req(s))?.kind, 'session', 'open socket: alive');
    gates.track(cred.session, -1);
    t += SESSION_IDLE_MS - 1;
    assert.equal(gates.credential(req(s))?.kind, 'session', 'a reload within the idle time');
    t += 2;
    assert.equal(gates.credential(req(s)), null, 'idle too long');
    assert.equal(gates.credential(req('launch-token-0123456789'))?.kind, 'launch');
    assert.equal(gates.sessionCount, 0);
  });

  it('a new UI start (new Gates) knows none of the old sessions', () => {
    const a = new Gates('launch-token-0123456789', '127.0.0.1', [], () => 1);
    const s = a.newSession();
    const b = new Gates('launch-token-9876543210', '127.0.0.1', [], () => 1);
    assert.equal(b.credential(req(s)), null);
    assert.equal(b.credential(req('launch-token-0123456789')), null);
  });

  it('keeps at most MAX_SESSIONS, dropping the oldest idle one', () => {
    const gates = new Gates('launch-token-0123456789', '127.0.0.1', [], () => 1);
    const first = gates.newSession();
    for (let i = 0; i < 100; i++) gates.newSession();
    assert.ok(gates.sessionCount <= 64);
    assert.equal(gates.credential(req(first)), null);
  });
});
