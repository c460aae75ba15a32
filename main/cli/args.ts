// Command-line arguments: parsing with node:util's parseArgs, the flags several commands share
// (--state-dir, --network, --private-key-file, --log-level), and UsageError (exit code 2, main.ts).

import { join } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ensurePrivateDir } from '../io/files';
import { ConfigError, defaultStateDir, type LogLevel } from '../node/config';

/** Bad usage of the command line: one line on stderr and exit code 2 (like a ConfigError). */
export class UsageError extends Error {}

type Values = Record<string, unknown>;

/** Parses `args` strictly: an unknown option is a UsageError. */
export function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/, ''));
  }
}

/** For commands that take no positional argument. */
export function noPositionals(positionals: string[]): void {
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
}

export function intFlag(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new ConfigError(`--${name} must be a whole number, got "${v}"`);
  return Number(v);
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function isLogLevel(l: string): l is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(l);
}

/** --state-dir, or the default state directory. */
export function stateDirOf(values: Values): string {
  return (values['state-dir'] as string | undefined) ?? defaultStateDir();
}

/** Create (0700) or check the state directory: one that is unsafe or cannot be made is a ConfigError (exit 2). */
export function ensureStateDir(dir: string): void {
  try {
    ensurePrivateDir(dir);
  } catch (e) {
    throw new ConfigError(`state directory: ${(e as Error).message}`);
  }
}

/** --private-key-file, or the identity in the state directory. */
export function privateKeyFileOf(values: Values): string {
  return (values['private-key-file'] as string | undefined) ?? join(stateDirOf(values), 'private.key');
}

/** The flags of every command that talks to a running node: which node (see nodeDir). */
export const NODE_FLAGS = {
  'state-dir': { type: 'string' },
  network: { type: 'string' },
} as const;

/**
 * The state directory of the node a command talks to: --state-dir, or the default; with --network
 * NAME, the subdirectory a multi-network `up` gave that network (<state-dir>/<NAME>).
 */
export function nodeDir(values: Values): string {
  const base = stateDirOf(values);
  const net = values.network as string | undefined;
  if (!net) return base;
  if (!/^[A-Za-z0-9_.-]{1,63}$/.test(net) || net === '.' || net === '..')
    throw new UsageError(`bad network name "${net}"`);
  return join(base, net);
}

/** "30m", "24h", "7d", "3600s" or a bare number of seconds. */
export function parseDuration(s: string): number {
  const m = /^(\d{1,7})([smhd]?)$/.exec(s.trim());
  if (!m) throw new UsageError(`--expires must look like 30m, 24h or 7d, got "${s}"`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}
