import { roleAtLeast, roleRank, type Role } from '@parley/protocol';
import { ParleyError } from '../errors.js';
import type { Db } from '../store/schema.js';
import type { Actor } from './context.js';

export interface WorkspaceAccess {
  workspaceId: string;
  role: Role;
  actor: Actor;
}

/**
 * The actor's effective role in a workspace. A token acts with the lower of its own role
 * and its creator's current role, so demoting or removing a user also limits their tokens.
 * Non-members get WORKSPACE_NOT_FOUND: a workspace's existence is not revealed.
 */
export async function workspaceAccess(db: Db, actor: Actor, workspaceId: string): Promise<WorkspaceAccess> {
  if (actor.token && actor.token.workspaceId !== workspaceId) throw new ParleyError('WORKSPACE_NOT_FOUND');
  const membership = await db
    .selectFrom('memberships')
    .select('role')
    .where('workspace_id', '=', workspaceId)
    .where('user_id', '=', actor.userId)
    .executeTakeFirst();
  if (!membership) throw new ParleyError('WORKSPACE_NOT_FOUND');
  let role = membership.role;
  if (actor.token && roleRank[actor.token.role] < roleRank[role]) role = actor.token.role;
  return { workspaceId, role, actor };
}

export function requireRole(access: WorkspaceAccess, needed: Role): void {
  if (!roleAtLeast(access.role, needed)) {
    throw new ParleyError('FORBIDDEN', {
      message: `This needs the ${needed} role or higher; you are ${access.role}.`,
    });
  }
}
