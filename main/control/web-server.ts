// The localhost web UI server of a headless node (like Jupyter's token URL): it serves the built web UI,
// the Control API over a WebSocket at /api and Prometheus metrics at /metrics.
//
// Anyone who can talk to this server can control the node, so every request passes these gates, in order:
//   1. Host check     - DNS-rebinding defence: only localhost / 127.0.0.1 / [::1] (or names the user
//                       listed) are answered, so a hostile page whose DNS name re-resolves to 127.0.0.1 gets 403.
//   2. Origin check   - cross-site WebSocket hijacking / CSRF defence: WebSocket upgrades and every
//                       non-GET/HEAD request must come from this very origin; a foreign Origin is refused anywhere.
//   3. Token check    - /api, /metrics and /session need a credential: the printed link's 256-bit token
//                       (compared in constant time) or a tab's session token, as `Authorization: Bearer` or,
//                       on the WebSocket, as the subprotocol `peermesh.auth.TOKEN`. Never a cookie (cookies are
//                       not bound to a port: any other server on 127.0.0.1 the browser visits would get it) and
//                       never the URL query (logs, history, Referer). The printed link carries the token in its
//                       fragment (#token=), which browsers do not send; the page takes it from there, removes it
//                       from the address bar, and trades it (POST /session) for a session token kept in the
//                       tab's sessionStorage (gone with the tab, dead SESSION_IDLE_MS after its last socket).
//                       The static files are the public UI build and hold no data: served without a token.
//   4. Path check     - static files come only from staticDir: no `..`, no NUL, no encoded slashes, no
//                       dotfiles, and the resolved real path must stay inside the real staticDir.
// Every response carries a strict Content-Security-Policy and related headers, and the WebSocket side
// bounds message size, requests in flight, clients and per-client buffering.
//
// Files: this one routes (the gates in order, then /metrics, /api or a static file); web-gates.ts holds
// the checks of gates 1-4 and their limits; web-static.ts the headers and static files; web-api.ts the
// Control API over the WebSocket (the same contract and error codes as the unix socket: dispatch.ts).
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES, type MethodName } from './api';
import { HEARTBEAT_MS, WebSocketApi } from './web-api';
import { type Credential, Gates, isLoopback, parsePath, splitUrl, urlHost, WS_PROTOCOL } from './web-gates';
import { HttpReplies, StaticFiles } from './web-static';

export { rendererDir } from './web-static';

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
  /** Serves a Control API method; the request was checked against the contract (api.ts) first. */
  handle: (method: MethodName, params: unknown) => Promise<unknown>;
  /** Prometheus text exposition for GET /metrics (404 when absent). */
  metricsText?: () => string | Promise<string>;
  /** Largest accepted WebSocket request, default MAX_MESSAGE_BYTES (64 KiB). */
  maxMessageBytes?: number;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

