import { createSign } from 'node:crypto';
import {
  credentialUidPattern,
  defaultMaxCredentialLifetimeHours,
  expireTimeTooFar,
  parseExpireTime,
} from '@parley/protocol';

export interface CredentialInput {
  bizName: string;
  appId: string;
  workspaceId: string;
  uid: string;
  /** Absolute expiry, Unix epoch milliseconds: exactly 13 digits. */
  expireTime: number;
  /** The call application's private key (PKCS#8 PEM, as "View key" shows it). */
  privateKeyPem: string;
}

export interface SignOptions {
  /**
   * Longest the credential may be valid for, in hours from now: a later expireTime is refused
   * here, as the server refuses it. 168 (7 days) by default, the server's default
   * `maxCredentialLifetimeHours`; set it to your server's value if that differs.
   */
  maxLifetimeHours?: number;
  /** The current time, epoch ms; Date.now() by default. */
  now?: number;
}

export interface Credential {
  bizName: string;
  appId: string;
  workspaceId: string;
  uid: string;
  expireTime: number;
  /** base64 SHA256withRSA signature of bizName+appId+workspaceId+uid+expireTime. */
  signature: string;
}

export const uidPattern = credentialUidPattern;

/** The exact string the mPaaS contract signs: the five parts concatenated with no separators. */
export function stringToSign(c: Omit<CredentialInput, 'privateKeyPem'>): string {
  return `${c.bizName}${c.appId}${c.workspaceId}${c.uid}${c.expireTime}`;
}

/**
 * Signs a client credential for a terminal, per the mPaaS signing rule. Throws a TypeError for
 * what the server would refuse: a malformed uid, an expireTime that is not 13 digits of epoch
 * milliseconds, or one further ahead than `options.maxLifetimeHours`.
 */
export function sign(input: CredentialInput, options: SignOptions = {}): Credential {
  if (!uidPattern.test(input.uid)) {
    throw new TypeError('uid must be 1 to 128 letters, digits or underscores');
  }
  const expireTime = parseExpireTime(input.expireTime);
  if ('problem' in expireTime) throw new TypeError(`expireTime ${expireTime.problem}`);
  const tooFar = expireTimeTooFar(
    expireTime.ok,
    options.now ?? Date.now(),
    options.maxLifetimeHours ?? defaultMaxCredentialLifetimeHours,
  );
  if (tooFar) throw new TypeError(`expireTime ${tooFar}`);
  const signature = createSign('SHA256')
    .update(stringToSign(input), 'utf8')
    .sign(input.privateKeyPem, 'base64');
  const { privateKeyPem: _omit, ...rest } = input;
  return { ...rest, signature };
}
