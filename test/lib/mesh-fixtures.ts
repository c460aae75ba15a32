// What the in-process mesh tests share: one network secret, its keys, and member keys by seed.
import nacl from 'tweetnacl';
import { networkKeys } from '../../main/core/mesh';

export const secret = new TextEncoder().encode('correct horse battery staple');
/** The network "home" with that secret. */
export const net0 = networkKeys('home', secret);
/** A member's private key from a one-byte seed. */
export const key = (i: number) => nacl.box.keyPair.fromSecretKey(new Uint8Array(32).fill(i)).secretKey;
