/** The callback delivery log, redelivery, test callbacks and signing secrets, for the console and API. */
import type {
  CallbackDelivery,
  CallbackDeliveryList,
  CallbackDeliveryQuery,
  CallbackSecret,
  RetryNowRequest,
  TestCallbackResult,
} from '@parley/protocol';
import { ParleyError } from '../errors.js';
import { requireRole, type WorkspaceAccess } from '../services/access.js';
import { recordAudit } from '../services/audit.js';
import { getFeatureConfig } from '../services/call-apps.js';
import type { ServiceContext } from '../services/context.js';
import type { CallbackEventsTable, Db } from '../store/schema.js';
import type { CallbackSender } from './deliver.js';
import type { CallbackDispatcher } from './dispatcher.js';
import { RequestIds } from './request-ids.js';
import { insertSecret, listSecrets, rotateSecret, signingSecrets } from './secrets.js';

export interface CallbackServiceDeps {
  svc: ServiceContext;
  dispatcher: CallbackDispatcher;
  sender: CallbackSender;
  secretOverlapMs: number;
}

type EventRow = Omit<CallbackEventsTable, 'id'> & { id: number };

async function attemptsOf(db: Db, ids: number[]) {
  if (ids.length === 0) return new Map<number, CallbackDelivery['attemptLog']>();
  const rows = await db
    .selectFrom('callback_attempts as a')
    .innerJoin('callback_events as e', 'e.id', 'a.event_id')
    .selectAll('a')
    .select('e.url as event_url')
    .where('a.event_id', 'in', ids)
    .orderBy('a.attempt')
    .execute();
  const map = new Map<number, CallbackDelivery['attemptLog']>();
  for (const r of rows) {
    const list = map.get(Number(r.event_id)) ?? [];
    list.push({
      attempt: r.attempt,
      startedAt: r.started_at,
      durationMs: r.duration_ms,
      statusCode: r.status_code,
      success: r.success === 1,
      error: r.error,
      responseExcerpt: r.response_excerpt,
      // Attempts made before each attempt recorded its URL went to the event's URL.
      url: r.url === '' ? r.event_url : r.url,
    });
    map.set(Number(r.event_id), list);
  }
  return map;
}

function toDelivery(r: EventRow, attemptLog: CallbackDelivery['attemptLog']): CallbackDelivery {
  return {
    eventId: Number(r.id),
    bizRequestId: r.biz_request_id,
    kind: r.kind,
    eventCode: r.event_code,
    roomId: r.room_id,
    uid: r.uid,
    url: r.url,
    status: r.status,
    attempts: r.attempts,
    createdAt: r.created_at,
    completedAt: r.completed_at,
    nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
    lastError: r.last_error,
    payload: JSON.parse(r.payload) as unknown,
    attemptLog,
  };
}

async function ensureCallApp(ctx: ServiceContext, access: WorkspaceAccess, appId: string, bizName: string) {
  return getFeatureConfig(ctx.db, access, appId, bizName);
}

export async function listDeliveries(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  q: CallbackDeliveryQuery,
): Promise<CallbackDeliveryList> {
  const { db } = deps.svc;
  await ensureCallApp(deps.svc, access, appId, bizName);
  const page = q.page ?? 1;
  const pageSize = q.pageSize ?? 50;
  let base = db.selectFrom('callback_events').where('biz_name', '=', bizName);
  if (q.status) base = base.where('status', '=', q.status);
  if (q.kind) base = base.where('kind', '=', q.kind);
  if (q.eventCode !== undefined) base = base.where('event_code', '=', q.eventCode);
  if (q.roomId) base = base.where('room_id', '=', q.roomId);
  if (q.uid) base = base.where('uid', '=', q.uid);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('id', 'desc')
      .limit(pageSize)
      .offset((page - 1) * pageSize)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  const attempts = await attemptsOf(
    db,
    rows.map((r) => Number(r.id)),
  );
  return {
    items: rows.map((r) => toDelivery(r as EventRow, attempts.get(Number(r.id)) ?? [])),
    total: Number(count.n),
    page,
    pageSize,
  };
}

