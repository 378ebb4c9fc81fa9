/**
 * A user's own account: changing the password and signing out everywhere. Both are
 * account-wide, so each is written to the audit log of every workspace the user belongs to
 * (that is where their admins look).
 */
import type {
  AuditAction,
  ChangePasswordRequest,
  ChangePasswordResult,
  RevokeSessionsRequest,
  RevokeSessionsResult,
} from '@parley/protocol';
import { ParleyError, fieldError } from '../errors.js';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import type { Db } from '../store/schema.js';
import { recordAudit } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { endUserSessions } from './sessions.js';
import { checkNewPassword, getUser } from './users.js';

/** The checks that need no password verification (so they cost no guess from the budget). */
export function checkPasswordChange(input: ChangePasswordRequest): void {
  checkNewPassword('newPassword', input.newPassword);
  if (input.currentPassword === '')
    throw new ParleyError('REAUTH_FAILED', {
      field: 'currentPassword',
      message: 'Enter your current password.',
    });
  if (input.newPassword === input.currentPassword)
    throw fieldError('newPassword', 'must differ from the current password', 'SAME_AS_CURRENT');
}

/**
 * Sets a new password after checking the current one, and signs out the user's other sessions
 * (someone who learnt the old password may hold one). `keepSession` is the caller's cookie.
 */
export async function changePassword(
  ctx: ServiceContext,
  actor: Actor,
  keepSession: string,
  input: ChangePasswordRequest,
): Promise<ChangePasswordResult> {
  checkPasswordChange(input);
  const user = await getUser(ctx.db, actor.userId);
  if (!(await verifyPassword(input.currentPassword, user.password_hash)))
    throw new ParleyError('REAUTH_FAILED', {
      field: 'currentPassword',
      message: 'The current password is incorrect.',
    });
  const hash = await hashPassword(input.newPassword);
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', user.id).execute();
    const sessionsEnded = await endUserSessions(trx, user.id, keepSession);
    await auditEveryWorkspace(trx, actor, 'user.password.change', { sessionsEnded }, now);
    return { sessionsEnded };
  });
}

/** Ends every console session of the user (the caller's too) and, if asked, revokes all their API tokens. */
export async function signOutEverywhere(
  ctx: ServiceContext,
  actor: Actor,
  input: RevokeSessionsRequest,
): Promise<RevokeSessionsResult> {
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    const sessionsEnded = await endUserSessions(trx, actor.userId);
    let tokensRevoked = 0;
    if (input.revokeTokens === true) {
      const result = await trx
        .updateTable('api_tokens')
        .set({ revoked_at: now })
        .where('user_id', '=', actor.userId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      tokensRevoked = Number(result.numUpdatedRows);
    }
    await auditEveryWorkspace(trx, actor, 'user.sessions.revoke', { sessionsEnded, tokensRevoked }, now);
    return { sessionsEnded, tokensRevoked };
  });
}

async function auditEveryWorkspace(
  db: Db,
  actor: Actor,
  action: AuditAction,
  after: unknown,
  time: number,
): Promise<void> {
  const memberships = await db
    .selectFrom('memberships')
    .select('workspace_id')
    .where('user_id', '=', actor.userId)
    .execute();
  for (const m of memberships) {
    await recordAudit(db, {
      workspaceId: m.workspace_id,
      actor,
      action,
      targetType: 'user',
      targetId: actor.userId,
      after,
      time,
    });
  }
}
