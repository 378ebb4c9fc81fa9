import { checkId, checkName, normaliseName, type App } from '@parley/protocol';
import { sql } from 'kysely';
import { ParleyError, rejectIssue } from '../errors.js';
import { newAppId } from '../security/ids.js';
import type { Db } from '../store/schema.js';
import { requireRole, type WorkspaceAccess } from './access.js';
import { recordAudit } from './audit.js';
import type { ServiceContext } from './context.js';

function appsQuery(db: Db, workspaceId: string) {
  return db
    .selectFrom('apps as a')
    .select([
      'a.id',
      'a.workspace_id',
      'a.name',
      'a.created_at',
      (eb) =>
        eb
          .selectFrom('call_apps as c')
          .select(sql<number>`count(*)`.as('n'))
          .whereRef('c.workspace_id', '=', 'a.workspace_id')
          .whereRef('c.app_id', '=', 'a.id')
          .as('call_app_count'),
    ])
    .where('a.workspace_id', '=', workspaceId);
}

type AppRow = {
  id: string;
  workspace_id: string;
  name: string;
  created_at: number;
  call_app_count: number | null;
};
const toApp = (r: AppRow): App => ({
  appId: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  createdAt: r.created_at,
  callAppCount: Number(r.call_app_count ?? 0),
});

export async function listApps(db: Db, access: WorkspaceAccess): Promise<App[]> {
  const rows = await appsQuery(db, access.workspaceId).orderBy('a.created_at').execute();
  return rows.map(toApp);
}

export async function getApp(db: Db, access: WorkspaceAccess, appId: string): Promise<App> {
  const row = await appsQuery(db, access.workspaceId).where('a.id', '=', appId).executeTakeFirst();
  if (!row) throw new ParleyError('APP_NOT_FOUND');
  return toApp(row);
}

export async function createApp(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  input: { appId?: string | undefined; name: string },
): Promise<App> {
  requireRole(access, 'admin');
  rejectIssue(checkName('name', input.name));
  const appId = input.appId ?? newAppId();
  rejectIssue(checkId('appId', appId));
  const now = ctx.now();
  const name = normaliseName(input.name);
  await ctx.db.transaction().execute(async (trx) => {
    const exists = await trx
      .selectFrom('apps')
      .select('id')
      .where('workspace_id', '=', access.workspaceId)
      .where('id', '=', appId)
      .executeTakeFirst();
    if (exists) throw new ParleyError('APP_EXISTS', { field: 'appId' });
    await trx
      .insertInto('apps')
      .values({ workspace_id: access.workspaceId, id: appId, name, created_at: now })
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'app.create',
      targetType: 'app',
      targetId: appId,
      after: { name },
      time: now,
    });
  });
  return { appId, workspaceId: access.workspaceId, name, createdAt: now, callAppCount: 0 };
}

export async function renameApp(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  newName: string,
): Promise<App> {
  requireRole(access, 'admin');
  rejectIssue(checkName('name', newName));
  const name = normaliseName(newName);
  await ctx.db.transaction().execute(async (trx) => {
    const before = await getApp(trx, access, appId);
    await trx
      .updateTable('apps')
      .set({ name })
      .where('workspace_id', '=', access.workspaceId)
      .where('id', '=', appId)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'app.rename',
      targetType: 'app',
      targetId: appId,
      before: { name: before.name },
      after: { name },
      time: ctx.now(),
    });
  });
  return getApp(ctx.db, access, appId);
}

/** Refused while the app still has call applications, so nothing is orphaned or lost by accident. */
export async function deleteApp(ctx: ServiceContext, access: WorkspaceAccess, appId: string): Promise<void> {
  requireRole(access, 'admin');
  await ctx.db.transaction().execute(async (trx) => {
    const app = await getApp(trx, access, appId);
    if (app.callAppCount > 0) {
      throw new ParleyError('APP_NOT_EMPTY', {
        message: `App ${appId} still has ${app.callAppCount} call application(s); delete them first.`,
      });
    }
    await trx
      .deleteFrom('apps')
      .where('workspace_id', '=', access.workspaceId)
      .where('id', '=', appId)
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'app.delete',
      targetType: 'app',
      targetId: appId,
      before: { name: app.name },
      time: ctx.now(),
    });
  });
}
