// What every transport does between reading a message and writing its answer, in one place: decode
// (size, then JSON), check it against the contract (parseRequest), call the handler, and turn the
// outcome into a response with the one error mapping (toApiError). The unix socket and the WebSocket
// use all of it; Electron IPC (main/app/ipc-validate.ts) uses parseRequest and toApiError.
import {
  type ApiError,
  ApiFailure,
  type Handlers,
  type MethodName,
  parseRequest,
  type Response,
  toApiError,
} from './api';

/** Calls the method's implementation with params the contract accepted. */
export type Serve = (method: MethodName, params: unknown) => unknown;

export type Decoded = { ok: true; value: unknown } | { ok: false; error: ApiError };

/** One message's text (or bytes) as JSON: `too_large` over maxBytes, `bad_request` when not JSON. */
export function decodeMessage(data: string | Buffer, maxBytes: number): Decoded {
  const size = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
  if (size > maxBytes)
    return { ok: false, error: { code: 'too_large', message: `request larger than ${maxBytes} bytes` } };
  try {
    return { ok: true, value: JSON.parse(typeof data === 'string' ? data : data.toString('utf8')) };
  } catch {
    return { ok: false, error: { code: 'bad_request', message: 'request is not valid JSON' } };
  }
}

/** Runs a call; never rejects (a thrown error becomes its code through toApiError). */
export async function run(id: number | string, call: () => unknown): Promise<Response> {
  try {
    const result = await call();
    return { id, result: result === undefined ? null : result };
  } catch (e) {
    return { id, error: toApiError(e) };
  }
}

/** A decoded message in, its response out. Never rejects. */
export async function respond(raw: unknown, serve: Serve): Promise<Response> {
  const p = parseRequest(raw);
  return p.ok ? run(p.id, () => serve(p.method, p.params)) : { id: p.id, error: p.error };
}

/** A response as JSON text; a result that has no JSON form (a cycle, a BigInt) is `internal`. */
export function responseText(r: Response): string {
  try {
    return JSON.stringify(r);
  } catch {
    return JSON.stringify({ id: r.id, error: { code: 'internal', message: 'result is not serialisable' } });
  }
}

/** Serves a handler table (a node's): a method it does not implement is `unknown_method`. */
export function serveTable(handlers: Partial<Handlers>, what = 'this node'): Serve {
  return (method, params) => {
    const h = Object.hasOwn(handlers, method)
      ? (handlers as Record<string, (p: unknown) => unknown>)[method]
      : undefined;
    if (!h) throw new ApiFailure('unknown_method', `${what} does not serve ${method}`);
    return h(params);
  };
}
