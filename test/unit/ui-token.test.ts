// The web UI's token in a real browser (Debian's Chromium through playwright-core, headless): the user
// opens the link `peermesh ui` prints and the UI works; then the same browser visits another HTTP server
// on 127.0.0.1 (another port, started here, recording every request it gets). That server must see no
// token: no Cookie, no Referer, no header holding it; a page it serves tries WebSockets to the UI's port,
// without and with token guesses (and with the real tokens): all refused. After load the token is in
// neither the UI page's HTML, the WebSocket URL, the address bar nor the tab's history entries; a reload
// keeps working, a new tab without the link gets a page saying what to do, and the node logs no token.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { rendererDir } from '../../main/control/web-server';
import { NodeManager } from '../../main/node/manager';
import { browserSkipReason, launchLocal } from '../lib/browser';

const built = rendererDir();
const skip = browserSkipReason() ?? (built ? null : 'renderer not built (npm run build)');

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** The page the other server serves: WebSockets to the UI's port, each "open" or "refused". */
function attackPage(uiPort: number, guesses: string[]): string {
  const attempts = [
    { url: `ws://127.0.0.1:${uiPort}/api`, protocols: [] as string[] },
    { url: `ws://localhost:${uiPort}/api`, protocols: [] as string[] },
    ...guesses.flatMap((g) => [
      { url: `ws://127.0.0.1:${uiPort}/api`, protocols: ['peermesh.v1', `peermesh.auth.${g}`] },
      { url: `ws://127.0.0.1:${uiPort}/api?token=${g}`, protocols: [] as string[] },
    ]),
  ];
  return `<!doctype html><title>other</title><script>
    const attempts = ${JSON.stringify(attempts)};
    window.results = Promise.all(attempts.map((a) => new Promise((resolve) => {
      let s;
      try { s = new WebSocket(a.url, a.protocols); } catch (e) { return resolve('refused ' + e.message); }
      s.onopen = () => { resolve('open'); s.close(); };
      s.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 5000);
    })));
  </script>`;
}