export class WebServer {
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly token: string;
  private readonly gates: Gates;
  private readonly replies: HttpReplies;
  private readonly files: StaticFiles;
  private readonly api: WebSocketApi;
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
    const port = () => this.boundPort;
    this.gates = new Gates(this.token, this.host, opts.allowedHosts ?? [], port);
    const maxMessageBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1)
      throw new TypeError('maxMessageBytes must be a positive integer');
    this.log = opts.log ?? (() => {});
    this.replies = new HttpReplies(port);
    // Resolve symlinks once, so the containment check compares real paths with a real root.
    this.files = new StaticFiles(
      opts.staticDir ? realpathSync(path.resolve(opts.staticDir)) : null,
      this.replies,
    );
    this.api = new WebSocketApi(opts.handle, maxMessageBytes, this.log);
    this.metricsText = opts.metricsText;

    this.server = http.createServer();
    // `noServer`: the upgrade is handled by onUpgrade, which runs every check before handing the socket over.
    // The ws library's own limit is a hard ceiling above maxMessageBytes: a message up to the ceiling gets a
    // `too_large` reply and the connection lives on; beyond it ws closes the connection (1009), so a client can
    // never make us buffer more than that. No compression (no decompression bombs).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: maxMessageBytes * 2,
      perMessageDeflate: false,
      // Select our protocol, never echo the one carrying the token (and none when it was not offered).
      handleProtocols: (offered) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
    });
    this.server.on('request', (req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log('warn', `web UI request failed: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) this.replies.sendText(req, res, 500, null, 'internal error\n');
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

  /**
   * The URL to open, e.g. http://127.0.0.1:PORT/#token=TOKEN (the line a CLI prints). The token is in the
   * fragment: a browser never sends it to a server, so it is in no request line, log or Referer.
   */
  get url(): string {
    return `http://${urlHost(this.host)}:${this.boundPort}/#token=${this.token}`;
  }

  /** The printed link's token (for programs: `Authorization: Bearer`). */
  get accessToken(): string {
    return this.token;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Sends {type:'event', event} to every authenticated WebSocket client that is keeping up. */
  broadcast(event: unknown): void {
    this.api.broadcast(event);
  }

  clientCount(): number {
    return this.api.size;
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
    this.heartbeat = setInterval(() => {
      this.api.beat();
      this.gates.sweep();
    }, HEARTBEAT_MS);
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
    await this.api.closeAll();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- HTTP: the gates in order, then the route ----

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const r = this.replies;
    const host = this.gates.acceptedHost(req.headers.host);
    if (!host) return r.sendText(req, res, 403, null, 'forbidden: unexpected Host header\n');
    const method = req.method ?? 'GET';
    const safe = method === 'GET' || method === 'HEAD';
    // A present Origin must always be ours; for anything but GET/HEAD it is also required.
    if ((req.headers.origin !== undefined || !safe) && !this.gates.originOk(req.headers.origin, host))
      return r.sendText(req, res, 403, host, 'forbidden: cross-origin request\n');
    const { rawPath } = splitUrl(req.url ?? '/');
    const segments = parsePath(rawPath);
    if (!segments) return r.sendText(req, res, 400, host, 'bad request: invalid path\n');
    if (rawPath === '/session') return this.serveSession(req, res, host);
    const guarded = rawPath === '/metrics' || rawPath === '/api';
    // The token gate comes before anything else is looked at: no data without it.
    if (guarded && !this.gates.credential(req))
      return r.sendText(req, res, 401, host, 'unauthorized: open the link the node printed\n');
    if (!safe) return r.sendText(req, res, 405, host, 'method not allowed\n', { Allow: 'GET, HEAD' });

    if (rawPath === '/metrics') return this.serveMetrics(req, res, host);
    if (rawPath === '/api')
      return r.sendText(req, res, 426, host, 'upgrade required: /api is a WebSocket\n', {
        Upgrade: 'websocket',
      });
    return this.files.serve(req, res, host, segments);
  }

  /**
   * POST /session with the printed link's token as Bearer: a new session token for a tab, `{session}`
   * (the Origin gate already required our own Origin for a POST). GET /session with either token: 204 if it
   * is still good (the page asks after a reload, to tell "the UI was restarted" from "the node is down").
   */
  private async serveSession(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    host: string,
  ): Promise<void> {
    const r = this.replies;
    const cred = this.gates.credential(req);
    if (req.method === 'POST') {
      if (cred?.kind !== 'launch')
        return r.sendText(req, res, 401, host, 'unauthorized: open the link the node printed\n');
      const body = JSON.stringify({ session: this.gates.newSession() });
      return r.send(req, res, 200, host, { 'Content-Type': 'application/json; charset=utf-8' }, body);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return r.sendText(req, res, 405, host, 'method not allowed\n', { Allow: 'GET, HEAD, POST' });
    if (!cred) return r.sendText(req, res, 401, host, 'unauthorized: open the link the node printed\n');
    r.send(req, res, 204, host, {}, '');
  }

  private async serveMetrics(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    host: string,
  ): Promise<void> {
    const r = this.replies;
    if (!this.metricsText) return r.sendText(req, res, 404, host, 'not found\n');
    let text: string;
    try {
      text = await this.metricsText();
    } catch (err) {
      this.log('warn', `web UI: metrics failed: ${err instanceof Error ? err.message : String(err)}`);
      return r.sendText(req, res, 500, host, 'metrics unavailable\n');
    }
    r.send(req, res, 200, host, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }, text);
  }

  // ---- WebSocket: the same gates before the ws library sees the socket ----

  /** A refusal is a plain HTTP error and a close. */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const checked = this.upgradeCheck(req);
    if (Array.isArray(checked)) {
      abortUpgrade(socket, checked[0], checked[1]);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.api.accept(ws);
      if (checked.kind !== 'session') return;
      // A session does not expire while a socket of it is open.
      const session = checked.session;
      this.gates.track(session, 1);
      ws.once('close', () => this.gates.track(session, -1));
    });
  }

  /** Why an upgrade must be refused (HTTP status and reason), or its credential when every gate passes. */
  private upgradeCheck(req: http.IncomingMessage): [number, string] | Credential {
    const host = this.gates.acceptedHost(req.headers.host);
    if (!host) return [403, 'Forbidden'];
    const { rawPath } = splitUrl(req.url ?? '/');
    if (rawPath !== '/api') return [404, 'Not Found'];
    // Required here: WebSockets bypass CORS, so Origin is the only thing telling us which page opened it.
    if (!this.gates.originOk(req.headers.origin, host)) return [403, 'Forbidden'];
    const cred = this.gates.credential(req);
    if (!cred) return [401, 'Unauthorized'];
    if (this.closing || this.api.full) return [503, 'Service Unavailable'];
    return cred;
  }
}

function abortUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason.toLowerCase()}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
