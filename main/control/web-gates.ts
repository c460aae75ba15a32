// The web UI server's gates (web-server.ts lists them in order): which Host names are answered, which
// Origins may talk to us, the access token, and which request paths may name a static file. Pure
// checks over header values; the server decides what to answer.
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isIP } from 'node:net';
import path from 'node:path';

export const COOKIE_NAME = 'pm_token';
/** The token goes into a cookie and a URL unescaped, and must not be guessable. */
export const TOKEN_RE = /^[A-Za-z0-9._~-]{16,512}$/;
/** A Host header: a bracketed IPv6 literal or a DNS name / IPv4 address, and an optional port. */
const HOST_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/;
const NAME_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$/;
/** Names answered on any bind: loopback only (plus what the user lists and an explicit IP bind). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export class Gates {
  /** sha256 of the token: comparing digests gives equal-length buffers for timingSafeEqual. */
  private readonly tokenDigest: Buffer;
  private readonly acceptedNames: Set<string>;

  /** `port()` is the bound port (known once listening). */
  constructor(
    token: string,
    bindHost: string,
    allowedHosts: string[],
    private readonly port: () => number,
  ) {
    if (!TOKEN_RE.test(token)) throw new TypeError('token must be 16-512 characters of [A-Za-z0-9._~-]');
    this.tokenDigest = sha256(token);
    this.acceptedNames = new Set(LOOPBACK_NAMES);
    for (const name of allowedHosts) this.acceptedNames.add(normalizeName(name));
    // An explicit IP-literal bind address (say 127.0.0.2 or a LAN address) is what the printed URL uses; an IP
    // literal cannot be a rebinding attacker's DNS name, so accepting it keeps the rebinding defence intact.
    if (isIP(bindHost) && !isWildcard(bindHost)) this.acceptedNames.add(normalizeName(bindHost));
  }

  /**
   * 1. DNS-rebinding defence. A hostile page at evil.example can make its name resolve to 127.0.0.1, and the
   * browser then treats this server as evil.example's own origin; but it still sends `Host: evil.example`.
   * Only the loopback names (and names the user listed) with our port or no port are answered. Returns the
   * accepted host name (used for the Origin check and the CSP), or null.
   */
  acceptedHost(header: string | undefined): string | null {
    if (!header) return null;
    const m = HOST_RE.exec(header.toLowerCase());
    if (!m) return null;
    const [, name, port] = m;
    if (port !== undefined && port !== String(this.port())) return null;
    return this.acceptedNames.has(name) ? name : null;
  }

  /**
   * 2. Same-origin check. Browsers attach Origin to WebSocket upgrades and to cross-origin / state-changing
   * requests; WebSockets are not subject to CORS, so without this any page (including other localhost
   * ports, which are "same-site" for cookies) could open /api with the user's cookie.
   */
  originOk(origin: string | undefined, host: string): boolean {
    if (origin === undefined) return false;
    const o = origin.toLowerCase();
    const port = this.port();
    return o === `http://${host}:${port}` || (port === 80 && o === `http://${host}`);
  }

  /** 3. Constant-time token comparison: both sides are hashed first, so timingSafeEqual sees equal lengths. */
  tokenOk(candidate: string | null | undefined): boolean {
    if (typeof candidate !== 'string' || candidate.length === 0) return false;
    return timingSafeEqual(sha256(candidate), this.tokenDigest);
  }

  /** A valid token in the query, the pm_token cookie or an `Authorization: Bearer` header. */
  authenticated(req: http.IncomingMessage, queryToken: string | null): boolean {
    if (this.tokenOk(queryToken)) return true;
    for (const value of cookieValues(req.headers.cookie, COOKIE_NAME)) if (this.tokenOk(value)) return true;
    const auth = req.headers.authorization;
    if (auth) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m && this.tokenOk(m[1])) return true;
    }
    return false;
  }
}

/**
 * 4. Decoded path segments, or null for a path that could escape or confuse: not starting with exactly one
 * `/` (also keeps the 302 Location from becoming `//other.host`), NUL, backslashes, encoded `/` `\` or NUL,
 * bad percent-encoding, or `.` / `..` segments (raw or encoded as `%2e`).
 */
export function parsePath(rawPath: string): string[] | null {
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

/** Whether `p` is `root` or inside it (both resolved). */
export function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

export function splitUrl(url: string): { rawPath: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  return q < 0
    ? { rawPath: url, query: new URLSearchParams() }
    : { rawPath: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
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

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host part of the printed URL: wildcard binds are reached through loopback; IPv6 gets brackets. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return isIP(host) === 6 ? `[${host}]` : host;
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