describe('the web UI token in Chromium: no other server or page gets it', { skip: skip ?? false }, () => {
  const profileDir = mkdtempSync(join(tmpdir(), 'pm-ui-token-'));
  const logs: string[] = [];
  const seen: Seen[] = [];
  let mgr: NodeManager;
  let other: http.Server;
  let otherUrl = '';
  let uiPort = 0;
  let printed = '';
  let launch = '';
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const wsUrls: string[] = [];
  const uiRequests: { url: string; headers: Record<string, string> }[] = [];
  let session = '';

  before(async () => {
    mgr = await NodeManager.open({
      profileDir,
      desktop: false,
      ui: { host: '127.0.0.1', port: 0, staticDir: built },
      logWrite: (l) => logs.push(l.message),
    });
    printed = mgr.webUrl!;
    const u = new URL(printed);
    uiPort = Number(u.port);
    // the printed link's token, wherever the link carries it
    launch = new URLSearchParams(u.hash.slice(1)).get('token') ?? u.searchParams.get('token') ?? '';
    assert.ok(launch.length >= 32, printed);
    other = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(
        attackPage(
          uiPort,
          ['guess-0123456789abcdefghij', launch, session].filter((g) => g !== ''),
        ),
      );
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
    browser = await launchLocal();
    context = await browser.newContext();
    page = await context.newPage();
    page.on('websocket', (ws) => wsUrls.push(ws.url()));
    context.on('request', (r) => {
      if (r.url().includes(`:${uiPort}/`)) uiRequests.push({ url: r.url(), headers: r.headers() });
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await new Promise((r) => other?.close(r));
    await mgr?.close();
    rmSync(profileDir, { recursive: true, force: true });
  });

  /** The UI is up: the first-run form is drawn from the node's state, read over the WebSocket. */
  const uiWorks = (p: Page) => p.getByLabel('Network name').waitFor({ timeout: 15_000 });

  it('the printed link opens a working UI, and the token leaves the address bar and history', async () => {
    await page.goto(printed);
    await uiWorks(page);
    assert.ok(!page.url().includes(launch), `address bar: ${page.url()}`);
    const cdp = await context.newCDPSession(page);
    const { entries } = (await cdp.send('Page.getNavigationHistory')) as { entries: { url: string }[] };
    assert.ok(entries.length > 0);
    for (const e of entries) assert.ok(!e.url.includes(launch), `history entry: ${e.url}`);
    session = await page.evaluate(
      () =>
        (
          globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }
        ).sessionStorage.getItem('peermesh.session') ?? '',
    );
    assert.notEqual(session, launch, 'the tab keeps a session token, not the printed one');
    const html = await page.content();
    assert.ok(!html.includes(launch), 'the launch token is in the page');
    if (session) assert.ok(!html.includes(session), 'the session token is in the page');
    assert.ok(wsUrls.length > 0, 'the UI opened a WebSocket');
    for (const u of wsUrls) {
      assert.ok(!u.includes(launch), `WebSocket URL: ${u}`);
      if (session) assert.ok(!u.includes(session), `WebSocket URL: ${u}`);
    }
    // Nor in any request line sent to the UI server (a fragment is never sent).
    for (const r of uiRequests) assert.ok(!new URL(r.url).search.includes(launch), r.url);
    const stored = await page.evaluate(() => {
      const g = globalThis as unknown as { localStorage: object; sessionStorage: object };
      return JSON.stringify({ ...g.localStorage, ...g.sessionStorage });
    });
    assert.ok(!stored.includes(launch), 'the launch token is kept in web storage');
  });

  it('a reload of the tab keeps working', async () => {
    await page.reload();
    await uiWorks(page);
  });

  it('another server on 127.0.0.1 visited by the same browser gets no token: no Cookie, no Referer', async () => {
    // a link followed from the UI page (Referer and cookies as the page would send them), then typed
    await page.evaluate((u) => {
      (globalThis as unknown as { location: { href: string } }).location.href = u;
    }, otherUrl);
    await page.waitForURL(otherUrl);
    const typed = await context.newPage();
    await typed.goto(`${otherUrl}typed`);
    await typed.close();
    const secrets = [launch, session].filter((s) => s !== '');
    assert.ok(seen.length >= 2, `requests seen: ${seen.length}`);
    for (const r of seen) {
      assert.equal(r.headers.cookie, undefined, `Cookie sent to the other server: ${r.headers.cookie}`);
      const all = JSON.stringify(r);
      for (const s of secrets) assert.ok(!all.includes(s), `a token reached the other server: ${all}`);
    }
  });

  it("the other server's page cannot open the UI's WebSocket, with or without (even right) tokens", async () => {
    const results = (await page.evaluate(
      () => (globalThis as unknown as { results: Promise<string[]> }).results,
    )) as string[];
    assert.ok(results.length >= 4, JSON.stringify(results));
    for (const r of results) assert.match(r, /^refused/, JSON.stringify(results));
  });

  it('a new tab without the link gets a page saying to open the printed link', async () => {
    const fresh = await context.newPage();
    await fresh.goto(`http://127.0.0.1:${uiPort}/`);
    await fresh.getByTestId('no-session').waitFor({ timeout: 10_000 });
    assert.match((await fresh.getByTestId('no-session').textContent()) ?? '', /printed/);
    await fresh.close();
  });

  it('a restart of the UI ends every token: the open tab and the old link say so', async () => {
    const tab = await context.newPage();
    await tab.goto(printed);
    await uiWorks(tab);
    await mgr.close();
    mgr = await NodeManager.open({
      profileDir,
      desktop: false,
      ui: { host: '127.0.0.1', port: uiPort, staticDir: built },
      logWrite: (l) => logs.push(l.message),
    });
    assert.notEqual(mgr.webUrl, printed);
    await tab.getByTestId('no-session').waitFor({ timeout: 20_000 });
    assert.match((await tab.getByTestId('no-session').textContent()) ?? '', /no longer valid/);
    await tab.goto('about:blank');
    await tab.goto(printed);
    await tab.getByTestId('no-session').waitFor({ timeout: 10_000 });
    await tab.close();
  });

  it('the node logged no token', () => {
    assert.ok(logs.length > 0);
    for (const l of logs) {
      assert.ok(!l.includes(launch), l);
      if (session) assert.ok(!l.includes(session), l);
    }
  });
});
