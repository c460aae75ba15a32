import { afterEach, describe, expect, it, vi } from 'vitest';
import { authProtocols, openWebSession, SESSION_KEY, sessionGone, takeFragmentToken } from './web-session';

const TOKEN = 'printed-token-0123456789abcdef';

/** A fetch that answers /session as the web UI server does, recording what it was sent. */
function fakeServer(status: { post: number; get: number }) {
  const calls: { method: string; auth: string }[] = [];
  const fetch = vi.fn(async (_url: string, init: RequestInit) => {
    const auth = new Headers(init.headers).get('Authorization') ?? '';
    calls.push({ method: String(init.method), auth });
    if (init.method === 'POST')
      return new Response(JSON.stringify({ session: 'session-token-0123456789' }), { status: status.post });
    return new Response(null, { status: status.get });
  });
  window.fetch = fetch as unknown as typeof window.fetch;
  return calls;
}

afterEach(() => {
  sessionStorage.clear();
  history.replaceState(null, '', '/');
});

describe('web UI sign-in', () => {
  it('takes the token out of the address bar, keeping the path, query and other fragment parts', () => {
    history.replaceState(null, '', `/peers?x=1#a=b&token=${TOKEN}`);
    expect(takeFragmentToken()).toBe(TOKEN);
    expect(location.href).not.toContain(TOKEN);
    expect(location.pathname + location.search + location.hash).toBe('/peers?x=1#a=b');
    expect(takeFragmentToken()).toBeNull();
  });

  it('trades the printed token for a session token and keeps only that, in sessionStorage', async () => {
    const calls = fakeServer({ post: 200, get: 204 });
    expect(await openWebSession(TOKEN)).toEqual({ ok: true, token: 'session-token-0123456789' });
    expect(calls).toEqual([{ method: 'POST', auth: `Bearer ${TOKEN}` }]);
    expect(sessionStorage.getItem(SESSION_KEY)).toBe('session-token-0123456789');
    expect(JSON.stringify({ ...sessionStorage, ...localStorage })).not.toContain(TOKEN);
    // a reload: no fragment, the kept session is checked and used
    expect(await openWebSession(null)).toEqual({ ok: true, token: 'session-token-0123456789' });
    expect(authProtocols('s-1')).toEqual(['peermesh.v1', 'peermesh.auth.s-1']);
  });

  it('a new tab without the link, or a link or session from an earlier start, gets no session', async () => {
    fakeServer({ post: 401, get: 401 });
    expect(await openWebSession(null)).toEqual({ ok: false, reason: 'no-link' });
    expect(await openWebSession(TOKEN)).toEqual({ ok: false, reason: 'expired' });
    sessionStorage.setItem(SESSION_KEY, 'old-session-0123456789');
    expect(await openWebSession(null)).toEqual({ ok: false, reason: 'expired' });
    expect(sessionStorage.getItem(SESSION_KEY)).toBeNull();
  });

  it('a node that cannot be reached is not an ended session', async () => {
    window.fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof window.fetch;
    sessionStorage.setItem(SESSION_KEY, 'kept-session-0123456789');
    expect(await sessionGone('kept-session-0123456789')).toBe(false);
    expect(await openWebSession(null)).toEqual({ ok: true, token: 'kept-session-0123456789' });
  });
});
