// Talking to a running node through its control socket (<state dir>/peermesh.sock): a node that does
// not answer is a runtime failure (exit code 1).

import { join } from 'node:path';
import { controlRequest } from '../control/socket';
import { fail } from './process';

/** The control socket of the node whose state directory is `dir`. */
export function socketIn(dir: string): string {
  return join(dir, 'peermesh.sock');
}

/** One request to the node at `sock`; on any error, its message on stderr and exit code 1. */
export async function askNode<T>(
  sock: string,
  method: string,
  params?: Record<string, unknown>,
  timeoutMs?: number,
): Promise<T> {
  try {
    return (await controlRequest(sock, method, params, timeoutMs)) as T;
  } catch (e) {
    fail((e as Error).message, 1);
  }
}
