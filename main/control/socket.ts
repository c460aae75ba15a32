// The node's control socket: a unix socket in the state directory, usable only by its owner (the
// directory is 0700 and the socket 0600). Protocol: one JSON object per line.
//   request  {"id": 1, "method": "status"}
//   response {"id": 1, "result": {...}}  or  {"id": 1, "error": {"code": "...", "message": "..."}}
// Every request is validated against the Control API's schemas (api.ts) and answered through the
// shared dispatcher (dispatch.ts): a bad one gets a structured error, never a crash, with the same
// code the WebSocket and Electron IPC give.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { type ApiError, MAX_MESSAGE_BYTES, type NodeHandlers } from './api';
import { decodeMessage, respond, responseText, type Serve, serveTable } from './dispatch';

const MAX_LINE = MAX_MESSAGE_BYTES;

export class ControlServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  private readonly serve: Serve;

  constructor(handlers: Partial<NodeHandlers>) {
    this.serve = serveTable(handlers);
  }

  async listen(path: string): Promise<void> {
    if (existsSync(path)) {
      // A socket left by a node that crashed; refuse to steal one that still answers.
      if (await isAlive(path))
        throw new Error(`another node is already running (control socket ${path} answers)`);
      unlinkSync(path);
    }
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    this.server = server;
  }

  private accept(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (Buffer.byteLength(buf) > MAX_LINE && !buf.includes('\n')) {
        this.reply(s, null, tooLarge());
        s.end();
        return;
      }
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) void this.handle(s, line);
      }
    });
  }

  private async handle(s: net.Socket, line: string): Promise<void> {
    const d = decodeMessage(line, MAX_LINE);
    const res = d.ok ? await respond(d.value, this.serve) : { id: null, error: d.error };
    if (!s.destroyed) s.write(`${responseText(res)}\n`);
  }

  private reply(s: net.Socket, id: null, error: ApiError): void {
    if (!s.destroyed) s.write(`${JSON.stringify({ id, error })}\n`);
  }

  close(path: string): void {
    for (const s of this.sockets) s.destroy();
    this.server?.close();
    this.server = null;
    try {
      unlinkSync(path);
    } catch {
      /* gone already */
    }
  }
}

function tooLarge(): ApiError {
  return { code: 'too_large', message: `request larger than ${MAX_LINE} bytes` };
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const t = setTimeout(() => {
      c.destroy();
      resolve(false);
    }, 1000);
    c.once('connect', () => {
      clearTimeout(t);
      c.destroy();
      resolve(true);
    });
    c.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** One request to a node's control socket (used by the CLI). */
export function controlRequest(
  path: string,
  method: string,
  params?: unknown,
  timeoutMs = 5000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = net.connect(path);
    let buf = '';
    const t = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer from the node at ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify({ id: 1, method, params })}\n`));
    c.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      clearTimeout(t);
      c.destroy();
      try {
        const res = JSON.parse(buf.slice(0, i)) as { result?: unknown; error?: { message: string } };
        if (res.error) reject(new Error(res.error.message));
        else resolve(res.result);
      } catch {
        reject(new Error('the node sent an invalid answer'));
      }
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      reject(
        new Error(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? `no node is running with this state directory (no control socket at ${path})`
            : e.code === 'EACCES'
              ? `permission denied on ${path} (the node runs as another user)`
              : `cannot reach the node at ${path}: ${e.code ?? e.message}`,
        ),
      );
    });
  });
}
