// `peermesh import-peervpn FILE`: a PeerVPN config turned into a PeerMesh config and secret file
// (docs/peervpn.md), with a warning for each option that has no equivalent.

import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ensurePrivateDir, writeFileAtomic } from '../../io/files';
import { defaults, loadConfigFile, validate } from '../../node/config';
import { parse, stateDirOf, UsageError } from '../args';
import { fail } from '../process';

export async function cmdImportPeerVpn(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    'out-dir': { type: 'string' },
    'state-dir': { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('usage: peermesh import-peervpn FILE [--out-dir DIR]');
  const { importPeerVpn } = await import('../../control/peervpn');
  let text: string;
  try {
    text = readFileSync(positionals[0], 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read ${positionals[0]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  // absolute: the printed `peermesh up -c …` line must work from any directory
  const dir = resolve((values['out-dir'] as string | undefined) ?? stateDirOf(values));
  let r: ReturnType<typeof importPeerVpn>;
  try {
    r = importPeerVpn(text);
  } catch (e) {
    throw new UsageError(`${positionals[0]}: ${(e as Error).message}`);
  }
  const net = (r.config.network as { name: string }).name;
  const configFile = join(dir, `${net}.json`);
  const secretFile = join(dir, `${net}.secret`);
  // paths in a config file are relative to the file: the secret sits beside it
  (r.config.network as { secretFile: string }).secretFile = basename(secretFile);
  if (existsSync(configFile)) fail(`${configFile} exists already; move it away or pick --out-dir`, 1);
  ensurePrivateDir(dir);
  if (r.secret !== null) writeFileAtomic(secretFile, Buffer.from(r.secret), 0o600);
  writeFileAtomic(configFile, `${JSON.stringify(r.config, null, 2)}\n`, 0o600);
  validate(loadConfigFile(configFile, defaults())); // what "up -c" will read must be accepted
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(
    `wrote ${configFile} and ${secretFile} (mode 0600). Start with: peermesh up -c ${configFile}\n`,
  );
}
