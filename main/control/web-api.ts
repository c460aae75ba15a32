// The Control API over the web UI server's WebSocket (/api): requests `{id, method, params}` checked
// against the contract (dispatch.ts, the same as the unix socket), replies `{id, result}` or
// `{id, error: {code, message}}`, events `{type: 'event', event}` to every client. Bounded: message
// size, requests in flight per client, per-client buffering; dead clients are found by ping.
import type { WebSocket } from 'ws';
import type { ApiError, MethodName, Response } from './api';
import { parseRequest } from './api';
import { decodeMessage, responseText, run } from './dispatch';

/** Requests one connection may have in flight; more get `busy` (a client cannot queue unbounded work). */
export const MAX_IN_FLIGHT = 32;
/** WebSocket clients at once; more upgrades get 503. */
export const MAX_CLIENTS = 16;
export const HEARTBEAT_MS = 30_000;
/** A client whose send buffer holds more than this is a slow consumer: events are skipped for it. */
export const SLOW_CONSUMER_BYTES = 1024 * 1024;

interface ClientState {
  alive: boolean;
  inFlight: number;
}

export class WebSocketApi {
  private readonly clients = new Map<WebSocket, ClientState>();

  constructor(
    private readonly handle: (method: MethodName, params: unknown) => Promise<unknown>,
    private readonly maxMessageBytes: number,
    private readonly log: (level: 'info' | 'warn', msg: string) => void,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  get full(): boolean {
    return this.clients.size >= MAX_CLIENTS;
  }

  accept(ws: WebSocket): void {
    const state: ClientState = { alive: true, inFlight: 0 };
    this.clients.set(ws, state);
    ws.on('pong', () => {
      state.alive = true;
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) =>
      this.onMessage(ws, state, data, isBinary),
    );
    // ws reports protocol violations (oversized frame, invalid UTF-8) here and closes the socket itself.
    ws.on('error', (err) => this.log('warn', `web UI: WebSocket error: ${err.message}`));
    ws.on('close', () => this.clients.delete(ws));
  }

  /** Sends {type:'event', event} to every client that is keeping up. */
  broadcast(event: unknown): void {
    let text: string;
    try {
      text = JSON.stringify({ type: 'event', event });
    } catch (err) {
      this.log('warn', `web UI: event not serialisable: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    for (const ws of this.clients.keys()) {
      // Slow consumer: skip rather than buffer without bound (the UI re-reads state when it catches up).
      if (ws.readyState !== ws.OPEN || ws.bufferedAmount > SLOW_CONSUMER_BYTES) continue;
      ws.send(text);
    }
  }

  /** Ping every client; one that did not answer the previous ping is dead and is terminated. */
  beat(): void {
    for (const [ws, st] of this.clients) {
      if (!st.alive) {
        ws.terminate();
        continue;
      }
      st.alive = false;
      try {
        ws.ping();
      } catch {
        /* not open (closing): the close event removes it */
      }
    }
  }

  /** Closes every client (1001), terminating one that does not close within a second. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.clients.keys()].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const t = setTimeout(() => ws.terminate(), 1000);
            ws.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            ws.close(1001, 'server shutting down');
          }),
      ),
    );
  }

  /** Checks one request; a bad one gets its error reply and the connection stays usable. */
  private onMessage(
    ws: WebSocket,
    state: ClientState,
    data: Buffer | ArrayBuffer | Buffer[],
    isBinary: boolean,
  ): void {
    const req = this.check(data, isBinary);
    if (!req.ok) {
      this.reply(ws, { id: req.id, error: req.error });
      return;
    }
    if (state.inFlight >= MAX_IN_FLIGHT) {
      const message = `too many requests in flight (max ${MAX_IN_FLIGHT})`;
      this.reply(ws, { id: req.id, error: { code: 'busy', message } });
      return;
    }
    state.inFlight++;
    void run(req.id, () => this.handle(req.method, req.params)).then((res) => {
      state.inFlight--;
      this.reply(ws, res);
    });
  }

  private check(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) {
    const fail = (error: ApiError) => ({ ok: false as const, id: null, error });
    if (isBinary) return fail({ code: 'bad_request', message: 'requests must be JSON text messages' });
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const d = decodeMessage(buf, this.maxMessageBytes);
    return d.ok ? parseRequest(d.value) : fail(d.error);
  }

  private reply(ws: WebSocket, res: Response): void {
    if (ws.readyState === ws.OPEN) ws.send(responseText(res));
  }
}
