// The localhost web UI server of a headless node (like Jupyter's token URL): it serves the built web UI,
// the Control API over a WebSocket at /api and Prometheus metrics at /metrics.
//
// Anyone who can talk to this server can control the node, so every request passes these gates, in order:
//   1. Host check     - DNS-rebinding defence: only localhost / 127.0.0.1 / [::1] (or names the user
//                       listed) are answered, so a hostile page whose DNS name re-resolves to 127.0.0.1 gets 403.
//   2. Origin check   - cross-site WebSocket hijacking / CSRF defence: WebSocket upgrades and every
//                       non-GET/HEAD request must come from this very origin; a foreign Origin is refused anywhere.
//   3. Token check    - a 256-bit secret (the `?token=` of the printed URL, then an HttpOnly SameSite=Strict
//                       cookie, or `Authorization: Bearer`), compared in constant time. Every path needs it.
//   4. Path check     - static files come only from staticDir: no `..`, no NUL, no encoded slashes, no
//                       dotfiles, and the resolved real path must stay inside the real staticDir.
// Every response carries a strict Content-Security-Policy and related headers, and the WebSocket side
// bounds message size, requests in flight, clients and per-client buffering.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

export interface WebServerOptions {
  /** Bind address, default '127.0.0.1'. Anything not loopback must be explicitly passed by the user. */
  host?: string;
  /** TCP port; 0 = any free port. */
  port: number;
  /** Access token; default: 32 random bytes, base64url. Must be >= 16 characters of [A-Za-z0-9._~-]. */
  token?: string;
  /** Directory of the built web UI (index.html + assets); null = none (a tiny "UI not built" page). */
  staticDir?: string | null;
  /** Extra Host names (no port) accepted besides localhost/127.0.0.1/[::1], for a user who binds elsewhere. */
  allowedHosts?: string[];
  /** Control API dispatcher (validation happens inside it). */
  handle: (method: string, params: unknown) => Promise<unknown>;
  /** Prometheus text exposition for GET /metrics (404 when absent). */
  metricsText?: () => string | Promise<string>;
  /** Largest accepted WebSocket request, default 64 KiB. */
  maxMessageBytes?: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
/** Requests one connection may have in flight; more get `busy` (a client cannot queue unbounded work). */
const MAX_IN_FLIGHT = 32;
/** WebSocket clients at once; more upgrades get 503. */
const MAX_CLIENTS = 16;
const HEARTBEAT_MS = 30_000;
/** A client whose send buffer holds more than this is a slow consumer: events are skipped for it. */
const SLOW_CONSUMER_BYTES = 1024 * 1024;
const MAX_ID_LENGTH = 256;
const MAX_METHOD_LENGTH = 128;
const COOKIE_NAME = 'pm_token';
const TOKEN_RE = /^[A-Za-z0-9._~-]{16,512}$/;
/** A Host header: a bracketed IPv6 literal or a DNS name / IPv4 address, and an optional port. */
const HOST_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/;
const NAME_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$/;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

const NOT_BUILT_PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>PeerMesh</title></head><body>' +
  '<h1>PeerMesh</h1><p>The web UI is not built. The Control API is available over the WebSocket at ' +
  '<code>/api</code>.</p></body></html>\n';

interface ClientState {
  alive: boolean;
  inFlight: number;
}

type WireError = { code: string; message: string };

export class WebServer {
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<WebSocket, ClientState>();
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly token: string;
  /** sha256 of the token: comparing digests gives equal-length buffers for timingSafeEqual. */
  private readonly tokenDigest: Buffer;
  private readonly root: string | null;
  private readonly acceptedNames: Set<string>;
  private readonly maxMessageBytes: number;
  private readonly handle: WebServerOptions['handle'];
  private readonly metricsText: (() => string | Promise<string>) | undefined;
  private readonly log: (level: 'info' | 'warn', msg: string) => void;
  private boundPort = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  private constructor(opts: WebServerOptions) {
    this.host = opts.host ?? '127.0.0.1';
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
      throw new TypeError(`invalid port ${opts.port}`);
    this.requestedPort = opts.port;
    this.token = opts.token ?? randomBytes(32).toString('base64url');
    // The token goes into a cookie and a URL unescaped, and must not be guessable.
    if (!TOKEN_RE.test(this.token)) throw new TypeError('token must be 16-512 characters of [A-Za-z0-9._~-]');
    this.tokenDigest = sha256(this.token);
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(this.maxMessageBytes) || this.maxMessageBytes < 1)
      throw new TypeError('maxMessageBytes must be a positive integer');
    // Resolve symlinks once, so the containment check below compares real paths with a real root.
    this.root = opts.staticDir ? realpathSync(path.resolve(opts.staticDir)) : null;
    this.acceptedNames = new Set(['localhost', '127.0.0.1', '[::1]']);
    for (const name of opts.allowedHosts ?? []) this.acceptedNames.add(normalizeName(name));
    // An explicit IP-literal bind address (say 127.0.0.2 or a LAN address) is what the printed URL uses; an IP
    // literal cannot be a rebinding attacker's DNS name, so accepting it keeps the rebinding defence intact.
    if (isIP(this.host) && !isWildcard(this.host)) this.acceptedNames.add(normalizeName(this.host));
    this.handle = opts.handle;
    this.metricsText = opts.metricsText;
    this.log = opts.log ?? (() => {});

