/** Recordings of a call application for the REST API and console: list, read, file, delete, start/stop. */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Recording, RecordingList, RecordingListQuery } from '@parley/protocol';
import { ParleyError } from '../errors.js';
import { requireRole, type WorkspaceAccess } from '../services/access.js';
import { recordAudit } from '../services/audit.js';
import { getCallApp } from '../services/call-apps.js';
import type { ServiceContext } from '../services/context.js';
import type { Db, RecordingsTable } from '../store/schema.js';
import { RecordingRequestError, type RecordingManager } from './manager.js';
import type { ObjectStorage } from './object-storage.js';

export interface RecordingServiceDeps {
  svc: ServiceContext;
  manager: RecordingManager;
  storage: ObjectStorage | null;
}

/** The API path that serves a recording's file. */
export function recordingFilePath(
  row: Pick<RecordingsTable, 'workspace_id' | 'app_id' | 'biz_name' | 'record_id'>,
) {
  const p = (s: string) => encodeURIComponent(s);
  return `/api/v1/workspaces/${p(row.workspace_id)}/apps/${p(row.app_id)}/call-apps/${p(row.biz_name)}/recordings/${p(row.record_id)}/file`;
}

function hasFile(row: RecordingsTable): boolean {
  return row.status === 'done' && (row.local_path !== null || row.object_key !== null);
}

function toRecording(row: RecordingsTable): Recording {
  const mediaType = row.media_type === 1 || row.media_type === 2 ? row.media_type : 0;
  const fileType = row.file_type === 1 || row.file_type === 2 ? row.file_type : null;
  return {
    recordId: row.record_id,
    bizName: row.biz_name,
    roomId: row.room_id,
    status: row.status,
    trigger: row.trigger,
    mediaType,
    startedAt: row.started_at,
    recordStartTime: row.record_start_time,
    endedAt: row.ended_at,
    durationMs: row.duration_ms,
    sizeBytes: row.size_bytes === null ? null : Number(row.size_bytes),
    storage: row.storage,
    fileType,
    filePath: row.file_path,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    fileUrl: hasFile(row) ? recordingFilePath(row) : null,
  };
}

export async function listRecordings(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  query: RecordingListQuery,
): Promise<RecordingList> {
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  let q = ctx.db.selectFrom('recordings').where('biz_name', '=', bizName);
  if (query.status) q = q.where('status', '=', query.status);
  if (query.roomId) q = q.where('room_id', '=', query.roomId);
  const [{ n }] = (await q.select((eb) => eb.fn.countAll<number>().as('n')).execute()) as [{ n: number }];
  const rows = await q
    .selectAll()
    .orderBy('started_at', 'desc')
    .orderBy('record_id')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute();
  return { items: rows.map(toRecording), total: Number(n), page, pageSize };
}

async function recordingRow(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  recordId: string,
): Promise<RecordingsTable> {
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const row = await ctx.db
    .selectFrom('recordings')
    .selectAll()
    .where('biz_name', '=', bizName)
    .where('record_id', '=', recordId)
    .executeTakeFirst();
  if (!row) throw new ParleyError('RECORDING_NOT_FOUND', { field: 'recordId' });
  return row;
}

export async function getRecording(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  recordId: string,
): Promise<Recording> {
  return toRecording(await recordingRow(ctx, access, appId, bizName, recordId));
}

/** Where the file is: on this server's disk (preferred when kept) or in object storage. */
export async function recordingFile(
  ctx: ServiceContext,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  recordId: string,
): Promise<{ local: string } | { objectKey: string }> {
  const row = await recordingRow(ctx, access, appId, bizName, recordId);
  if (!hasFile(row)) throw new ParleyError('RECORDING_FILE_GONE');
  if (row.local_path) return { local: row.local_path };
  return { objectKey: row.object_key! };
}

export async function deleteRecording(
  deps: RecordingServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  recordId: string,
): Promise<void> {
  const ctx = deps.svc;
  requireRole(access, 'developer');
  const row = await recordingRow(ctx, access, appId, bizName, recordId);
  if (row.status === 'recording' || row.status === 'finishing') {
    throw new ParleyError('RECORDING_ACTIVE', {
      message: 'Stop the recording (or wait for its result) first.',
    });
  }
  // The object first: a failure here leaves the row (and the file) in place, so nothing is lost
  // that the user still sees, and a retry can finish the job.
  if (row.object_key && deps.storage) await deps.storage.delete(row.object_key);
  if (row.local_path) await rm(row.local_path, { force: true });
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('recordings').where('record_id', '=', recordId).execute();
    await recordAudit(trx, {
      workspaceId: access.workspaceId,
      actor: access.actor,
      action: 'recording.delete',
      targetType: 'recording',
      targetId: recordId,
      before: { roomId: row.room_id, status: row.status, filePath: row.file_path },
      time: ctx.now(),
    });
  });
}

function mapRequestError(err: unknown): never {
  if (err instanceof RecordingRequestError) throw new ParleyError(err.code, { message: err.message });
  throw err;
}

export async function startRoomRecording(
  deps: RecordingServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  roomId: string,
): Promise<Recording> {
  const ctx = deps.svc;
  requireRole(access, 'developer');
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const recordId = await deps.manager.start(bizName, roomId).catch(mapRequestError);
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'recording.start',
    targetType: 'recording',
    targetId: recordId,
    after: { roomId },
    time: ctx.now(),
  });
  return getRecording(ctx, access, appId, bizName, recordId);
}

export async function stopRoomRecording(
  deps: RecordingServiceDeps,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  roomId: string,
): Promise<Recording> {
  const ctx = deps.svc;
  requireRole(access, 'developer');
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  let recordId: string;
  try {
    recordId = deps.manager.stop(bizName, roomId);
  } catch (err) {
    mapRequestError(err);
  }
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'recording.stop',
    targetType: 'recording',
    targetId: recordId,
    after: { roomId },
    time: ctx.now(),
  });
  return getRecording(ctx, access, appId, bizName, recordId);
}

/** Object keys of a call application's recordings (read before the rows go with the app). */
export async function recordingObjectKeys(db: Db, bizName: string): Promise<string[]> {
  const rows = await db
    .selectFrom('recordings')
    .select('object_key')
    .where('biz_name', '=', bizName)
    .where('object_key', 'is not', null)
    .execute();
  return rows.map((r) => r.object_key!);
}

/**
 * After a call application is deleted: its recordings directory, and its objects in storage.
 * Best effort: the application is already gone, so a file that cannot be removed is logged.
 */
export async function removeRecordingFiles(
  deps: {
    recordings: RecordingServiceDeps;
    config: { recordingsDir: string };
    log: { warn(o: object, m: string): void };
  },
  bizName: string,
  objectKeys: string[],
): Promise<void> {
  await rm(path.join(deps.config.recordingsDir, bizName), { recursive: true, force: true }).catch(
    (err: unknown) =>
      deps.log.warn({ err, bizName }, 'recordings: could not remove the files of a deleted call application'),
  );
  const storage = deps.recordings.storage;
  if (!storage) return;
  for (const key of objectKeys) {
    await storage
      .delete(key)
      .catch((err: unknown) =>
        deps.log.warn({ err, key }, 'recordings: could not delete an object of a deleted call application'),
      );
  }
}
