// Renderer figures, measured in Debian's Chromium (headless) on the built renderer (renderer/dist)
// served by the real web UI server: bundle size (raw and gzip), time until the peer list shows its
// 50 rows, and frame times while 50 peers stream one RTT sample a second (plus their peer rows
// refreshed every second, as a live node would). The data source is synthetic — 50 members with
// moving RTTs — because what is measured here is the UI, not the network.
//   node dist/bench/ui-bench.js [--json] [--secs 10]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { AppState, PeerRow, Settings } from '../main/control/api';
import { rendererDir, WebServer } from '../main/control/web-server';
import { defaultSettings } from '../main/node/manager';
import { launchLocal } from '../test/lib/browser';

const PEERS = 50;

export interface UiBenchResult {
  jsBytes: number;
  jsGzipBytes: number;
  cssGzipBytes: number;
  firstPeerListMs: number | null;
  frames: number;
  frameP50Ms: number | null;
  frameP99Ms: number | null;
  frameMaxMs: number | null;
  longTasks: number;
  secs: number;
}

function bundleSizes(dir: string) {
  let js = 0;
  let jsGz = 0;
  let cssGz = 0;
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.js')) {
        const b = readFileSync(p);
        js += b.length;
        jsGz += gzipSync(b, { level: 9 }).length;
      } else if (f.endsWith('.css')) cssGz += gzipSync(readFileSync(p), { level: 9 }).length;
    }
  };
  walk(dir);
  return { js, jsGz, cssGz };
}

/** 50 members whose RTTs wander; rows and events as a live node would send them. */
class FakeNetwork {
  private readonly t0 = Date.now();
  readonly keys = Array.from({ length: PEERS }, (_, i) =>
    Buffer.alloc(32, i + 1)
      .toString('base64')
      .replace(/.$/, '='),
  );
  rtt(i: number, at = Date.now()): number {
    const s = (at - this.t0) / 1000;
    return Math.round((5 + i * 2 + 3 * Math.sin(s / 5 + i) + Math.random() * 2) * 100) / 100;
  }
  rows(): PeerRow[] {
    const now = Date.now();
    return this.keys.map((key, i) => ({
      key,
      name: `node-${String(i).padStart(2, '0')}`,
      alias: null,
      dnsName: `node-${i}.bench`,
      ipv4: `100.64.${i >> 8}.${(i & 255) + 1}`,
      ipv6: null,
      online: true,
      access: 'everything',
      unansweredMs: null,
      path: i % 5 === 0 ? 'relayed' : 'direct',
      via: i % 5 === 0 ? 'node-01' : null,
      endpoint: i % 5 === 0 ? null : `198.18.${i}.1:51820`,
      rttMs: this.rtt(i),
      rttAgeMs: 500,
      lastSeen: now,
      loss: 0,
      rxBps: 1000 + i * 10,
      txBps: 900 + i * 10,
      rxBytes: 1e6,
      txBytes: 1e6,
      lastHandshake: now - 30_000,
      relay: false,
      routes: [],
      spark: Array.from({ length: 60 }, (_, k) => this.rtt(i, now - (59 - k) * 1000)),
    }));
  }
  metrics(key: string, window: number, points: number) {
    const i = Math.max(0, this.keys.indexOf(key));
    const now = Date.now();
    const step = window / points;
    const t = Array.from({ length: points }, (_, k) => Math.floor(now / 1000 - window + k * step));
    const rtt = t.map((s) => this.rtt(i, s * 1000));
    const sorted = [...rtt].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
    return {
      peer: key,
      name: `node-${i}`,
      path: 'direct',
      summary: {
        samples: points,
        rtt: {
          last: rtt[rtt.length - 1],
          min: sorted[0],
          max: sorted[sorted.length - 1],
          mean: q(0.5),
          p50: q(0.5),
          p75: q(0.75),
          p99: q(0.99),
          jitter: 1,
        },
        loss: 0,
        rxRate: 1000,
        txRate: 900,
        rxPps: 10,
        txPps: 9,
        rxBytes: 1e6,
        txBytes: 1e6,
        pathChanges: [],
      },
      series: { t, rtt, loss: t.map(() => 0), rx: t.map(() => 1000), tx: t.map(() => 900) },
    };
  }
}

