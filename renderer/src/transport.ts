// The one way the UI reaches the node: the Control API, over the desktop app's IPC bridge
// (window.peermesh) or the web UI server's WebSocket at /api.
import type { ApiEvent, MethodName, Params, Results } from '../../main/control/api';
import type { PeerMeshBridge } from './bridge';
import { parseApiEvent } from './events';

/** The link to the node (not the VPN's connection state). */
export type LinkStatus = 'connecting' | 'open' | 'closed';

export interface Transport {
  /** A call typed from the contract (main/control/api.ts): its params, its result. */
  call<M extends MethodName>(method: M, params?: Params<M>): Promise<Results[M]>;
  onEvent(cb: (e: ApiEvent) => void): () => void;
  /** Absent when the link cannot drop (IPC). The callback is called at once with the current status. */
  onStatus?(cb: (s: LinkStatus) => void): () => void;
}

export const LOST_CONNECTION = 'lost connection to the node';

/** A failed call: the API's {code, message}, or a transport failure (code `disconnected`/`timeout`). */
export class ApiCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export function toApiError(e: unknown): ApiCallError {
  if (e instanceof ApiCallError) return e;
  if (typeof e === 'object' && e !== null) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof message === 'string')
      return new ApiCallError(typeof code === 'string' ? code : 'internal', message);
  }
  return new ApiCallError('internal', String(e));
}

/** The message to show for a failed call. */
export function errorText(e: unknown): string {
  return toApiError(e).message;
}

export function bridgeTransport(bridge: PeerMeshBridge): Transport {
  return {
    call: <M extends MethodName>(method: M, params?: Params<M>) =>
      (bridge.call(method, params ?? {}) as Promise<Results[M]>).catch((e: unknown) => {
        throw toApiError(e);
      }),
    onEvent(cb) {
      return bridge.onEvent((raw) => {
        const e = parseApiEvent(raw);
        if (e) cb(e);
      });
    },
  };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: ApiCallError) => void;
  timer: ReturnType<typeof setTimeout>;
  /** The request text, until it has been sent. */
  unsent: string | null;
}

/** The parts of a WebSocket this transport uses (so a test can hand it a fake). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(): void;
}

export interface WebSocketOptions {
  createSocket?: (url: string) => SocketLike;
  /** Subprotocols to offer (the web UI's session token travels as one: web-session.ts). */
  protocols?: string[];
  /** First reconnect delay; doubles up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** A call with no answer in this time fails (joining a network can take a while). */
  callTimeoutMs?: number;
}

const OPEN = 1;

/**
 * Requests `{id, method, params}`, replies `{id, result}` or `{id, error}`, events
 * `{type: 'event', event}`. Reconnects with exponential backoff; calls made while the link is down
 * wait for it (up to their timeout), calls in flight when it drops fail with LOST_CONNECTION.
 */
export class WebSocketTransport implements Transport {
  private socket: SocketLike | null = null;
  private status: LinkStatus = 'connecting';
  private nextId = 1;
  private delay: number;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Set<(e: ApiEvent) => void>();
  private readonly statusListeners = new Set<(s: LinkStatus) => void>();
  private readonly createSocket: (url: string) => SocketLike;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly callTimeout: number;

  constructor(
    private readonly url: string,
    opts: WebSocketOptions = {},
  ) {
    const protocols = opts.protocols;
    this.createSocket = opts.createSocket ?? ((u) => new WebSocket(u, protocols));
    this.minDelay = opts.minDelayMs ?? 500;
    this.maxDelay = opts.maxDelayMs ?? 10_000;
    this.callTimeout = opts.callTimeoutMs ?? 60_000;
    this.delay = this.minDelay;
    this.open();
  }

  call<M extends MethodName>(method: M, params?: Params<M>): Promise<Results[M]> {
    if (this.closed) return Promise.reject(new ApiCallError('disconnected', LOST_CONNECTION));
    const id = this.nextId++;
    const text = JSON.stringify({ id, method, params: params ?? {} });
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          this.status === 'open'
            ? new ApiCallError('timeout', `${method}: no answer from the node`)
            : new ApiCallError('disconnected', LOST_CONNECTION),
        );
      }, this.callTimeout);
      const p: Pending = { resolve, reject, timer, unsent: text };
      this.pending.set(id, p);
      if (this.status === 'open') this.send(p);
    }) as Promise<Results[M]>; // the wire's answer, as the contract says it is
  }

  onEvent(cb: (e: ApiEvent) => void): () => void {
    this.eventListeners.add(cb);
    return () => this.eventListeners.delete(cb);
  }

  onStatus(cb: (s: LinkStatus) => void): () => void {
    this.statusListeners.add(cb);
    cb(this.status);
    return () => this.statusListeners.delete(cb);
  }

  /** Stops for good: no reconnect, every waiting call fails. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onmessage = s.onopen = s.onerror = null;
      s.close();
    }
    this.failAll(false);
    this.setStatus('closed');
  }

  private open(): void {
    this.retryTimer = null;
    this.setStatus('connecting');
    let s: SocketLike;
    try {
      s = this.createSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = s;
    s.onopen = () => {
      this.delay = this.minDelay;
      this.setStatus('open');
      for (const p of this.pending.values()) this.send(p);
    };
    s.onmessage = (ev) => this.onMessage(ev.data);
    s.onclose = () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.failAll(true);
      this.setStatus('closed');
      this.scheduleReconnect();
    };
    // A failed connection attempt is followed by a close event, which reconnects.
    s.onerror = () => {};
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    // A little jitter, so that many tabs do not come back in step after a restart of the node.
    const wait = this.delay * (0.8 + Math.random() * 0.4);
    this.delay = Math.min(this.delay * 2, this.maxDelay);
    this.retryTimer = setTimeout(() => this.open(), wait);
  }

  private send(p: Pending): void {
    if (p.unsent === null || !this.socket || this.socket.readyState !== OPEN) return;
    try {
      this.socket.send(p.unsent);
      p.unsent = null;
    } catch {
      /* the close event follows */
    }
  }

  /** Calls already sent fail (their answer is lost with the socket); unsent ones wait, unless closing. */
  private failAll(sentOnly: boolean): void {
    for (const [id, p] of this.pending) {
      if (sentOnly && p.unsent !== null) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new ApiCallError('disconnected', LOST_CONNECTION));
    }
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { id?: unknown; result?: unknown; error?: unknown; type?: unknown; event?: unknown };
    if (m.type === 'event') {
      const e = parseApiEvent(m.event);
      if (e) for (const cb of this.eventListeners) cb(e);
      return;
    }
    if (typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error !== undefined) p.reject(toApiError(m.error));
    else p.resolve(m.result);
  }

  private setStatus(s: LinkStatus): void {
    if (this.status === s) return;
    this.status = s;
    for (const cb of this.statusListeners) cb(s);
  }
}

/**
 * The desktop app's bridge when there is one, else the WebSocket of the page's own server, offering
 * `protocols` (the session token: never in the URL).
 */
export function pickTransport(win: Window = window, protocols?: string[]): Transport {
  if (win.peermesh) return bridgeTransport(win.peermesh);
  const scheme = win.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return new WebSocketTransport(`${scheme}//${win.location.host}/api`, { protocols });
}
