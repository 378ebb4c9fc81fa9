/** Identifier generation. All ids are random (no ordering leaks) and URL-safe. */
import { createHash, randomBytes } from 'node:crypto';

const lowerAlnum = 'abcdefghijklmnopqrstuvwxyz0123456789';
const upperAlnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomString(alphabet: string, length: number): string {
  // Rejection sampling keeps every symbol equally likely.
  const out: string[] = [];
  const limit = 256 - (256 % alphabet.length);
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && out.length < length) out.push(alphabet[b % alphabet.length] as string);
    }
  }
  return out.join('');
}

/** bizName: 16 lowercase letters/digits, starting with a letter (~80 bits). */
export function newBizName(): string {
  return randomString('abcdefghijklmnopqrstuvwxyz', 1) + randomString(lowerAlnum, 15);
}

export const newUserId = (): string => `u_${randomString(lowerAlnum, 16)}`;
export const newKeyId = (): string => `k_${randomString(lowerAlnum, 16)}`;
export const newTokenId = (): string => `t_${randomString(lowerAlnum, 16)}`;
export const newWorkspaceId = (): string => `ws${randomString(lowerAlnum, 10)}`;
/** appId in the style of mPaaS app ids: upper-case letters and digits. */
export const newAppId = (): string => `APP${randomString(upperAlnum, 13)}`;

export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
