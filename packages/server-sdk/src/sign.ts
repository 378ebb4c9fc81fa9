import { createSign } from 'node:crypto';

export interface CredentialInput {
  bizName: string;
  appId: string;
  workspaceId: string;
  uid: string;
  /** Absolute expiry, Unix epoch milliseconds. */
  expireTime: number;
  /** The call application's private key (PKCS#8 PEM, as "View key" shows it). */
  privateKeyPem: string;
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

export const uidPattern = /^[A-Za-z0-9_]{1,128}$/;

/** The exact string the mPaaS contract signs: the five parts concatenated with no separators. */
export function stringToSign(c: Omit<CredentialInput, 'privateKeyPem'>): string {
  return `${c.bizName}${c.appId}${c.workspaceId}${c.uid}${c.expireTime}`;
}

/** Signs a client credential for a terminal, per the mPaaS signing rule. */
export function sign(input: CredentialInput): Credential {
  if (!uidPattern.test(input.uid)) {
    throw new TypeError('uid must be 1 to 128 letters, digits or underscores');
  }
  if (!Number.isSafeInteger(input.expireTime) || input.expireTime <= 0) {
    throw new TypeError('expireTime must be a positive integer of epoch milliseconds');
  }
  const signature = createSign('SHA256')
    .update(stringToSign(input), 'utf8')
    .sign(input.privateKeyPem, 'base64');
  const { privateKeyPem: _omit, ...rest } = input;
  return { ...rest, signature };
}