    this.server = http.createServer();
    // `noServer`: the upgrade is handled by onUpgrade, which runs every check before handing the socket over.
    // The ws library's own limit is a hard ceiling above maxMessageBytes: a message up to the ceiling gets a
    // `bad_request` reply and the connection lives on; beyond it ws closes the connection (1009), so a client can
    // never make us buffer more than that. No compression (no decompression bombs).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxMessageBytes * 2,
      perMessageDeflate: false,
    });
    this.server.on('request', (req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log('warn', `web UI request failed: ${errorMessage(err)}`);
        if (!res.headersSent) this.sendText(req, res, 500, null, 'internal error\n');
        else res.destroy();
      });
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Starts listening; resolves once bound (rejects e.g. on EADDRINUSE). */
  static async start(opts: WebServerOptions): Promise<WebServer> {
    const s = new WebServer(opts);
    await s.listen();
    return s;
  }

  /** The URL to open, e.g. http://127.0.0.1:PORT/?token=TOKEN (the line a CLI prints). */
  get url(): string {
    return `http://${urlHost(this.host)}:${this.boundPort}/?token=${this.token}`;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Sends {type:'event', event} to every authenticated WebSocket client that is keeping up. */
  broadcast(event: unknown): void {
    let text: string;
    try {
      text = JSON.stringify({ type: 'event', event });
    } catch (err) {
      this.log('warn', `web UI: event not serialisable: ${errorMessage(err)}`);
      return;
    }
    for (const ws of this.clients.keys()) {
      // Slow consumer: skip rather than buffer without bound (the UI re-reads state when it catches up).
      if (ws.readyState !== ws.OPEN || ws.bufferedAmount > SLOW_CONSUMER_BYTES) continue;
      ws.send(text);
    }
  }

  clientCount(): number {
    return this.clients.size;
  }

  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.requestedPort, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    this.server.on('error', (err) => this.log('warn', `web UI server error: ${err.message}`));
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    // Never log this.url: it contains the token.
    this.log('info', `web UI listening on http://${urlHost(this.host)}:${this.boundPort}/`);
    if (!isLoopback(this.host))
      this.log(
        'warn',
        `web UI bound to ${this.host}, not loopback: anyone who can reach it and has the token controls this node`,
      );
  }

  private async shutdown(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.wss.close();
    const open = [...this.clients.keys()];
    await Promise.all(
      open.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const t = setTimeout(() => ws.terminate(), 1000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            ws.close(1001, 'server shutting down');
          }),
      ),
    );
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Ping every client; one that did not answer the previous ping is dead and is terminated. */
  private beat(): void {
    for (const [ws, st] of this.clients) {
      if (!st.alive) {
        ws.terminate();
        continue;
      }
      st.alive = false;
      try {
        ws.ping();
      } catch {
        /* not open (closing): the close event removes it */
      }
    }
  }

  // ---- gates ----

  /**
   * DNS-rebinding defence. A hostile page at evil.example can make its name resolve to 127.0.0.1, and the
   * browser then treats this server as evil.example's own origin; but it still sends `Host: evil.example`.
   * Only the loopback names (and names the user listed) with our port or no port are answered. Returns the
   * accepted host name (used for the Origin check and the CSP), or null.
   */
  private acceptedHost(header: string | undefined): string | null {
    if (!header) return null;
    const m = HOST_RE.exec(header.toLowerCase());
    if (!m) return null;
    const [, name, port] = m;
    if (port !== undefined && port !== String(this.boundPort)) return null;
    return this.acceptedNames.has(name) ? name : null;
  }

  /**
   * Same-origin check. Browsers attach Origin to WebSocket upgrades and to cross-origin / state-changing
   * requests; WebSockets are not subject to CORS, so without this any page (including other localhost
   * ports, which are "same-site" for cookies) could open /api with the user's cookie.
   */
  private originOk(origin: string | undefined, host: string): boolean {
    if (origin === undefined) return false;
    const o = origin.toLowerCase();
    return o === `http://${host}:${this.boundPort}` || (this.boundPort === 80 && o === `http://${host}`);
  }

  /** Constant-time token comparison: both sides are hashed first, so timingSafeEqual sees equal lengths. */
  private tokenOk(candidate: string | null | undefined): boolean {
    if (typeof candidate !== 'string' || candidate.length === 0) return false;
    return timingSafeEqual(sha256(candidate), this.tokenDigest);
  }

  /** A valid token in the query, the pm_token cookie or an `Authorization: Bearer` header. */
  private authenticated(req: http.IncomingMessage, queryToken: string | null): boolean {
    if (this.tokenOk(queryToken)) return true;
    for (const value of cookieValues(req.headers.cookie, COOKIE_NAME)) if (this.tokenOk(value)) return true;
    const auth = req.headers.authorization;
    if (auth) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m && this.tokenOk(m[1])) return true;
    }
    return false;
  }

  // ---- HTTP ----

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = this.acceptedHost(req.headers.host);
    if (!host) return this.sendText(req, res, 403, null, 'forbidden: unexpected Host header\n');
    const method = req.method ?? 'GET';
    const safe = method === 'GET' || method === 'HEAD';
    // A present Origin must always be ours; for anything but GET/HEAD it is also required.
    if ((req.headers.origin !== undefined || !safe) && !this.originOk(req.headers.origin, host))
      return this.sendText(req, res, 403, host, 'forbidden: cross-origin request\n');
    const { rawPath, query } = splitUrl(req.url ?? '/');
    const queryToken = query.get('token');
    // The token gate comes before anything else is looked at: no files, no data, no path oracle.
    if (!this.authenticated(req, queryToken))
      return this.sendText(
        req,
        res,
        401,
        host,
        'unauthorized: open the URL the node printed (with ?token=)\n',
      );
    const segments = parsePath(rawPath);
    if (!segments) return this.sendText(req, res, 400, host, 'bad request: invalid path\n');
    if (!safe) return this.sendText(req, res, 405, host, 'method not allowed\n', { Allow: 'GET, HEAD' });

    if (queryToken !== null) {
      // First page load with ?token=: move the token into an HttpOnly cookie (scripts cannot read it,
      // SameSite=Strict keeps other sites from sending it) and drop it from the address bar and history.
      query.delete('token');
      const rest = query.toString();
      const headers: Record<string, string> = { Location: rest ? `${rawPath}?${rest}` : rawPath };
      if (this.tokenOk(queryToken))
        headers['Set-Cookie'] = `${COOKIE_NAME}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
      return this.sendText(req, res, 302, host, 'found\n', headers);
    }

    if (rawPath === '/metrics') return this.serveMetrics(req, res, host);
    if (rawPath === '/api')
      return this.sendText(req, res, 426, host, 'upgrade required: /api is a WebSocket\n', {
        Upgrade: 'websocket',
      });
    return this.serveStatic(req, res, host, segments);
  }

  private async serveMetrics(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    host: string,
  ): Promise<void> {
    if (!this.metricsText) {
      this.sendText(req, res, 404, host, 'not found\n');
      return;
    }
    let text: string;
    try {
      text = await this.metricsText();
    } catch (err) {
      this.log('warn', `web UI: metrics failed: ${errorMessage(err)}`);
      this.sendText(req, res, 500, host, 'metrics unavailable\n');
      return;
    }
    this.send(req, res, 200, host, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }, text);
  }

  private async serveStatic(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    host: string,
    segments: string[],
  ): Promise<void> {
    const last = segments[segments.length - 1] ?? '';
    const ext = path.extname(last).toLowerCase();
    if (!this.root) {
      if (ext === '')
        return this.send(req, res, 200, host, { 'Content-Type': CONTENT_TYPES['.html'] }, NOT_BUILT_PAGE);
      return this.sendText(req, res, 404, host, 'not found\n');
    }
    // Dotfiles (.env, .git, ...) are never served even if the build left some behind.
    if (segments.some((s) => s.startsWith('.'))) return this.sendText(req, res, 404, host, 'not found\n');
    let file = segments.length > 0 ? await this.resolveFile(segments) : null;
    // SPA: `/` and unknown extension-less paths (client-side routes) get index.html.
    if (!file && ext === '') file = await this.resolveFile(['index.html']);
    if (!file) return this.sendText(req, res, 404, host, 'not found\n');
    const body = await readFile(file);
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    this.send(req, res, 200, host, { 'Content-Type': type }, body);
  }

  /**
   * The real path of a regular file inside staticDir, or null. Containment is checked twice: on the
   * lexically resolved path and on the real path (a symlink inside staticDir cannot lead out of it).
   */
  private async resolveFile(segments: string[]): Promise<string | null> {
    const root = this.root!;
    const candidate = path.resolve(root, ...segments);
    if (!inside(root, candidate)) return null;
    try {
      const real = await realpath(candidate);
      if (!inside(root, real)) return null;
      return (await stat(real)).isFile() ? real : null;
    } catch {
      return null;
    }
  }

  /**
   * Security headers on every response. The CSP allows only our own scripts, styles (inline styles for UI
   * libraries), images and the WebSocket on the accepted host; frame-ancestors 'none' stops clickjacking.
   * CORP/COOP keep other origins (including other localhost ports) from embedding or opening our resources.
   * Everything is no-store: responses are token-gated and must not end up in caches.
   */
  private securityHeaders(host: string | null): Record<string, string> {
    const connect = host ? `'self' ws://${host}:${this.boundPort}` : "'self'";
    return {
      'Content-Security-Policy':
        `default-src 'self'; connect-src ${connect}; img-src 'self' data:; ` +
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
  }

  private send(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    host: string | null,
    headers: Record<string, string>,
    body: string | Buffer,
  ): void {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, {
      ...this.securityHeaders(host),
      ...headers,
      'Content-Length': String(buf.length),
    });
    res.end(req.method === 'HEAD' ? undefined : buf);
  }

  private sendText(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    host: string | null,
    text: string,
    headers: Record<string, string> = {},
  ): void {
    this.send(req, res, status, host, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, text);
  }

  // ---- WebSocket ----

  /** Every gate runs before the ws library sees the socket; a refusal is a plain HTTP error and a close. */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refusal = this.upgradeRefusal(req);
    if (refusal) abortUpgrade(socket, refusal[0], refusal[1]);
    else this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  /** Why an upgrade must be refused (HTTP status and reason), or null when every gate passes. */
  private upgradeRefusal(req: http.IncomingMessage): [number, string] | null {
    const host = this.acceptedHost(req.headers.host);
    if (!host) return [403, 'Forbidden'];
    const { rawPath, query } = splitUrl(req.url ?? '/');
    if (rawPath !== '/api') return [404, 'Not Found'];
    // Required here: WebSockets bypass CORS, so Origin is the only thing telling us which page opened it.
    if (!this.originOk(req.headers.origin, host)) return [403, 'Forbidden'];
    if (!this.authenticated(req, query.get('token'))) return [401, 'Unauthorized'];
    if (this.closing || this.clients.size >= MAX_CLIENTS) return [503, 'Service Unavailable'];
    return null;
  }

  private accept(ws: WebSocket): void {
    const state: ClientState = { alive: true, inFlight: 0 };
    this.clients.set(ws, state);
    ws.on('pong', () => {
      state.alive = true;
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
      this.onMessage(ws, state, data, isBinary),
    );
    // ws reports protocol violations (oversized frame, invalid UTF-8) here and closes the socket itself.
    ws.on('error', (err) => this.log('warn', `web UI: WebSocket error: ${err.message}`));
    ws.on('close', () => this.clients.delete(ws));
  }

  /** Validates one request; anything malformed gets a `bad_request` reply and the connection stays usable. */
  private onMessage(
    ws: WebSocket,
    state: ClientState,
    data: Buffer | ArrayBuffer | Buffer[],
    isBinary: boolean,
  ): void {
    const req = this.parseRequest(data, isBinary);
    if ('error' in req) {
      this.replyError(ws, req.id, 'bad_request', req.error);
      return;
    }
    if (state.inFlight >= MAX_IN_FLIGHT) {
      this.replyError(ws, req.id, 'busy', `too many requests in flight (max ${MAX_IN_FLIGHT})`);
      return;
    }
    state.inFlight++;
    void this.dispatch(ws, state, req.id, req.method, req.params);
  }

  /** A well-formed request, or what is wrong with it (with its id when that much could be read). */
  private parseRequest(
    data: Buffer | ArrayBuffer | Buffer[],
    isBinary: boolean,
  ):
    | { id: number | string; method: string; params: unknown }
    | { id: number | string | null; error: string } {
    if (isBinary) return { id: null, error: 'requests must be JSON text messages' };
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (buf.length > this.maxMessageBytes)
      return { id: null, error: `request larger than ${this.maxMessageBytes} bytes` };
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      return { id: null, error: 'request is not valid JSON' };
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
      return { id: null, error: 'request must be a JSON object' };
    const { id, method, params } = msg as { id?: unknown; method?: unknown; params?: unknown };
    const validId =
      (typeof id === 'number' && Number.isFinite(id)) ||
      (typeof id === 'string' && id.length <= MAX_ID_LENGTH);
    if (!validId) return { id: null, error: 'id must be a number or a string' };
    if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD_LENGTH)
      return { id, error: 'method must be a non-empty string' };
    return { id, method, params };
  }

  /** Never rejects: every outcome of `handle` (result, thrown error, sync throw) becomes a reply. */
  private async dispatch(
    ws: WebSocket,
    state: ClientState,
    id: number | string,
    method: string,
    params: unknown,
  ): Promise<void> {
    try {
      const result = await this.handle(method, params);
      this.reply(ws, { id, result: result === undefined ? null : result });
    } catch (err) {
      this.reply(ws, { id, error: wireError(err) });
    } finally {
      state.inFlight--;
    }
  }

  private replyError(ws: WebSocket, id: number | string | null, code: string, message: string): void {
    this.reply(ws, { id, error: { code, message } });
  }

  private reply(
    ws: WebSocket,
    msg: { id: number | string | null; result?: unknown; error?: WireError },
  ): void {
    if (ws.readyState !== ws.OPEN) return;
    let text: string;
    try {
      text = JSON.stringify(msg);
    } catch {
      text = JSON.stringify({
        id: msg.id,
        error: { code: 'internal', message: 'result is not serialisable' },
      });
    }
    ws.send(text);
  }
}