/** Sends an event again (same bizRequestId), with a fresh run of retries, to the call application's current URL. */
export async function redeliver(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  eventId: number,
): Promise<CallbackDelivery> {
  requireRole(access, 'developer');
  const { db } = deps.svc;
  await ensureCallApp(deps.svc, access, appId, bizName);
  const row = await db
    .selectFrom('callback_events')
    .selectAll()
    .where('id', '=', eventId)
    .where('biz_name', '=', bizName)
    .executeTakeFirst();
  if (!row) throw new ParleyError('CALLBACK_NOT_FOUND');
  const now = deps.svc.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('callback_events')
      .set((eb) => ({
        status: 'pending',
        next_attempt_at: now,
        completed_at: null,
        lease_until: null,
        retry_base: eb.ref('attempts'),
      }))
      .where('id', '=', eventId)
      .where('status', '<>', 'delivering')
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callback.redeliver',
      targetType: 'callApp',
      targetId: bizName,
      after: { eventId, bizRequestId: row.biz_request_id, eventCode: row.event_code },
      time: now,
    });
  });
  deps.dispatcher.wake();
  const updated = await db
    .selectFrom('callback_events')
    .selectAll()
    .where('id', '=', eventId)
    .executeTakeFirstOrThrow();
  return toDelivery(updated as EventRow, (await attemptsOf(db, [eventId])).get(eventId) ?? []);
}

/** Sends a sample event to the configured URL now and reports the receiver's answer. Not stored. */
export async function sendTestCallback(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  kind: 'room' | 'recording',
): Promise<TestCallbackResult> {
  requireRole(access, 'developer');
  const config = (await ensureCallApp(deps.svc, access, appId, bizName)).config;
  const url = kind === 'room' ? config.roomCallbackUrl : config.recordingCallbackUrl;
  if (url === '') {
    throw new ParleyError('CALLBACK_URL_NOT_SET', {
      field: kind === 'room' ? 'roomCallbackUrl' : 'recordingCallbackUrl',
      message: `Set the ${kind === 'room' ? 'room-status' : 'recording'} callback URL first.`,
    });
  }
  const now = deps.svc.now();
  const bizRequestId = new RequestIds().next(now);
  const payload =
    kind === 'room'
      ? {
          bizRequestId,
          uid: 'test_user',
          bizName,
          appId,
          workspaceId: access.workspaceId,
          roomId: 'test_room',
          eventCode: 1,
          time: now,
        }
      : {
          bizRequestId,
          bizName,
          appId,
          workspaceId: access.workspaceId,
          roomId: 'test_room',
          recordId: 'record_test',
          eventCode: 10,
        };
  const result = await deps.sender.send({
    url,
    body: JSON.stringify(payload),
    bizRequestId,
    secrets: await signingSecrets(deps.svc.db, deps.svc.vault, bizName, now),
    test: true,
  });
  return {
    url,
    payload,
    success: result.success,
    statusCode: result.statusCode,
    error: result.error,
    responseExcerpt: result.excerpt,
    durationMs: result.durationMs,
  };
}

/**
 * Makes the waiting event of an order key due now (the customer fixed their receiver and does
 * not want to wait for the next retry): one event by id, the waiting events of a room, or of
 * an order key. Only pending events whose next attempt lies ahead are touched.
 */
