// The web UI server's HTTP answers: the security headers every response carries, and the built web UI's
// static files (gate 4 of web-server.ts: only from staticDir, the real path checked to stay inside it).
import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { inside } from './web-gates';

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

/** Writes responses with the security headers; `port()` is the bound port (for the CSP). */
export class HttpReplies {
  constructor(private readonly port: () => number) {}

  /**
   * Security headers on every response. The CSP allows only our own scripts, styles (inline styles for UI
   * libraries), images and the WebSocket on the accepted host; frame-ancestors 'none' stops clickjacking.
   * CORP/COOP keep other origins (including other localhost ports) from embedding or opening our resources.
   * Everything is no-store: responses are token-gated and must not end up in caches.
   */
  securityHeaders(host: string | null): Record<string, string> {
    const connect = host ? `'self' ws://${host}:${this.port()}` : "'self'";
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

  send(
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

  sendText(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    host: string | null,
    text: string,
    headers: Record<string, string> = {},
  ): void {
    this.send(req, res, status, host, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, text);
  }
}

/** The built web UI: files from `root` (a real path), index.html for client-side routes. */
export class StaticFiles {
  constructor(
    private readonly root: string | null,
    private readonly replies: HttpReplies,
  ) {}

  async serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    host: string,
    segments: string[],
  ): Promise<void> {
    const r = this.replies;
    const last = segments[segments.length - 1] ?? '';
    const ext = path.extname(last).toLowerCase();
    if (!this.root) {
      if (ext === '')
        return r.send(req, res, 200, host, { 'Content-Type': CONTENT_TYPES['.html'] }, NOT_BUILT_PAGE);
      return r.sendText(req, res, 404, host, 'not found\n');
    }
    // Dotfiles (.env, .git, ...) are never served even if the build left some behind.
    if (segments.some((s) => s.startsWith('.'))) return r.sendText(req, res, 404, host, 'not found\n');
    let file = segments.length > 0 ? await this.resolveFile(segments) : null;
    // SPA: `/` and unknown extension-less paths (client-side routes) get index.html.
    if (!file && ext === '') file = await this.resolveFile(['index.html']);
    if (!file) return r.sendText(req, res, 404, host, 'not found\n');
    const body = await readFile(file);
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    r.send(req, res, 200, host, { 'Content-Type': type }, body);
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
}

/** The built renderer (renderer/dist), or null when it has not been built. */
export function rendererDir(): string | null {
  const dir = path.join(__dirname, '..', '..', '..', 'renderer', 'dist');
  return existsSync(path.join(dir, 'index.html')) ? dir : null;
}
