// The node's Curve25519 identity: generated with tweetnacl, stored base64 (the format `wg genkey`
// uses, so keys move freely between PeerMesh and WireGuard tools), mode 0600.
import { readFileSync, statSync } from 'node:fs';
import nacl from 'tweetnacl';
import { x25519Base } from '../core/crypto/aead';
import { writeFileAtomic } from '../io/files';

export function generatePrivateKey(): Uint8Array {
  return nacl.box.keyPair().secretKey;
}

/** X25519(privateKey, 9) by libsodium: tweetnacl's JavaScript takes ~25 ms of every node start. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519Base(privateKey);
}

/** Decode a base64 Curve25519 key (32 bytes); throws a readable error. */
export function decodeKey(text: string, what: string): Uint8Array {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) throw new Error(`${what} is not a base64 32-byte key`);
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function encodeKey(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}

/** Read a key file; warns (via the returned flag) when it is readable by others. */
export function readKeyFile(path: string, what: string): { key: Uint8Array; tooOpen: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(
      `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const tooOpen = (statSync(path).mode & 0o077) !== 0;
  return { key: decodeKey(text, `${what} ${path}`), tooOpen };
}

export function writeKeyFile(path: string, key: Uint8Array): void {
  writeFileAtomic(path, `${encodeKey(key)}\n`, 0o600);
}
