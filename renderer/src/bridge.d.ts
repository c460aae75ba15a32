// What the desktop app's preload exposes with contextBridge.exposeInMainWorld('peermesh', …).
import type { ApiEvent } from '../../main/control/api';

export interface PeerMeshBridge {
  /** Resolves with the method's result; rejects with {code, message}. */
  call(method: string, params?: unknown): Promise<unknown>;
  /** Returns the function that unsubscribes. */
  onEvent(cb: (e: ApiEvent) => void): () => void;
}

declare global {
  interface Window {
    peermesh?: PeerMeshBridge;
  }
}
