/**
 * The row the feature configuration and the key operations start from: a call application of
 * the caller's workspace and app, or CALL_APP_NOT_FOUND (whether it is elsewhere or nowhere).
 */
import { ParleyError } from '../errors.js';
import type { Db } from '../store/schema.js';
import type { WorkspaceAccess } from './access.js';

export async function callAppRow(db: Db, access: WorkspaceAccess, appId: string, bizName: string) {
  const row = await db
    .selectFrom('call_apps')
    .selectAll()
    .where('workspace_id', '=', access.workspaceId)
    .where('app_id', '=', appId)
    .where('biz_name', '=', bizName)
    .executeTakeFirst();
  if (!row) throw new ParleyError('CALL_APP_NOT_FOUND');
  return row;
}
