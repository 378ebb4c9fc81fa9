/**
 * The field rules of a client credential, shared by the server's verification (signaling hello,
 * `POST /api/v1/credentials/verify`), the server SDK's `sign()` and `parley sign`, so a credential
 * the signer makes is one the server takes. Browser-safe: no Node APIs.
 *
 * The mPaaS rule signs `bizName+appId+workspaceId+uid+expireTime` with no separator. A uid may end
 * in digits, so the boundary between uid and expireTime is only fixed by expireTime's length:
 * allowing any number of digits lets a credential for `user12` (…user12 1767225600000) be presented
 * as `user1` with expireTime 21767225600000. expireTime is therefore exactly 13 digits (epoch
 * milliseconds from 2001 to 2286), and no further ahead than the server's maximum lifetime.
 */

/** letters, digits and `_`, 1 to 128 characters. */
export const credentialUidPattern = /^[A-Za-z0-9_]{1,128}$/;

/** The server's default maxCredentialLifetimeHours (7 days), and the SDK's default maximum. */
export const defaultMaxCredentialLifetimeHours = 168;

/**
 * expireTime as the server reads it: a number or a decimal string of exactly 13 digits (epoch
 * milliseconds), or the sentence that says what is wrong (to follow the word "expireTime").
 */
export function parseExpireTime(value: unknown): { ok: number } | { problem: string } {
  const text =
    typeof value === 'number' && Number.isSafeInteger(value)
      ? String(value)
      : typeof value === 'string'
        ? value
        : null;
  if (text === null || !/^\d+$/.test(text)) {
    return { problem: 'must be epoch milliseconds: a 13-digit integer (a number or a decimal string)' };
  }
  if (text.length === 10) {
    return {
      problem: `${text} looks like seconds: it must be epoch milliseconds (13 digits, such as ${text}000)`,
    };
  }
  if (!/^[1-9]\d{12}$/.test(text)) {
    return {
      problem: `must be epoch milliseconds: exactly 13 digits without leading zeros (got ${text.length} digits)`,
    };
  }
  return { ok: Number(text) };
}

/** Why expireTime is too far ahead of `now` for a lifetime of at most `maxLifetimeHours`, or null. */
export function expireTimeTooFar(expireTime: number, now: number, maxLifetimeHours: number): string | null {
  if (expireTime - now <= maxLifetimeHours * 3_600_000) return null;
  const ahead = (expireTime - now) / 3_600_000;
  return `is ${ahead < 10_000 ? ahead.toFixed(1) : Math.round(ahead)} hours ahead; a credential may be valid for at most ${maxLifetimeHours} hours (maxCredentialLifetimeHours)`;
}
