// The preload (sandboxed, context-isolated): exposes exactly the Control API to the renderer, as
// window.peermesh.call(method, params) and window.peermesh.onEvent(cb) (renderer/src/bridge.d.ts), and
// nothing else. The main process checks every message again (ipc-validate.ts).
//
// A sandboxed preload may require only 'electron' (no relative modules), so the channel names are
// repeated here (ipc-validate.ts has the same), and this file is a script, not a module: compiled to
// CommonJS it then touches no `exports` object.
{
  const { contextBridge, ipcRenderer } = require('electron') as typeof import('electron');
  const CALL_CHANNEL = 'peermesh:call';
  const EVENT_CHANNEL = 'peermesh:event';
  let nextId = 1;

  interface ApiErrorLike {
    code: string;
    message: string;
  }

  const asError = (e: unknown): ApiErrorLike => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
    return {
      code: typeof o.code === 'string' ? o.code : 'internal',
      message: typeof o.message === 'string' ? o.message : String(e),
    };
  };

  contextBridge.exposeInMainWorld('peermesh', {
    /** Resolves with the result; rejects with a plain {code, message} (an Error would lose its code). */
    call(method: string, params?: unknown): Promise<unknown> {
      const id = nextId++;
      return ipcRenderer.invoke(CALL_CHANNEL, { id, method, params: params ?? {} }).then(
        (reply: unknown) => {
          const r = reply as { ok?: unknown; result?: unknown; error?: unknown } | null;
          if (r && r.ok === true) return r.result;
          return Promise.reject(asError(r?.error ?? { code: 'internal', message: 'no reply' }));
        },
        (e: unknown) => Promise.reject(asError(e)),
      );
    },
    /** Calls cb with each event from the node; returns the function that unsubscribes. */
    onEvent(cb: (e: unknown) => void): () => void {
      if (typeof cb !== 'function') throw new TypeError('onEvent needs a function');
      const listener = (_ev: unknown, e: unknown) => {
        // a minimal shape check; the renderer checks each event fully (renderer/src/events.ts)
        if (typeof e !== 'object' || e === null || Array.isArray(e)) return;
        const t = (e as { type?: unknown }).type;
        if (typeof t !== 'string' || t.length === 0 || t.length > 32) return;
        cb(e);
      };
      ipcRenderer.on(EVENT_CHANNEL, listener);
      return () => {
        ipcRenderer.removeListener(EVENT_CHANNEL, listener);
      };
    },
  });
}
