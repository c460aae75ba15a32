// What the desktop shell needs from the node side (main/node/manager.ts, NodeManager), as an
// interface: the shell only relays, so the pure modules and their tests never load the node code.
import type { ApiEvent, AppState, MethodName, Settings } from '../control/api';

export interface ManagerLike {
  /** One Control API call; `params` were validated by parseRequest (ipc-validate.ts). */
  handle(method: MethodName, params: unknown): Promise<unknown>;
  /** Subscribes to the node's events (`state`, `peer`, `log`, ...); returns the unsubscribe function. */
  onEvent(cb: (e: ApiEvent) => void): () => void;
  getState(): AppState;
  getSettings(): Settings;
  /** Disconnects cleanly (the helper removes the interface). */
  close(): Promise<void>;
}

/** What the Electron main process passes to `NodeManager.open`. */
export interface ManagerOpenOptions {
  profileDir: string;
  desktop: true;
  /**
   * Prefix that starts the helper with privileges: `['pkexec']`. The node appends the helper's
   * path and arguments itself (main/io/helper.ts), so the path is NOT part of this prefix.
   */
  helperCommand?: string[];
  helperPath?: string;
}

/** The module main.ts imports at run time (`await import('../node/manager')`). */
export interface ManagerModule {
  NodeManager: { open(opts: ManagerOpenOptions): Promise<ManagerLike> };
}