export async function runUiBench(secs = 10): Promise<UiBenchResult> {
  const dir = rendererDir();
  if (!dir) throw new Error('renderer/dist is missing: run npm run build:renderer');
  if (!existsSync('/usr/bin/chromium')) throw new Error('no /usr/bin/chromium');
  const net = new FakeNetwork();
  const state: AppState = {
    state: 'connected',
    error: null,
    network: {
      name: 'bench',
      nodeName: 'me',
      publicKey: Buffer.alloc(32, 99).toString('base64'),
      ipv4: '100.64.0.1',
      ipv6: null,
      dnsName: 'me.bench',
      listenPort: 51820,
      interface: 'pm0',
      memberCount: PEERS,
      onlineCount: PEERS,
    },
    desktop: false,
  };
  const { network: _network, ...defaults } = defaultSettings();
  const settings: Settings = { ...defaults, nodeName: 'me', startConnected: true };
  const web = await WebServer.start({
    port: 0,
    staticDir: dir,
    handle: async (method, params) => {
      const p = (params ?? {}) as { peer?: string; window?: number; points?: number };
      switch (method) {
        case 'state':
          return state;
        case 'peers':
          return net.rows();
        case 'settings':
          return settings;
        case 'logs':
          return [];
        case 'metrics':
          return net.metrics(p.peer ?? '', p.window ?? 60, p.points ?? 60);
        default:
          return null;
      }
    },
  });
  // one RTT sample per peer per second, spread over the second
  const timers: NodeJS.Timeout[] = [];
  net.keys.forEach((key, i) => {
    const start = setTimeout(
      () => {
        timers.push(setInterval(() => web.broadcast({ type: 'rtt', key, ms: Math.round(net.rtt(i)) }), 1000));
      },
      Math.floor((i * 1000) / PEERS),
    );
    timers.push(start);
  });
  const browser = await launchLocal();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(web.url);
    let firstPeerListMs: number | null = null;
    try {
      await page.waitForFunction(
        (n) =>
          (
            globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }
          ).document.querySelectorAll('[role=row]').length > n,
        PEERS,
        {
          timeout: 15_000,
        },
      );
      firstPeerListMs = await page.evaluate(() => performance.now());
    } catch {
      firstPeerListMs = null;
    }
    // frame times (requestAnimationFrame deltas) and long tasks while data streams in
    const r = await page.evaluate(async (ms) => {
      // runs in the page (the project's types are Node's: name the browser globals used here)
      const g = globalThis as unknown as {
        requestAnimationFrame(cb: (t: number) => void): void;
        PerformanceObserver: new (
          cb: (l: { getEntries(): unknown[] }) => void,
        ) => { observe(o: { type: string; buffered: boolean }): void; disconnect(): void };
      };
      const requestAnimationFrame = g.requestAnimationFrame.bind(globalThis);
      const PerformanceObserver = g.PerformanceObserver;
      const deltas: number[] = [];
      let long = 0;
      const po = new PerformanceObserver((l) => {
        long += l.getEntries().length;
      });
      try {
        po.observe({ type: 'longtask', buffered: false });
      } catch {
        /* not supported */
      }
      await new Promise<void>((resolve) => {
        let last = performance.now();
        const end = last + ms;
        const f = (t: number) => {
          deltas.push(t - last);
          last = t;
          if (t < end) requestAnimationFrame(f);
          else resolve();
        };
        requestAnimationFrame(f);
      });
      po.disconnect();
      return { deltas, long };
    }, secs * 1000);
    const d = r.deltas.slice(1).sort((a, b) => a - b);
    const q = (p: number) =>
      d.length ? Math.round(d[Math.min(d.length - 1, Math.floor(p * d.length))] * 10) / 10 : null;
    const sizes = bundleSizes(dir);
    return {
      jsBytes: sizes.js,
      jsGzipBytes: sizes.jsGz,
      cssGzipBytes: sizes.cssGz,
      firstPeerListMs: firstPeerListMs === null ? null : Math.round(firstPeerListMs),
      frames: d.length,
      frameP50Ms: q(0.5),
      frameP99Ms: q(0.99),
      frameMaxMs: d.length ? Math.round(d[d.length - 1] * 10) / 10 : null,
      longTasks: r.long,
      secs,
    };
  } finally {
    for (const t of timers) clearInterval(t);
    await browser.close();
    await web.close();
  }
}

export function formatUiBench(r: UiBenchResult): string {
  return (
    `renderer: JS ${(r.jsBytes / 1024).toFixed(0)} KiB (${(r.jsGzipBytes / 1024).toFixed(1)} KiB gzip), ` +
    `CSS ${(r.cssGzipBytes / 1024).toFixed(1)} KiB gzip\n` +
    `peer list (${PEERS} rows) shown after ${r.firstPeerListMs ?? 'n/a'} ms (from navigation start)\n` +
    `${PEERS} peers streaming 1 sample/s for ${r.secs} s: ${r.frames} frames, frame time p50 ${r.frameP50Ms} ms, ` +
    `p99 ${r.frameP99Ms} ms, max ${r.frameMaxMs} ms, long tasks (>50 ms) ${r.longTasks}\n`
  );
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--secs');
  runUiBench(i >= 0 ? Number(args[i + 1]) || 10 : 10)
    .then((r) =>
      process.stdout.write(args.includes('--json') ? `${JSON.stringify(r, null, 2)}\n` : formatUiBench(r)),
    )
    .catch((e) => {
      process.stderr.write(`ui-bench: ${(e as Error).message}\n`);
      process.exit(1);
    });
}
