// Joining with an invitation: ask the members whose endpoints the code carries (UDP, sealed with the
// code's key; any member holding the invitation answers) for the network's secret. Shared by
// `peermesh join` and the app's `join` command.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type InviteCode,
  type JoinAnswer,
  joinAttemptId,
  joinRequest,
  readJoinAnswer,
} from '../core/invites';
import { isNetworkName } from '../core/names';
import { ensurePrivateDir, writeFileAtomic } from '../io/files';

/**
 * The network moved to a new secret after removals (the answer says which): keep it in the node's
 * mesh state (`<stateDir>/mesh-<network>.json`, 0600) so the node starts on it. The config's secret
 * file keeps the secret the network was made with (addresses and signatures derive from it).
 */
export function saveJoinedEpoch(stateDir: string, answer: Extract<JoinAnswer, { ok: true }>): void {
  if (!answer.epoch) return;
  ensurePrivateDir(stateDir);
  const path = join(stateDir, `mesh-${answer.network}.json`);
  let state: Record<string, unknown> = {};
  try {
    if (existsSync(path)) state = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    state = {};
  }
  const had = state.epoch as { n?: unknown } | undefined;
  if (typeof had?.n === 'number' && had.n >= answer.epoch.n) return;
  state.epoch = { n: answer.epoch.n, secret: answer.epoch.secret, old: [] };
  writeFileAtomic(path, `${JSON.stringify(state)}\n`, 0o600);
}

/**
 * Asks every endpoint of the code, 300 ms apart, for up to 8 s; rejects with a readable reason.
 * The answer comes from whoever holds the invitation's key (an inviter may be hostile): it is only
 * taken for the network the code names, and that name must be a safe file name, since the caller
 * saves `<network>.json` and `<network>.secret`.
 */
export async function askInviter(code: InviteCode, name: string, timeoutMs = 8000): Promise<JoinAnswer> {
  if (!isNetworkName(code.network))
    throw new Error('this join code names a network this version cannot use (letters, digits, - and _ only)');
  const socks = (['udp4', 'udp6'] as const).map((t) => dgram.createSocket(t));
  const where = code.endpoints.map((e) =>
    e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`,
  );
  const maxTries = Math.max(1, Math.ceil(timeoutMs / 300));
  // One attempt, one id: the inviter counts our retries (an answer lost on the way) as one use.
  const attempt = joinAttemptId((n) => randomBytes(n));
  try {
    return await new Promise((resolve, reject) => {
      let tries = 0;
      const timer = setInterval(send, 300);
      function send() {
        if (++tries > maxTries) {
          clearInterval(timer);
          reject(
            new Error(
              `no answer from the network's members at ${where.join(', ')} within ${Math.round(timeoutMs / 1000)} s ` +
                '(is one of them running, and reachable from here?)',
            ),
          );
          return;
        }
        const msg = joinRequest(code, name, (n) => randomBytes(n), attempt);
        for (const e of code.endpoints) {
          const s = e.address.includes(':') ? socks[1] : socks[0];
          s.send(msg, e.port, e.address, () => {});
        }
      }
      for (const s of socks) {
        s.on('error', () => {});
        s.on('message', (m) => {
          const a = readJoinAnswer(code, m);
          if (!a) return;
          clearInterval(timer);
          if (a.ok && a.network !== code.network)
            reject(
              new Error(
                `a member answered for another network than the code names ("${code.network}"): refused`,
              ),
            );
          else resolve(a);
        });
      }
      let bound = 0;
      for (const s of socks)
        s.bind(0, () => {
          if (++bound === socks.length) send();
        });
    });
  } finally {
    for (const s of socks) {
      try {
        s.close();
      } catch {
        /* not bound */
      }
    }
  }
}
