import type { AuditAction, AuditList, AuditQuery } from '@parley/protocol';
import type { Db } from '../store/schema.js';
import { containsIgnoreCase } from '../store/text-search.js';
import type { Actor } from './context.js';

export interface AuditRecord {
  workspaceId: string;
  actor: Actor | { userId: null; label: string };
  action: AuditAction;
  targetType: string;
  targetId: string;
  before?: unknown;
  after?: unknown;
  time: number;
}

/** Written in the same transaction as the change it describes. */
export async function recordAudit(db: Db, r: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      workspace_id: r.workspaceId,
      actor_user_id: r.actor.userId,
      actor: r.actor.label,
      action: r.action,
      target_type: r.targetType,
      target_id: r.targetId,
      before_json: r.before === undefined ? null : JSON.stringify(r.before),
      after_json: r.after === undefined ? null : JSON.stringify(r.after),
      created_at: r.time,
    })
    .execute();
}

export async function listAudit(db: Db, workspaceId: string, q: AuditQuery): Promise<AuditList> {
  const page = q.page ?? 1;
  const pageSize = q.pageSize ?? 50;
  let base = db.selectFrom('audit_log').where('workspace_id', '=', workspaceId);
  if (q.action) base = base.where('action', '=', q.action);
  if (q.actor) base = base.where(containsIgnoreCase('actor', q.actor));
  if (q.targetId) base = base.where('target_id', '=', q.targetId);
  if (q.from !== undefined) base = base.where('created_at', '>=', q.from);
  if (q.to !== undefined) base = base.where('created_at', '<', q.to);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(pageSize)
      .offset((page - 1) * pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    items: rows.map((r) => ({
      id: Number(r.id),
      time: r.created_at,
      actor: r.actor,
      action: r.action,
      targetType: r.target_type,
      targetId: r.target_id,
      before: r.before_json === null ? null : (JSON.parse(r.before_json) as unknown),
      after: r.after_json === null ? null : (JSON.parse(r.after_json) as unknown),
    })),
    total: Number(count.n),
    page,
    pageSize,
  };
}
