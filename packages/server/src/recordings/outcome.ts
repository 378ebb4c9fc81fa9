/**
 * The outcome side of recordings, shared by recordings of live calls (manager.ts) and recordings
 * a crash left (crash-recovery.ts): their callbacks, their rows in the recordings table, their
 * finished files (kept on local disk or uploaded to object storage, then reported by the final
 * 99) and the parts left beside those files.
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RecordingResult } from '../recorder/recording.js';
import type { RoomScope } from '../rooms/room.js';
import type { RecordingsTable } from '../store/schema.js';
import type { RecordingManagerOptions } from './manager.js';
import {
  RecordingEventCodes,
  recordingCallbackPayload,
  type RecordResult,
  type RecordingEventExtra,
} from './payload.js';

export type RecordingScope = RoomScope & { roomId: string; recordId: string };

export type RecordingOutcomeOptions = Pick<
  RecordingManagerOptions,
  | 'db'
  | 'dispatcher'
  | 'recordingsDir'
  | 'storage'
  | 'keepLocalCopy'
  | 'localFileUrl'
  | 'metrics'
  | 'log'
  | 'now'
>;

/** One order key per recording: the outbox delivers its callbacks one after another, in order. */
export function recordingOrderKey(recordId: string): string {
  return `rec:${recordId}`;
}

export class RecordingOutcome {
  readonly #o: RecordingOutcomeOptions;

  constructor(options: RecordingOutcomeOptions) {
    this.#o = options;
  }

  /** Queues a recording callback in the durable outbox (it survives a restart). */
  send(
    scope: RecordingScope,
    eventCode: number,
    extra: RecordingEventExtra = {},
    recordResult?: RecordResult,
  ): void {
    void this.#o.dispatcher.enqueue({
      kind: 'recording',
      workspaceId: scope.workspaceId,
      bizName: scope.bizName,
      eventCode,
      roomId: scope.roomId,
      uid: extra.uid ?? '',
      orderKey: recordingOrderKey(scope.recordId),
      url: { setting: 'recording_callback_url' },
      payload: recordingCallbackPayload(scope, eventCode, extra, recordResult),
      time: this.#o.now(),
    });
  }

  /** A failed update is logged, not thrown, so that reporting and storing the recording go on. */
  async update(recordId: string, values: Partial<Omit<RecordingsTable, 'record_id'>>): Promise<void> {
    try {
      await this.#o.db
        .updateTable('recordings')
        .set({ ...values, updated_at: this.#o.now() })
        .where('record_id', '=', recordId)
        .execute();
    } catch (err) {
      this.#o.log.error({ err, recordId }, 'recording: could not update its row');
    }
  }

  /**
   * Stores a finished file and reports it: 99 status 2. An upload failure sends 100201 first
   * and keeps the local file, so the 99 is still status 2, with fileType 1.
   */
  async store(scope: RecordingScope, result: RecordingResult): Promise<void> {
    const o = this.#o;
    const bytes = await stat(result.file).then(
      (s) => s.size,
      () => result.bytes,
    );
    let fileType: 1 | 2 = 1;
    let filePath = o.localFileUrl({
      workspace_id: scope.workspaceId,
      app_id: scope.appId,
      biz_name: scope.bizName,
      record_id: scope.recordId,
    });
    let objectKey: string | null = null;
    let localPath: string | null = result.file;
    let uploadFailure: string | null = null;
    if (o.storage) {
      try {
        const up = await o.storage.upload(
          result.file,
          `${scope.bizName}/${scope.recordId}.mp4`,
          result.mediaType === 1 ? 'audio/mp4' : 'video/mp4',
        );
        fileType = 2;
        filePath = up.url;
        objectKey = up.key;
        if (!o.keepLocalCopy) {
          await rm(result.file, { force: true });
          localPath = null;
        }
      } catch (err) {
        uploadFailure = err instanceof Error ? err.message : String(err);
        const kind = (err as { kind?: string }).kind;
        const attempts = (err as { attempts?: number }).attempts;
        o.metrics?.failures.inc({ code: String(RecordingEventCodes.uploadFailed) });
        this.send(scope, RecordingEventCodes.uploadFailed, {
          message: uploadFailure,
          detail: {
            ...(kind ? { reason: kind } : {}),
            ...(attempts ? { attempts } : {}),
            localFileKept: true,
          },
        });
        o.log.warn(
          { recordId: scope.recordId, err: uploadFailure },
          'recording: upload failed, local file kept',
        );
      }
    }
    this.send(
      scope,
      RecordingEventCodes.result,
      {},
      { status: 2, fileType, filePath, recordStartTime: result.recordStartTime, mediaType: result.mediaType },
    );
    o.metrics?.finished.inc({ result: 'done' });
    await this.update(scope.recordId, {
      status: 'done',
      record_start_time: result.recordStartTime,
      duration_ms: Math.round(result.durationMs),
      size_bytes: bytes,
      storage: fileType === 2 ? 's3' : 'local',
      file_type: fileType,
      file_path: filePath,
      local_path: localPath,
      object_key: objectKey,
      failure_code: uploadFailure ? RecordingEventCodes.uploadFailed : null,
      failure_message: uploadFailure,
    });
    o.log.info(
      {
        recordId: scope.recordId,
        fileType,
        bytes,
        durationMs: result.durationMs,
        finalizeMs: result.finalizeMs,
      },
      'recording stored',
    );
  }

  /** What is left of a stored recording's parts (its journal; see keepJournal). */
  async removeParts(bizName: string, recordId: string): Promise<void> {
    await rm(this.partsDir({ biz_name: bizName, record_id: recordId }), {
      recursive: true,
      force: true,
    }).catch((err: unknown) => this.#o.log.warn({ err, recordId }, 'recording: could not remove its parts'));
  }

  /** Where the recorder keeps a recording's captures and journal until its file is stored. */
  partsDir(row: Pick<RecordingsTable, 'biz_name' | 'record_id'>): string {
    return path.join(this.#o.recordingsDir, row.biz_name, `${row.record_id}.parts`);
  }
}
