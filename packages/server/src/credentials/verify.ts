/**
 * Verifies a terminal's credential exactly per the mPaaS signing rule: SHA256withRSA over
 * bizName+appId+workspaceId+uid+expireTime, base64, with the call application's key (the
 * active one or one in its rotation grace period). Each failure has its own error code.
 *
 * The signed string has no separators, so expireTime must be exactly 13 digits: otherwise digits
 * move between uid and expireTime without changing the signature (see @parley/protocol
 * credentials.ts). It must also be no further ahead than the configured maximum lifetime.
 */
import { createVerify } from 'node:crypto';
import { credentialUidPattern, expireTimeTooFar, parseExpireTime } from '@parley/protocol';
import { ParleyError } from '../errors.js';
import type { Db } from '../store/schema.js';

/** What a terminal sent; nothing about it is trusted yet. */
export interface PresentedCredential {
  bizName?: unknown;
  appId?: unknown;
  workspaceId?: unknown;
  uid?: unknown;
  expireTime?: unknown;
  signature?: unknown;
}

export interface VerifiedCredential {
  bizName: string;
  appId: string;
  workspaceId: string;
  uid: string;
  expireTime: number;
  /** The key that verified it. */
  keyId: string;
}

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;

function malformed(field: string, message: string): ParleyError {
  return new ParleyError('CREDENTIAL_MALFORMED', { field, message: `${field} ${message}` });
}

/**
 * The signature as standard base64. Whitespace is dropped first: encoders wrap lines (openssl
 * base64 at 64 characters, GNU base64 and Java's MIME encoder at 76, the latter with CRLF) and
 * shell captures keep a trailing newline. base64url is refused with a hint.
 */
function signatureBase64(value: string): string {
  const signature = value.replace(/\s+/g, '');
  if (base64Pattern.test(signature)) return signature;
  if (/^[A-Za-z0-9_-]+={0,2}$/.test(signature)) {
    throw malformed('signature', 'is base64url ("-" and "_"): encode it with standard base64 ("+" and "/")');
  }
  throw malformed('signature', 'must be standard base64');
}

function verifies(publicKeyPem: string, text: string, signature: string): boolean {
  try {
    return createVerify('SHA256').update(text, 'utf8').verify(publicKeyPem, signature, 'base64');
  } catch {
    return false;
  }
}

export interface VerifyOptions {
  /** The server's maxCredentialLifetimeHours: an expireTime further ahead than this is refused. */
  maxLifetimeHours: number;
  /**
   * Resuming a live session: the credential proved itself when the session began, so its
   * expiry no longer ends a call that is merely reconnecting. Signature and scope still count.
   */
  ignoreExpiry?: boolean;
}

export async function verifyCredential(
  db: Db,
  presented: PresentedCredential,
  now: number,
  options: VerifyOptions,
): Promise<VerifiedCredential> {
  for (const field of ['bizName', 'appId', 'workspaceId', 'uid', 'signature'] as const) {
    const value = presented[field];
    if (typeof value !== 'string' || value === '') throw malformed(field, 'is required (a non-empty string)');
    if (value.length > (field === 'signature' ? 2048 : 256)) throw malformed(field, 'is too long');
  }
  const bizName = presented.bizName as string;
  const appId = presented.appId as string;
  const workspaceId = presented.workspaceId as string;
  const uid = presented.uid as string;
  const parsed = parseExpireTime(presented.expireTime);
  if ('problem' in parsed) throw malformed('expireTime', parsed.problem);
  const expireTime = parsed.ok;
  const tooFar = expireTimeTooFar(expireTime, now, options.maxLifetimeHours);
  if (tooFar) throw malformed('expireTime', tooFar);
  const signature = signatureBase64(presented.signature as string);
  if (!credentialUidPattern.test(uid)) throw new ParleyError('CREDENTIAL_UID_INVALID', { field: 'uid' });
  if (expireTime <= now && !options.ignoreExpiry) {
    throw new ParleyError('CREDENTIAL_EXPIRED', {
      field: 'expireTime',
      message: `The credential expired ${Math.round((now - expireTime) / 1000)} s ago; ask your server for a new one.`,
    });
  }
  const callApp = await db
    .selectFrom('call_apps')
    .select(['biz_name', 'app_id', 'workspace_id'])
    .where('biz_name', '=', bizName)
    .executeTakeFirst();
  if (!callApp) throw new ParleyError('CREDENTIAL_BIZNAME_UNKNOWN', { field: 'bizName' });
  if (callApp.app_id !== appId) throw new ParleyError('CREDENTIAL_SCOPE_MISMATCH', { field: 'appId' });
  if (callApp.workspace_id !== workspaceId)
    throw new ParleyError('CREDENTIAL_SCOPE_MISMATCH', { field: 'workspaceId' });

  const text = `${bizName}${appId}${workspaceId}${uid}${expireTime}`;
  const keys = await db
    .selectFrom('call_app_keys')
    .select(['id', 'status', 'retires_at', 'public_key_pem'])
    .where('biz_name', '=', bizName)
    .orderBy('created_at', 'desc')
    .execute();
  const usable = (k: (typeof keys)[number]) =>
    k.status === 'active' || (k.status === 'retiring' && k.retires_at !== null && k.retires_at > now);
  for (const key of keys.filter(usable)) {
    if (verifies(key.public_key_pem, text, signature)) {
      return { bizName, appId, workspaceId, uid, expireTime, keyId: key.id };
    }
  }
  // Tell a customer who forgot to deploy the new key apart from a plain bad signature.
  if (keys.filter((k) => !usable(k)).some((k) => verifies(k.public_key_pem, text, signature))) {
    throw new ParleyError('CREDENTIAL_KEY_RETIRED', { field: 'signature' });
  }
  throw new ParleyError('CREDENTIAL_SIGNATURE_INVALID', { field: 'signature' });
}
