// A new machine that tries a join code and is refused (the namespace tests of invitations).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NetnsLab } from './netns';
import { runCli } from './peermesh-proc';

/**
 * `peermesh join CODE` on `host` as new machine number `n` (its own state directory under `dir`,
 * interface and name `machine-N`): it must exit 1 with `reason` and start no node.
 */
export function joinRefused(
  lab: NetnsLab,
  host: string,
  dir: string,
  n: number,
  code: string,
  reason: RegExp,
): void {
  const r = runCli(
    [
      'join',
      code,
      '--state-dir',
      join(dir, `x${n}`),
      '--interface',
      `pm${lab.id}x${n}`,
      '--name',
      `machine-${n}`,
    ],
    lab.ns(host),
  );
  assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, reason);
  assert.doesNotMatch(r.stderr, / up: interface /);
}
