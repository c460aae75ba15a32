// An in-memory Transport standing in for the node. This is a unit test at the transport boundary:
// the store and the components are real, only the Control API on the other side is scripted. The
// node's side of the API is tested in test/unit/control-api.test.ts and end to end in test/netns.

import type { ApiEvent, AppState, MethodName, Params, PeerRow, Results, Settings } from '../api';
import { ApiCallError, type LinkStatus, type Transport } from '../transport';

type Handler = (params: Record<string, unknown>) => unknown;

export class FakeTransport implements Transport {
  readonly calls: { method: string; params: Record<string, unknown> }[] = [];
  private readonly events = new Set<(e: ApiEvent) => void>();
  private readonly statuses = new Set<(s: LinkStatus) => void>();
  private status: LinkStatus = 'open';

  constructor(public handlers: Record<string, Handler> = {}) {}

  call<M extends MethodName>(method: M, params?: Params<M>): Promise<Results[M]> {
    const p = (params ?? {}) as Record<string, unknown>;
    this.calls.push({ method, params: p });
    const h = this.handlers[method];
    if (!h) return Promise.reject(new ApiCallError('unknown_method', `unknown method ${method}`));
    try {
      // scripted answers: the tests give what the node would
      return Promise.resolve(h(p) as Results[M]);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  onEvent(cb: (e: ApiEvent) => void): () => void {
    this.events.add(cb);
    return () => this.events.delete(cb);
  }

  onStatus(cb: (s: LinkStatus) => void): () => void {
    this.statuses.add(cb);
    cb(this.status);
    return () => this.statuses.delete(cb);
  }

  emit(e: ApiEvent): void {
    for (const cb of this.events) cb(e);
  }

  setStatus(s: LinkStatus): void {
    this.status = s;
    for (const cb of this.statuses) cb(s);
  }

  callsOf(method: string): Record<string, unknown>[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }
}

export const fail = (code: string, message: string) => () => {
  throw new ApiCallError(code, message);
};

export function appState(over: Partial<AppState> = {}): AppState {
  return {
    state: 'connected',
    error: null,
    network: {
      name: 'home',
      nodeName: 'laptop',
      publicKey: `${'S'.repeat(43)}=`,
      ipv4: '100.64.0.1',
      ipv6: 'fd7a:115c:a1e0::1',
      dnsName: 'laptop.home',
      listenPort: 51820,
      interface: 'pm0',
      memberCount: 2,
      onlineCount: 1,
    },
    desktop: false,
    ...over,
  };
}

export function settings(over: Partial<Settings> = {}): Settings {
  return {
    nodeName: 'laptop',
    listenPort: 51820,
    interfaceName: 'pm0',
    relay: false,
    advertiseRoutes: [],
    startConnected: true,
    launchAtLogin: false,
    theme: 'system',
    notifyPeerUp: false,
    notifyPeerDown: true,
    notifyErrors: true,
    ...over,
  };
}

export function peer(name: string, over: Partial<PeerRow> = {}): PeerRow {
  return {
    key: `${name.padEnd(43, 'K')}=`,
    name,
    alias: null,
    dnsName: `${name}.home`,
    ipv4: '100.64.0.2',
    ipv6: null,
    online: true,
    path: 'direct',
    via: null,
    endpoint: '198.18.0.2:51820',
    rttMs: 10,
    rttAgeMs: 1000,
    unansweredMs: null,
    lastSeen: Date.now() - 1000,
    loss: 0,
    rxBps: 0,
    txBps: 0,
    rxBytes: 0,
    txBytes: 0,
    lastHandshake: Date.now() - 5000,
    relay: false,
    routes: [],
    access: 'everything',
    spark: Array.from({ length: 60 }, (_, i) => (i % 7 === 0 ? null : 10 + (i % 5))),
    ...over,
  };
}

/** A node with a network, two peers and the usual answers. */
export function node(over: Record<string, Handler> = {}): FakeTransport {
  return new FakeTransport({
    state: () => appState(),
    settings: () => settings(),
    logs: () => [],
    peers: () => [
      peer('alice', { ipv4: '100.64.0.2', rttMs: 30 }),
      peer('bob', { ipv4: '100.64.0.10', rttMs: 5, online: false }),
    ],
    ...over,
  });
}
