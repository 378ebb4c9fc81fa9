import {
  checkId,
  checkName,
  normaliseName,
  roleAtLeast,
  type AddMemberRequest,
  type Member,
  type Role,
  type WorkspaceSummary,
} from '@parley/protocol';
import { ParleyError, fieldError, rejectIssue } from '../errors.js';
import { newWorkspaceId } from '../security/ids.js';
import type { Db } from '../store/schema.js';
import { requireRole, type WorkspaceAccess } from './access.js';
import { recordAudit } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { createUser, findUserByEmail } from './users.js';

export async function listWorkspaces(db: Db, actor: Actor): Promise<WorkspaceSummary[]> {
  let q = db
    .selectFrom('memberships as m')
    .innerJoin('workspaces as w', 'w.id', 'm.workspace_id')
    .select(['w.id', 'w.name', 'w.created_at', 'm.role'])
    .where('m.user_id', '=', actor.userId);
  if (actor.token) q = q.where('w.id', '=', actor.token.workspaceId);
  const rows = await q.orderBy('w.created_at').execute();
  return rows.map((r) => ({ workspaceId: r.id, name: r.name, role: r.role, createdAt: r.created_at }));
}

export async function createWorkspace(
  ctx: ServiceContext,
  actor: Actor,
  input: { workspaceId?: string | undefined; name: string },
): Promise<WorkspaceSummary> {
  if (actor.token) throw new ParleyError('FORBIDDEN', { message: 'API tokens cannot create workspaces.' });
  rejectIssue(checkName('name', input.name));
  const workspaceId = input.workspaceId ?? newWorkspaceId();
  rejectIssue(checkId('workspaceId', workspaceId));
  const now = ctx.now();
  const name = normaliseName(input.name);
  await ctx.db.transaction().execute(async (trx) => {
    const exists = await trx
      .selectFrom('workspaces')
      .select('id')
      .where('id', '=', workspaceId)
      .executeTakeFirst();
    if (exists) throw new ParleyError('WORKSPACE_EXISTS', { field: 'workspaceId' });
    await trx.insertInto('workspaces').values({ id: workspaceId, name, created_at: now }).execute();
    await trx
      .insertInto('memberships')
      .values({ workspace_id: workspaceId, user_id: actor.userId, role: 'owner', created_at: now })
      .execute();
    await recordAudit(trx, {
      workspaceId,
      actor,
      action: 'workspace.create',
      targetType: 'workspace',
      targetId: workspaceId,
      after: { name },
      time: now,
    });
  });
  return { workspaceId, name, role: 'owner', createdAt: now };
}

export async function listMembers(db: Db, access: WorkspaceAccess): Promise<Member[]> {
  const rows = await db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'u.name', 'm.role', 'm.created_at'])
    .where('m.workspace_id', '=', access.workspaceId)
    .orderBy('m.created_at')
    .execute();
  return rows.map((r) => ({
    userId: r.id,
    email: r.email,
    name: r.name,
    role: r.role,
    addedAt: r.created_at,
  }));
}

/** Only owners hand out or take away the owner and admin roles. */
function requireCanGrant(access: WorkspaceAccess, role: Role): void {
  requireRole(access, 'admin');
  if (roleAtLeast(role, 'admin')) requireRole(access, 'owner');
}

export async function addMember(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  input: AddMemberRequest,
): Promise<Member> {
  requireCanGrant(access, input.role);
  // The name is optional (the email's local part stands in); given, it is checked like any name.
  const name = normaliseName(input.name ?? '');
  if (name !== '') rejectIssue(checkName('name', name));
  const now = ctx.now();
  let user = await findUserByEmail(ctx.db, input.email);
  if (!user) {
    if (!input.password) {
      throw fieldError('password', 'is required to create a new user (at least 12 characters)', 'REQUIRED');
    }
    user = await createUser(ctx.db, { email: input.email, name, password: input.password }, now);
  }
  const userRow = user;
  await ctx.db.transaction().execute(async (trx) => {
    const exists = await trx
      .selectFrom('memberships')
      .select('role')
      .where('workspace_id', '=', access.workspaceId)
      .where('user_id', '=', userRow.id)
      .executeTakeFirst();
    if (exists) throw new ParleyError('MEMBER_EXISTS', { field: 'email' });
    await trx
      .insertInto('memberships')
      .values({ workspace_id: access.workspaceId, user_id: userRow.id, role: input.role, created_at: now })
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'member.add',
      targetType: 'user',
      targetId: userRow.email,
      after: { role: input.role },
      time: now,
    });
  });
  return { userId: userRow.id, email: userRow.email, name: userRow.name, role: input.role, addedAt: now };
}

async function memberRow(db: Db, workspaceId: string, userId: string) {
  const row = await db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'u.name', 'm.role', 'm.created_at'])
    .where('m.workspace_id', '=', workspaceId)
    .where('m.user_id', '=', userId)
    .executeTakeFirst();
  if (!row) throw new ParleyError('MEMBER_NOT_FOUND');
  return row;
}

async function ownerCount(db: Db, workspaceId: string): Promise<number> {
  const r = await db
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('workspace_id', '=', workspaceId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function changeRole(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  userId: string,
  role: Role,
): Promise<Member> {
  const now = ctx.now();
  return ctx.db.transaction().execute(async (trx) => {
    const current = await memberRow(trx, access.workspaceId, userId);
    requireCanGrant(access, role);
    requireCanGrant(access, current.role);
    if (current.role === 'owner' && role !== 'owner' && (await ownerCount(trx, access.workspaceId)) <= 1) {
      throw new ParleyError('LAST_OWNER');
    }
    await trx
      .updateTable('memberships')
      .set({ role })
      .where('workspace_id', '=', access.workspaceId)
      .where('user_id', '=', userId)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'member.role',
      targetType: 'user',
      targetId: current.email,
      before: { role: current.role },
      after: { role },
      time: now,
    });
    return { userId, email: current.email, name: current.name, role, addedAt: current.created_at };
  });
}

export async function removeMember(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  userId: string,
): Promise<void> {
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const current = await memberRow(trx, access.workspaceId, userId);
    requireCanGrant(access, current.role);
    if (current.role === 'owner' && (await ownerCount(trx, access.workspaceId)) <= 1) {
      throw new ParleyError('LAST_OWNER');
    }
    await trx
      .deleteFrom('memberships')
      .where('workspace_id', '=', access.workspaceId)
      .where('user_id', '=', userId)
      .execute();
    // Their tokens for this workspace go with the membership.
    await trx
      .updateTable('api_tokens')
      .set({ revoked_at: now })
      .where('workspace_id', '=', access.workspaceId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'member.remove',
      targetType: 'user',
      targetId: current.email,
      before: { role: current.role },
      time: now,
    });
  });
}
