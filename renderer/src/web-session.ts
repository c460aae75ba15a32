// The web UI's sign-in (browser only; the desktop app talks over IPC). `peermesh ui` prints a link with
// its access token in the fragment (#token=...): browsers never send a fragment to any server, so the
// token is in no request line, server log or Referer. This page takes it out of the address bar at once
// (history.replaceState, before anything else runs), trades it for a session token (POST /session with
// the token as Bearer) and keeps only that, in this tab's sessionStorage: a reload of the tab works, a
// new tab needs the printed link again, and the session dies with the UI's restart (or
// SESSION_IDLE_MS after the tab's last socket closed). The session token reaches the WebSocket as a
// subprotocol: never in its URL, never in a cookie (cookies are not bound to a port, so every other
// server on 127.0.0.1 would get them).

/** Mirrors main/control/web-gates.ts (that file imports node:crypto, so the renderer cannot import it). */
export const WS_PROTOCOL = 'peermesh.v1';
export const AUTH_PROTOCOL_PREFIX = 'peermesh.auth.';
export const SESSION_KEY = 'peermesh.session';

/** Why the tab has no session: no link was opened in it, or its link/session is from an earlier UI start. */
export type NoSessionReason = 'no-link' | 'expired';
export type WebSession = { ok: true; token: string } | { ok: false; reason: NoSessionReason };

/** The subprotocols a WebSocket offers to authenticate with `token`. */
export function authProtocols(token: string): string[] {
  return [WS_PROTOCOL, AUTH_PROTOCOL_PREFIX + token];
}

/**
 * The token in the fragment (`#token=...`), removed from the address bar and this history entry; other
 * fragment parameters stay. Null when there is none.
 */
export function takeFragmentToken(win: Window = window): string | null {
  const hash = win.location.hash.replace(/^#/, '');
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (token === null) return null;
  params.delete('token');
  const rest = params.toString();
  const { pathname, search } = win.location;
  win.history.replaceState(win.history.state, '', `${pathname}${search}${rest ? `#${rest}` : ''}`);
  return token;
}

async function sessionRequest(win: Window, method: 'GET' | 'POST', token: string): Promise<Response> {
  return win.fetch('/session', {
    method,
    headers: { Authorization: `Bearer ${token}` },
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
}

/** This tab's session token: traded for the fragment's token, or kept from before a reload. */
export async function openWebSession(launch: string | null, win: Window = window): Promise<WebSession> {
  const store = win.sessionStorage;
  if (launch) {
    try {
      const r = await sessionRequest(win, 'POST', launch);
      if (r.ok) {
        const body = (await r.json()) as { session?: unknown };
        if (typeof body.session === 'string') {
          store.setItem(SESSION_KEY, body.session);
          return { ok: true, token: body.session };
        }
      }
      if (r.status === 401) {
        store.removeItem(SESSION_KEY);
        return { ok: false, reason: 'expired' };
      }
    } catch {
      /* node unreachable: fall back to the session this tab already has */
    }
  }
  const saved = store.getItem(SESSION_KEY);
  if (!saved) return { ok: false, reason: 'no-link' };
  if (await sessionGone(saved, win)) return { ok: false, reason: 'expired' };
  return { ok: true, token: saved };
}

/**
 * Whether the server says this session is over (401: the UI restarted, or it expired); false while the
 * server cannot be reached (the WebSocket keeps trying and the banner says so). Forgets a dead session.
 */
export async function sessionGone(token: string, win: Window = window): Promise<boolean> {
  try {
    if ((await sessionRequest(win, 'GET', token)).status !== 401) return false;
  } catch {
    return false;
  }
  win.sessionStorage.removeItem(SESSION_KEY);
  return true;
}
