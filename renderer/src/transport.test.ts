import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseApiEvent } from './events';
import {
  ApiCallError,
  bridgeTransport,
  LOST_CONNECTION,
  type SocketLike,
  WebSocketTransport,
} from './transport';

/** A WebSocket stand-in the test drives: open, message, close. */
class FakeSocket implements SocketLike {
  readyState = 0;
  sent: unknown[] = [];
  onopen: ((ev: Event) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(msg: unknown) {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(msg) }));
  }
  drop() {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close'));
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const t = new WebSocketTransport('ws://node/api', {
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    minDelayMs: 100,
    maxDelayMs: 400,
  });
  return { t, sockets };
}

afterEach(() => vi.useRealTimers());

describe('WebSocketTransport', () => {
  it('sends calls made before the socket opens, and matches replies by id', async () => {
    const { t, sockets } = setup();
    const a = t.call('state');
    const b = t.call('rename', { peer: 'bob', name: '' });
    expect(sockets[0].sent).toEqual([]);
    sockets[0].open();
    expect(sockets[0].sent).toEqual([
      { id: 1, method: 'state', params: {} },
      { id: 2, method: 'rename', params: { peer: 'bob', name: '' } },
    ]);
    sockets[0].receive({ id: 2, error: { code: 'failed', message: 'no member "bob"' } });
    sockets[0].receive({ id: 1, result: { state: 'connected' } });
    await expect(a).resolves.toEqual({ state: 'connected' });
    const err = await b.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiCallError);
    expect(err).toMatchObject({ code: 'failed', message: 'no member "bob"' });
    t.close();
  });

  it('passes on well-formed events only', () => {
    const { t, sockets } = setup();
    const seen: unknown[] = [];
    t.onEvent((e) => seen.push(e));
    sockets[0].open();
    sockets[0].receive({ type: 'event', event: { type: 'rtt', key: 'k', ms: 12 } });
    sockets[0].receive({ type: 'event', event: { type: 'rtt', key: 'k', ms: 'fast' } });
    sockets[0].receive({ type: 'event', event: { type: 'nonsense' } });
    sockets[0].receive({ type: 'event' });
    sockets[0].onmessage?.(new MessageEvent('message', { data: 'not json' }));
    expect(seen).toEqual([{ type: 'rtt', key: 'k', ms: 12 }]);
    t.close();
  });

  it('fails calls in flight when the socket drops, then reconnects with growing delays', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // no jitter
    const { t, sockets } = setup();
    const statuses: string[] = [];
    t.onStatus((s) => statuses.push(s));
    sockets[0].open();
    const inFlight = t.call('peers');
    sockets[0].drop();
    await expect(inFlight).rejects.toMatchObject({ code: 'disconnected', message: LOST_CONNECTION });
    expect(statuses).toEqual(['connecting', 'open', 'closed']);

    // a call made while down waits for the next socket
    const waiting = t.call('state');
    await vi.advanceTimersByTimeAsync(99);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(2);
    sockets[1].drop(); // the attempt fails: the next one waits twice as long
    await vi.advanceTimersByTimeAsync(199);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);
    sockets[2].open();
    expect(sockets[2].sent).toEqual([{ id: 2, method: 'state', params: {} }]);
    sockets[2].receive({ id: 2, result: 'ok' });
    await expect(waiting).resolves.toBe('ok');
    expect(statuses.at(-1)).toBe('open');
    t.close();
    vi.restoreAllMocks();
  });
});

describe('bridgeTransport', () => {
  it('turns rejections into ApiCallError and filters events', async () => {
    let listener: ((e: never) => void) | null = null;
    const t = bridgeTransport({
      call: (method) =>
        method === 'state' ? Promise.resolve(1) : Promise.reject({ code: 'bad_params', message: 'x' }),
      onEvent: (cb) => {
        listener = cb as (e: never) => void;
        return () => {};
      },
    });
    await expect(t.call('state')).resolves.toBe(1);
    await expect(t.call('join')).rejects.toMatchObject({ code: 'bad_params', message: 'x' });
    const seen: unknown[] = [];
    t.onEvent((e) => seen.push(e));
    listener!({ type: 'peer', key: 'k', name: 'n', online: true } as never);
    listener!({ type: 'peer', key: 'k', name: 'n', online: 'yes' } as never);
    expect(seen).toHaveLength(1);
  });
});

describe('parseApiEvent', () => {
  it('accepts each event type in its documented shape and refuses others', () => {
    const good = [
      { type: 'member', key: 'k', name: 'n' },
      { type: 'removed', key: 'k', name: 'n', by: 'b' },
      { type: 'path', key: 'k', name: 'n', kind: 'relayed', via: 'r' },
      { type: 'rtt', key: 'k', ms: 3 },
      { type: 'handshake', key: 'k' },
      { type: 'error', message: 'm' },
      { type: 'state', state: 'error', error: 'e' },
      { type: 'peer', key: 'k', name: 'n', online: false },
      { type: 'log', time: 1, level: 'warn', message: 'm' },
    ];
    for (const e of good) expect(parseApiEvent(e)).toBe(e);
    const bad = [
      null,
      [],
      { type: 'toString' },
      { type: 'path', key: 'k', name: 'n', kind: 'sideways' },
      { type: 'state', state: 'sleeping' },
      { type: 'log', time: -1, level: 'info', message: 'm' },
      { type: 'member', key: 'k'.repeat(45), name: 'n' },
    ];
    for (const e of bad) expect(parseApiEvent(e)).toBeNull();
  });
});
