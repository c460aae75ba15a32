// The web UI server's gates (web-server.ts lists them in order): which Host names are answered, which
// Origins may talk to us, the access token and the tabs' session tokens, and which request paths may name
// a static file. Pure checks over header values (plus the session table); the server decides what to answer.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isIP } from 'node:net';
import path from 'node:path';

/**
 * The WebSocket subprotocol the server selects. A browser cannot set headers on a WebSocket, so the page
 * offers two subprotocols: this one and AUTH_PROTOCOL_PREFIX + its session token. The server answers with
 * this one only, so the token is never echoed back; it never travels in the URL (query strings end up in
 * logs and histories) nor in a cookie (cookies are not bound to a port: every server on 127.0.0.1 gets them).
 */
export const WS_PROTOCOL = 'peermesh.v1';
export const AUTH_PROTOCOL_PREFIX = 'peermesh.auth.';
/**
 * The token goes into a URL fragment and a WebSocket subprotocol unescaped (every character is an HTTP
 * token character), and must not be guessable.
 */
export const TOKEN_RE = /^[A-Za-z0-9._~-]{16,512}$/;
/** A tab's session token dies this long after its last WebSocket closed (a reload or reconnect is within it). */
export const SESSION_IDLE_MS = 10 * 60_000;
/** Sessions at once; a new one beyond this drops the least recently used idle one (or the oldest). */
export const MAX_SESSIONS = 64;

/** What authenticated a request: the printed link's token, or a tab's session token. */
export type Credential = { kind: 'launch' } | { kind: 'session'; session: Session };

export interface Session {
  /** WebSockets open with this session: while there is one, it does not expire. */
  sockets: number;
  /** When it was created or its last WebSocket closed (ms). */
  idleSince: number;
}
/** A Host header: a bracketed IPv6 literal or a DNS name / IPv4 address, and an optional port. */
const HOST_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/;
const NAME_RE = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)$/;
/** Names answered on any bind: loopback only (plus what the user lists and an explicit IP bind). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export class Gates {
  /** sha256 of the token: comparing digests gives equal-length buffers for timingSafeEqual. */
  private readonly tokenDigest: Buffer;
  private readonly acceptedNames: Set<string>;
  /** Session tokens by their sha256 (hex): the lookup is keyed by a digest, so its timing says nothing usable. */
  private readonly sessions = new Map<string, Session>();

  /** `port()` is the bound port (known once listening); `now()` the clock for session expiry. */
  constructor(
    token: string,
    bindHost: string,
    allowedHosts: string[],
    private readonly port: () => number,
    private readonly now: () => number = Date.now,
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

  /**
   * The credential of a request: `Authorization: Bearer TOKEN` (programs: metrics scrapers, scripts) or, on a
   * WebSocket upgrade, the subprotocol AUTH_PROTOCOL_PREFIX + TOKEN (the browser page). TOKEN is the printed
   * link's token or a live session token. Nothing else counts: no query string, no cookie.
   */
  credential(req: http.IncomingMessage): Credential | null {
    const candidates: string[] = [];
    const auth = req.headers.authorization;
    if (auth) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m) candidates.push(m[1]);
    }
    for (const p of offeredProtocols(req))
      if (p.startsWith(AUTH_PROTOCOL_PREFIX)) candidates.push(p.slice(AUTH_PROTOCOL_PREFIX.length));
    for (const c of candidates.slice(0, 4)) {
      if (this.tokenOk(c)) return { kind: 'launch' };
      const session = this.session(c);
      if (session) return { kind: 'session', session };
    }
    return null;
  }

  /** A new session token for a tab (the page exchanged the printed link's token for it). */
  newSession(): string {
    this.sweep();
    if (this.sessions.size >= MAX_SESSIONS) {
      let victim: string | null = null;
      let oldest = Number.POSITIVE_INFINITY;
      for (const [k, s] of this.sessions)
        if (s.idleSince < oldest && (s.sockets === 0 || victim === null)) {
          victim = k;
          oldest = s.idleSince;
        }
      if (victim) this.sessions.delete(victim);
    }
    const token = randomBytes(32).toString('base64url');
    this.sessions.set(sha256(token).toString('hex'), { sockets: 0, idleSince: this.now() });
    return token;
  }

  /** A WebSocket opened (+1) or closed (-1) with this session. */
  track(session: Session, delta: 1 | -1): void {
    session.sockets = Math.max(0, session.sockets + delta);
    if (session.sockets === 0) session.idleSince = this.now();
  }

  /** Drops sessions idle for longer than SESSION_IDLE_MS. */
  sweep(): void {
    const now = this.now();
    for (const [k, s] of this.sessions)
      if (s.sockets === 0 && now - s.idleSince > SESSION_IDLE_MS) this.sessions.delete(k);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private session(candidate: string): Session | null {
    if (!TOKEN_RE.test(candidate)) return null;
    const key = sha256(candidate).toString('hex');
    const s = this.sessions.get(key);
    if (!s) return null;
    if (s.sockets === 0 && this.now() - s.idleSince > SESSION_IDLE_MS) {
      this.sessions.delete(key);
      return null;
    }
    return s;
  }
}

/** The subprotocols a WebSocket upgrade offers (Sec-WebSocket-Protocol, comma-separated). */
export function offeredProtocols(req: http.IncomingMessage): string[] {
  const h = req.headers['sec-websocket-protocol'];
  if (typeof h !== 'string') return [];
  return h
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
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