// ---- helpers ----

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A thrown Error with a string `code` keeps its code; anything else is `internal`. */
function wireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'internal', message: err.message };
  }
  return { code: 'internal', message: 'internal error' };
}

function normalizeName(name: string): string {
  let n = name.trim().toLowerCase();
  if (isIP(n) === 6) n = `[${n}]`;
  if (!NAME_RE.test(n)) throw new TypeError(`invalid host name ${JSON.stringify(name)}`);
  return n;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host part of the printed URL: wildcard binds are reached through loopback; IPv6 gets brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
}

function splitUrl(url: string): { rawPath: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  return q < 0
    ? { rawPath: url, query: new URLSearchParams() }
    : { rawPath: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

/**
 * Decoded path segments, or null for a path that could escape or confuse: not starting with exactly one
 * `/` (also keeps the 302 Location from becoming `//other.host`), NUL, backslashes, encoded `/` `\` or NUL,
 * bad percent-encoding, or `.` / `..` segments (raw or encoded as `%2e`).
 */
function parsePath(rawPath: string): string[] | null {
  if (!rawPath.startsWith('/') || rawPath.startsWith('//')) return null;
  if (/[\\\0]|%2f|%5c|%00/i.test(rawPath)) return null;
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (seg === '.' || seg === '..' || /[/\\\0]/.test(seg)) return null;
    segments.push(seg);
  }
  return segments;
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim());
  }
  return out;
}

function abortUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason.toLowerCase()}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The built renderer (renderer/dist), or null when it has not been built. */
export function rendererDir(): string | null {
  const dir = path.join(__dirname, '..', '..', '..', 'renderer', 'dist');
  return existsSync(path.join(dir, 'index.html')) ? dir : null;
}
