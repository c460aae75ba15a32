// Every IPC message from a renderer is checked here, in the main process, before it reaches the
// Control API: it must come from our window's main frame showing our own renderer page, be at most
// MAX_MESSAGE_BYTES as JSON, and be a valid request (parseRequest: the same schemas as every
// transport). A bad message gets a structured error reply, a handler's error the code every
// transport gives it (toApiError in api.ts, through dispatch.ts's run); nothing here throws.
// Pure (no Electron at run time): main.ts describes the sender with plain values.
import { type ApiError, MAX_MESSAGE_BYTES, type MethodName, parseRequest } from '../control/api';
import { run } from '../control/dispatch';

/** The IPC channel of calls (invoke) and of events (send). */
export const CALL_CHANNEL = 'peermesh:call';
export const EVENT_CHANNEL = 'peermesh:event';

/** A frame as Electron's WebFrameMain describes it (only what the checks use). */
export interface FrameInfo {
  url: string;
  processId: number;
  routingId: number;
}

/** Who sent a message: event.sender.id and event.senderFrame (null once the frame is gone). */
export interface SenderInfo {
  webContentsId: number;
  frame: FrameInfo | null;
}

/** Our window: its webContents id and its main frame; null while there is no window. */
export interface TrustedWindow {
  webContentsId: number;
  mainFrame: Pick<FrameInfo, 'processId' | 'routingId'>;
}

/** Which pages may talk to the main process. */
export interface RendererPolicy {
  /** file:// URL of the packaged renderer, renderer/dist/index.html (pathToFileURL(...).href). */
  rendererFileUrl: string;
  /** A dev server's origin (http://localhost:5173), only in an unpackaged app explicitly run in dev. */
  devServerOrigin: string | null;
}

export type IpcReply = { ok: true; result: unknown } | { ok: false; error: ApiError };

export type IpcCheck =
  | { ok: true; id: number | string; method: MethodName; params: unknown }
  | { ok: false; error: ApiError };

/** A dev server origin is honoured only on loopback over http(s); anything else means none. */
export function devServerOrigin(raw: string | undefined | null): string | null {
  if (!raw) return null;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    if (u.hostname !== 'localhost' && u.hostname !== '127.0.0.1' && u.hostname !== '[::1]') return null;
    return u.origin;
  } catch {
    return null;
  }
}

/** Whether a page at `url` is our renderer (its file, any hash; or the dev server when enabled). */
export function isRendererUrl(url: string, policy: RendererPolicy): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'file:') {
    let expected: URL;
    try {
      expected = new URL(policy.rendererFileUrl);
    } catch {
      return false;
    }
    return (
      expected.protocol === 'file:' &&
      u.host === expected.host &&
      u.pathname === expected.pathname &&
      u.search === '' &&
      u.username === '' &&
      u.password === ''
    );
  }
  return policy.devServerOrigin !== null && u.origin === policy.devServerOrigin;
}

/** The sender is our window's main frame, showing our renderer. */
export function isTrustedSender(
  sender: SenderInfo,
  trusted: TrustedWindow | null,
  policy: RendererPolicy,
): boolean {
  const f = sender.frame;
  if (!trusted || !f) return false;
  if (sender.webContentsId !== trusted.webContentsId) return false;
  if (f.processId !== trusted.mainFrame.processId || f.routingId !== trusted.mainFrame.routingId)
    return false;
  return isRendererUrl(f.url, policy);
}

/** Size of a message as JSON (UTF-8 bytes), or null when it has no JSON form (cycles, BigInt). */
export function jsonSize(raw: unknown): number | null {
  try {
    const s = JSON.stringify(raw);
    return s === undefined ? null : Buffer.byteLength(s, 'utf8');
  } catch {
    return null;
  }
}

const FORBIDDEN: ApiError = {
  code: 'forbidden',
  message: 'this message did not come from the PeerMesh window',
};

/** Every check, in order: sender, size, request shape and params. Never throws. */
export function checkIpcMessage(
  sender: SenderInfo,
  trusted: TrustedWindow | null,
  policy: RendererPolicy,
  raw: unknown,
): IpcCheck {
  try {
    if (!isTrustedSender(sender, trusted, policy)) return { ok: false, error: FORBIDDEN };
    const size = jsonSize(raw);
    if (size === null)
      return { ok: false, error: { code: 'bad_request', message: 'a request must be plain JSON data' } };
    if (size > MAX_MESSAGE_BYTES)
      return {
        ok: false,
        error: { code: 'too_large', message: `a request may be at most ${MAX_MESSAGE_BYTES} bytes` },
      };
    const p = parseRequest(raw);
    if (!p.ok) return { ok: false, error: p.error };
    return { ok: true, id: p.id, method: p.method, params: p.params };
  } catch {
    // a getter on a hostile object, say: still a structured answer
    return { ok: false, error: { code: 'bad_request', message: 'the request could not be read' } };
  }
}

/** Checks a message and, when it passes, calls `handler`; always resolves with a reply. */
export async function handleIpcCall(
  sender: SenderInfo,
  trusted: TrustedWindow | null,
  policy: RendererPolicy,
  raw: unknown,
  handler: (method: MethodName, params: unknown) => Promise<unknown>,
): Promise<IpcReply> {
  const c = checkIpcMessage(sender, trusted, policy, raw);
  if (!c.ok) return { ok: false, error: c.error };
  // the same run as the unix socket's and the WebSocket's: a thrown error mapped by toApiError
  const r = await run(c.id, () => handler(c.method, c.params));
  return 'error' in r ? { ok: false, error: r.error } : { ok: true, result: r.result };
}
