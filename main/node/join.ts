// Joining with an invitation: ask the inviting node (UDP, sealed with the code's key) for the
// network's secret. Shared by `peermesh join` and the app's `join` command.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import {
  type InviteCode,
  type JoinAnswer,
  joinAttemptId,
  joinRequest,
  readJoinAnswer,
} from '../core/invites';
import { isNetworkName } from '../core/names';

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
              `no answer from the inviting node at ${where.join(', ')} within ${Math.round(timeoutMs / 1000)} s ` +
                '(is it running, and reachable from here?)',
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
                `the inviting node answered for another network than the code names ("${code.network}"): refused`,
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
