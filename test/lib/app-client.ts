// A Control API client over the web UI WebSocket of a node in a test namespace (through ws-relay.js
// run inside that namespace): call(method, params) and the events the node streams.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ApiEvent } from '../../main/control/api';
import { type NetnsLab, sleep, waitFor } from './netns';
import { CLI } from './peermesh-proc';

/** A running `peermesh ui` in a test namespace: its process, output, URL and an API client. */
export interface Ui {
  proc: ChildProcess;
  out: () => string;
  url: string;
  api: NsApiClient;
  profile: string;
}

export async function startUi(lab: NetnsLab, host: string, profile: string): Promise<Ui> {
  // --stay-root: these tests are about the app; `ui` dropping root (which needs a /dev/net/tun its
  // user may open, 0600 on this machine) is privdrop-ui.test.ts's.
  const proc = lab.spawnIn(host, process.execPath, [
    CLI,
    'ui',
    '--port',
    '0',
    '--profile-dir',
    profile,
    '--stay-root',
  ]);
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  await waitFor(`the web UI on ${host}`, () => {
    if (proc.exitCode !== null) throw new Error(`peermesh ui on ${host} exited ${proc.exitCode}: ${out}`);
    return /web UI: http:\S+/.test(out);
  });
  const url = /web UI: (http:\S+)/.exec(out)![1];
  const api = await NsApiClient.open(lab, host, url);
  return { proc, out: () => out, url, api, profile };
}

/** SIGTERM (the app disconnects cleanly), then wait up to 8 s. */
export async function stopUi(u: Ui): Promise<void> {
  u.api.close();
  if (u.proc.exitCode !== null || u.proc.signalCode !== null) return;
  const done = new Promise((r) => u.proc.once('exit', r));
  u.proc.kill('SIGTERM');
  await Promise.race([done, sleep(8000)]);
}

export class NsApiClient {
  readonly events: ApiEvent[] = [];
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private open = false;

  private constructor(private readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let m: {
        id?: number;
        result?: unknown;
        error?: { code: string; message: string };
        type?: string;
        event?: ApiEvent;
        relay?: string;
      };
      try {
        m = JSON.parse(line);
      } catch {
        return;
      }
      if (m.relay === 'open') this.open = true;
      else if (m.type === 'event' && m.event) this.events.push(m.event);
      else if (typeof m.id === 'number') {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        else p?.resolve(m.result);
      }
    });
  }

  static async open(lab: NetnsLab, host: string, url: string): Promise<NsApiClient> {
    const relay = join(__dirname, 'ws-relay.js');
    const proc = lab.spawnIn(host, process.execPath, [relay, url], { stdio: ['pipe', 'pipe', 'pipe'] });
    const c = new NsApiClient(proc);
    await waitFor(
      `the web UI socket on ${host}`,
      () => {
        if (proc.exitCode !== null) throw new Error(`ws relay on ${host} exited ${proc.exitCode}`);
        return c.open;
      },
      5000,
    );
    return c;
  }

  call<T = unknown>(method: string, params: unknown = {}, timeoutMs = 20_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.proc.stdin!.write(`${JSON.stringify({ id, method, params })}\n`);
    });
  }

  close(): void {
    this.proc.stdin?.end();
  }
}
