// What a node keeps in its state directory (0700, files 0600, written atomically): its identity and
// the keys it is given, and per network the known records and removals, the invitations it issued and
// the local names given to members. Unreadable files are reported and ignored, never fatal.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Invites } from '../core/invites';
import type { Mesh } from '../core/mesh';
import { ensurePrivateDir, sweepStaleTemp, writeFileAtomic } from '../io/files';
import { ConfigError, type NodeConfig } from './config';
import { generatePrivateKey, readKeyFile, writeKeyFile } from './identity';
import type { Logger } from './log';

/** The state directory made (0700) and cleared of temporary files an interrupted write left. */
export function prepareStateDir(cfg: NodeConfig, log: Logger): void {
  try {
    ensurePrivateDir(cfg.stateDir);
  } catch (e) {
    throw new ConfigError(`state directory: ${(e as Error).message}`);
  }
  const swept = sweepStaleTemp(cfg.stateDir);
  if (swept) log.info(`removed ${swept} temporary file(s) left by an interrupted write`);
}

/** Every key a start needs, read (and checked) before anything is written. */
export interface NodeKeys {
  privateKey: Uint8Array;
  /** Per configured peer, its pre-shared key (its own file, else the node's), or null. */
  peerPsks: (Uint8Array | null)[];
  /** The network's secret, when the node is a member of one. */
  secret: Uint8Array | null;
}

export function loadKeys(cfg: NodeConfig, log: Logger): NodeKeys {
  if (cfg.keys) return cfg.keys; // read by root before the process dropped to its user (`up --ui`)
  const psk = cfg.pskFile ? loadKey(cfg.pskFile, 'pre-shared key file', log) : null;
  const peerPsks = cfg.peers.map((p) =>
    p.presharedKeyFile ? loadKey(p.presharedKeyFile, 'pre-shared key file', log) : psk,
  );
  const secret = cfg.network ? loadSecret(cfg.network.secretFile, log) : null;
  return { privateKey: loadPrivateKey(cfg, log), peerPsks, secret };
}

function loadKey(path: string, what: string, log: Logger): Uint8Array {
  try {
    const { key, tooOpen } = readKeyFile(path, what);
    if (tooOpen) log.warn(`${what} ${path} is readable by other users; chmod 600 it`);
    return key;
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** The explicit key file, or the state directory's own (generated on first start). */
function loadPrivateKey(cfg: NodeConfig, log: Logger): Uint8Array {
  if (cfg.privateKeyFile) return loadKey(cfg.privateKeyFile, 'private key file', log);
  const path = join(cfg.stateDir, 'private.key');
  if (!existsSync(path)) {
    const key = generatePrivateKey();
    writeKeyFile(path, key);
    log.info(`generated a new identity in ${path}`);
    return key;
  }
  return loadKey(path, 'private key file', log);
}

/** The network secret: any passphrase of at least 12 characters (trailing newline ignored). */
export function loadSecret(path: string, log: Logger): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(
      `cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (text.length < 12)
    throw new ConfigError(`secret file ${path}: the secret must be at least 12 characters`);
  if ((statSync(path).mode & 0o077) !== 0)
    log.warn(`secret file ${path} is readable by other users; chmod 600 it`);
  return new TextEncoder().encode(text);
}

/** A network's files in the state directory. */
export class NetworkFiles {
  constructor(
    private readonly cfg: NodeConfig,
    private readonly log: Logger,
  ) {}

  get meshStatePath(): string {
    return join(this.cfg.stateDir, `mesh-${this.cfg.network?.name}.json`);
  }

  get invitesPath(): string {
    return join(this.cfg.stateDir, `invites-${this.cfg.network?.name}.json`);
  }

  get aliasesPath(): string {
    return join(this.cfg.stateDir, `aliases-${this.cfg.network?.name}.json`);
  }

  /**
   * What we knew of the network before a restart: members (to reach them without a bootstrap) and
   * removals (which must hold).
   */
  loadMesh(mesh: Mesh): void {
    const path = this.meshStatePath;
    if (!existsSync(path)) return;
    try {
      const n = mesh.importState(JSON.parse(readFileSync(path, 'utf8')));
      this.log.info(`loaded ${n} record(s) of network "${this.cfg.network?.name}" from ${path}`);
    } catch (e) {
      this.log.warn(`ignoring unreadable ${path}: ${(e as Error).message}`);
    }
  }

  saveMesh(mesh: Mesh): void {
    try {
      writeFileAtomic(this.meshStatePath, `${JSON.stringify(mesh.exportState())}\n`, 0o600);
    } catch (e) {
      this.log.warn(`cannot save the network state to ${this.meshStatePath}: ${(e as Error).message}`);
    }
  }

  loadInvites(invites: Invites): void {
    if (!existsSync(this.invitesPath)) return;
    try {
      invites.load(JSON.parse(readFileSync(this.invitesPath, 'utf8')), Date.now() / 1000);
    } catch (e) {
      this.log.warn(`ignoring unreadable ${this.invitesPath}: ${(e as Error).message}`);
    }
  }

  saveInvites(invites: Invites): void {
    try {
      writeFileAtomic(this.invitesPath, `${JSON.stringify(invites.stored)}\n`, 0o600);
    } catch (e) {
      this.log.warn(`cannot save invitations to ${this.invitesPath}: ${(e as Error).message}`);
    }
  }

  /** Local names given to members with `rename` (key -> alias). */
  loadAliases(into: Map<string, string>): void {
    if (!existsSync(this.aliasesPath)) return;
    try {
      const o = JSON.parse(readFileSync(this.aliasesPath, 'utf8')) as unknown;
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not an object');
      for (const [k, v] of Object.entries(o))
        if (/^[A-Za-z0-9+/]{43}=$/.test(k) && typeof v === 'string' && v.length > 0 && v.length <= 63)
          into.set(k, v);
    } catch (e) {
      this.log.warn(`ignoring unreadable ${this.aliasesPath}: ${(e as Error).message}`);
    }
  }

  /** Throws when the file cannot be written (the caller's request fails with the reason). */
  saveAliases(aliases: Map<string, string>): void {
    writeFileAtomic(this.aliasesPath, `${JSON.stringify(Object.fromEntries(aliases))}\n`, 0o600);
  }
}
