/**
 * Call-application keys: RSA-2048 pairs (the contract's SHA256withRSA), with the private
 * key encrypted at rest under the master key (AES-256-GCM, bound to its key id).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  generateKeyPair,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir } from '../store/data-dir.js';

export interface KeyPairPem {
  publicKeyPem: string;
  privateKeyPem: string;
}

export function generateRsaKeyPair(): Promise<KeyPairPem> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      'rsa',
      {
        modulusLength: 2048,
        publicExponent: 0x10001,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (err, publicKeyPem, privateKeyPem) => (err ? reject(err) : resolve({ publicKeyPem, privateKeyPem })),
    ),
  );
}

/** SHA-256 of the public key's DER (SPKI), hex. */
export function keyFingerprint(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

export function maskKey(fingerprint: string): string {
  return `RSA-2048 ••••••••${fingerprint.slice(-8)}`;
}

/** Loads the master key from config, or from dataDir/master.key, creating it (mode 0600) on first start. */
export function loadMasterKey(configured: string, dataDir: string): Buffer {
  if (configured !== '') return Buffer.from(configured, 'base64');
  const file = path.join(dataDir, 'master.key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a base64 32-byte key`);
    return key;
  }
  makePrivateDir(dataDir);
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

export class KeyVault {
  readonly #masterKey: Buffer;
  constructor(masterKey: Buffer) {
    this.#masterKey = masterKey;
  }

  encrypt(plaintext: string, boundTo: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#masterKey, iv);
    cipher.setAAD(Buffer.from(boundTo));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /**
   * A key for one purpose (e.g. signing device cookies), derived from the master key with HKDF
   * so the master key itself never signs anything and purposes cannot stand in for each other.
   */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#masterKey, Buffer.alloc(0), `parley ${purpose}`, 32));
  }

  decrypt(sealed: string, boundTo: string): string {
    if (!sealed.startsWith('v1:')) throw new Error('unknown key encryption format');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#masterKey, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(boundTo));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}
