// Runs a shell script as root in a private mount namespace whose given directories are overlays on
// scratch directories: what it changes there (groupadd, chown, setcap, installed files) never
// reaches the machine. Used by the packaging tests to run the real install scripts.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export function inScratchRoot(scratch: string, dirs: string[], script: string): SpawnSyncReturns<string> {
  const mounts = dirs
    .map((d, i) => {
      const [u, w] = [join(scratch, `u${i}`), join(scratch, `w${i}`)];
      return `mkdir -p ${u} ${w} && mount -t overlay overlay -o lowerdir=${d},upperdir=${u},workdir=${w} ${d}`;
    })
    .join(' && ');
  return spawnSync(
    'unshare',
    ['--mount', '--propagation', 'private', 'sh', '-c', `set -e; ${mounts}\n${script}`],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
}
