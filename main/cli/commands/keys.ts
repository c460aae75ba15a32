// Keys and what follows from them: `peermesh keygen`, `pubkey`, `genpsk`, and `address` (the overlay
// addresses a key gets in a network). None of them touches the network or a running node.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../node/config';
import {
  decodeKey,
  encodeKey,
  generatePrivateKey,
  publicKeyOf,
  readKeyFile,
  writeKeyFile,
} from '../../node/identity';
import { Logger } from '../../node/log';
import { ensureStateDir, noPositionals, parse, privateKeyFileOf, stateDirOf, UsageError } from '../args';

export function cmdKeygen(args: string[]): void {
  const { values, positionals } = parse(args, {
    out: { type: 'string' },
    force: { type: 'boolean' },
    'state-dir': { type: 'string' },
  });
  noPositionals(positionals);
  let path = values.out as string | undefined;
  if (!path) {
    const dir = stateDirOf(values);
    ensureStateDir(dir);
    path = join(dir, 'private.key');
  }
  if (existsSync(path) && !values.force) {
    throw new ConfigError(
      `${path} exists; use --force to replace this identity (peers will no longer know it)`,
    );
  }
  const key = generatePrivateKey();
  writeKeyFile(path, key);
  process.stdout.write(`${encodeKey(publicKeyOf(key))}\n`);
}

export function cmdPubkey(args: string[]): void {
  const { values, positionals } = parse(args, {
    'state-dir': { type: 'string' },
    'private-key-file': { type: 'string' },
  });
  let key: Uint8Array;
  if (positionals[0] === '-') {
    key = decodeKey(readFileSync(0, 'utf8'), 'private key on stdin');
  } else {
    noPositionals(positionals);
    key = readKeyFile(privateKeyFileOf(values), 'private key file').key;
  }
  process.stdout.write(`${encodeKey(publicKeyOf(key))}\n`);
}

export function cmdGenpsk(): void {
  process.stdout.write(`${encodeKey(randomBytes(32))}\n`);
}

/** The overlay addresses a key gets in a network (its first choice; a running node's status is authoritative). */
export async function cmdAddress(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    network: { type: 'string' },
    'secret-file': { type: 'string' },
    'private-key-file': { type: 'string' },
    'state-dir': { type: 'string' },
  });
  if (positionals.length || !values.network || !values['secret-file'])
    throw new UsageError(
      'usage: peermesh address --network NAME --secret-file FILE [--private-key-file FILE | --state-dir DIR]',
    );
  const { loadSecret } = await import('../../node/node');
  const { memberAddresses, networkKeys } = await import('../../core/mesh');
  const secret = loadSecret(values['secret-file'] as string, new Logger('error'));
  const key = readKeyFile(privateKeyFileOf(values), 'private key file').key;
  const a = memberAddresses(networkKeys(values.network as string, secret), publicKeyOf(key));
  process.stdout.write(`${a.v4}\n${a.v6}\n`);
}