export async function retryNow(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  target: RetryNowRequest,
): Promise<CallbackDelivery[]> {
  requireRole(access, 'developer');
  const given = (['eventId', 'roomId', 'orderKey'] as const).filter((k) => target[k] !== undefined);
  if (given.length !== 1) {
    throw new ParleyError('VALIDATION_FAILED', {
      field: given[1] ?? 'eventId',
      message: 'Give exactly one of eventId, roomId or orderKey.',
    });
  }
  const { db } = deps.svc;
  await ensureCallApp(deps.svc, access, appId, bizName);
  const now = deps.svc.now();
  const ids = await db.transaction().execute(async (trx) => {
    let waiting = trx
      .selectFrom('callback_events')
      .select('id')
      .where('biz_name', '=', bizName)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '>', now);
    if (target.eventId !== undefined) waiting = waiting.where('id', '=', target.eventId);
    if (target.roomId !== undefined) waiting = waiting.where('room_id', '=', target.roomId);
    if (target.orderKey !== undefined) waiting = waiting.where('order_key', '=', target.orderKey);
    const found = (await waiting.orderBy('id').limit(1000).execute()).map((r) => Number(r.id));
    if (found.length === 0) return found;
    await trx
      .updateTable('callback_events')
      .set({ next_attempt_at: now })
      .where('id', 'in', found)
      .where('status', '=', 'pending')
      .execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callback.retryNow',
      targetType: 'callApp',
      targetId: bizName,
      after: { ...target, eventIds: found },
      time: now,
    });
    return found;
  });
  if (ids.length === 0) {
    throw new ParleyError('CALLBACK_NOT_FOUND', {
      message: 'No event of this call application is waiting for a retry there.',
    });
  }
  deps.dispatcher.wake();
  const rows = await db
    .selectFrom('callback_events')
    .selectAll()
    .where('id', 'in', ids)
    .orderBy('id')
    .execute();
  const attempts = await attemptsOf(db, ids);
  return rows.map((r) => toDelivery(r as EventRow, attempts.get(Number(r.id)) ?? []));
}

/** The signing secrets; reading them is audited, and never creates one. */
export async function getSecrets(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<CallbackSecret[]> {
  requireRole(access, 'developer');
  await ensureCallApp(deps.svc, access, appId, bizName);
  const now = deps.svc.now();
  const secrets = await listSecrets(deps.svc.db, deps.svc.vault, bizName, now);
  await recordAudit(deps.svc.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'callback.secret.read',
    targetType: 'callApp',
    targetId: bizName,
    after: { secretIds: secrets.map((s) => s.secretId) },
    time: now,
  });
  return secrets;
}

/**
 * Creates the signing secret of a call application that has none (one made before secrets
 * came with every call application). With an active secret already there, changes nothing.
 */
export async function createSecret(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<{ created: boolean; items: CallbackSecret[] }> {
  requireRole(access, 'developer');
  await ensureCallApp(deps.svc, access, appId, bizName);
  const now = deps.svc.now();
  const existing = await listSecrets(deps.svc.db, deps.svc.vault, bizName, now);
  if (existing.some((s) => s.status === 'active')) return { created: false, items: existing };
  await deps.svc.db.transaction().execute(async (trx) => {
    await insertSecret(trx, deps.svc.vault, bizName, now);
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'callback.secret.create',
      targetType: 'callApp',
      targetId: bizName,
      time: now,
    });
  });
  deps.dispatcher.forgetSecrets(bizName);
  return { created: true, items: await listSecrets(deps.svc.db, deps.svc.vault, bizName, now) };
}

/** A new active secret; the previous one keeps signing for the overlap (none: the new one is the first). */
export async function rotateSecrets(
  deps: CallbackServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<CallbackSecret[]> {
  requireRole(access, 'developer');
  await ensureCallApp(deps.svc, access, appId, bizName);
  const now = deps.svc.now();
  await rotateSecret(deps.svc.db, deps.svc.vault, bizName, now, deps.secretOverlapMs);
  deps.dispatcher.forgetSecrets(bizName);
  await recordAudit(deps.svc.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'callback.secret.rotate',
    targetType: 'callApp',
    targetId: bizName,
    time: now,
  });
  return listSecrets(deps.svc.db, deps.svc.vault, bizName, now);
}
