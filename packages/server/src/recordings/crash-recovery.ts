/**
 * Recordings a previous process left unfinished (it died with them: kill -9, power loss). Each
 * one whose captures are on disk (its journal, recorder/journal.ts) is finished from them in the
 * background, one at a time, and reported as a result cut short by the crash: 0 for the streams
 * still open then, 50 (detail.reason 'cut-short-by-crash'), 11, 99 status 2. The others, and any
 * whose recovery fails, get today's failure: 100105, 11, 99 status 3.
 */
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { JOURNAL_FILE } from '../recorder/journal.js';
import { recoverRecording, type RecoveredRecording, type RecoveryRun } from '../recorder/recording.js';
import { RecordingCodes } from '../recorder/protocol.js';
import type { RecordingsTable } from '../store/schema.js';
import type { RecordingManagerOptions } from './manager.js';
import { recordingOrderKey, type RecordingOutcome, type RecordingScope } from './outcome.js';
import { RecordingEventCodes } from './payload.js';

export interface CrashRecoveryOptions extends Pick<
  RecordingManagerOptions,
  'db' | 'dispatcher' | 'ffmpeg' | 'metrics' | 'log' | 'now'
> {
  outcome: RecordingOutcome;
  /** The recordings this process runs itself. */
  ownRecordIds(): Iterable<string>;
  /** Whether the server is shutting down: a recovery cut short is taken up by the next start. */
  closed(): boolean;
  /** Hands over the background recovery, so that shutdown waits for it. */
  track(work: Promise<void>): void;
}

function rowScope(row: RecordingsTable): RecordingScope {
  return {
    bizName: row.biz_name,
    appId: row.app_id,
    workspaceId: row.workspace_id,
    roomId: row.room_id,
    recordId: row.record_id,
  };
}

export class CrashRecovery {
  readonly #o: CrashRecoveryOptions;
  /** Recoveries in progress, killed at shutdown (see abort). */
  readonly #runs = new Set<RecoveryRun>();

  constructor(options: CrashRecoveryOptions) {
    this.#o = options;
  }

  /** Reports the recordings that cannot be recovered, then starts recovering the others. */
  async recoverUnfinished(): Promise<{ failed: number; recovering: number }> {
    const rows = await this.#o.db
      .selectFrom('recordings')
      .selectAll()
      .where('status', 'in', ['recording', 'finishing'])
      .execute();
    // Recordings this process runs itself are not left over (rooms may start before this runs).
    const own = new Set(this.#o.ownRecordIds());
    const toRecover: RecordingsTable[] = [];
    let failed = 0;
    for (const row of rows) {
      if (own.has(row.record_id)) continue;
      const journal = path.join(this.#o.outcome.partsDir(row), JOURNAL_FILE);
      if (existsSync(journal)) toRecover.push(row);
      else {
        await this.#reportLostToCrash(row, 'no capture of it was found on disk');
        failed++;
      }
    }
    await this.#o.dispatcher.persisted();
    if (toRecover.length > 0) {
      this.#o.track(
        (async () => {
          for (const row of toRecover) {
            if (this.#o.closed()) return; // the next start takes it up again
            await this.#recoverOne(row);
          }
        })().catch((err: unknown) => this.#o.log.error({ err }, 'recording: recovery failed')),
      );
    }
    return { failed, recovering: toRecover.length };
  }

  /** Kills the recoveries in progress (shutdown). */
  abort(): void {
    for (const run of this.#runs) run.abort();
  }

  /** Whether a callback of this recording with this code is in the outbox already. */
  async #sent(recordId: string, eventCode: number): Promise<boolean> {
    const row = await this.#o.db
      .selectFrom('callback_events')
      .select('id')
      .where('order_key', '=', recordingOrderKey(recordId))
      .where('event_code', '=', eventCode)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The failure report of a recording the crash took: 100105, 11, 99 status 3. */
  async #reportLostToCrash(row: RecordingsTable, why: string): Promise<void> {
    const { outcome } = this.#o;
    const scope = rowScope(row);
    const message = 'the server stopped while this recording was running';
    outcome.send(scope, RecordingCodes.processCrashed, {
      message,
      detail: { reason: 'server-restarted', recovery: why },
    });
    outcome.send(scope, RecordingEventCodes.ended);
    outcome.send(scope, RecordingEventCodes.result, {}, { status: 3 });
    this.#o.metrics?.finished.inc({ result: 'failed' });
    await outcome.update(row.record_id, {
      status: 'failed',
      failure_code: RecordingCodes.processCrashed,
      failure_message: `${message}; ${why}`,
      ended_at: row.ended_at ?? this.#o.now(),
    });
  }

  /** Makes the file of one recording the crash cut short, stores it and reports it (see above). */
  async #recoverOne(row: RecordingsTable): Promise<void> {
    const o = this.#o;
    const { outcome } = o;
    const scope = rowScope(row);
    const log = o.log.child({ component: 'recorder', recordId: row.record_id });
    let ffmpegPath: string;
    try {
      ffmpegPath = await o.ffmpeg();
    } catch (err) {
      await this.#reportLostToCrash(
        row,
        `its captures could not be composed: no usable ffmpeg (${String(err)})`,
      );
      return;
    }
    const started = performance.now();
    const run = recoverRecording({
      recordId: row.record_id,
      outputDir: path.dirname(outcome.partsDir(row)),
      ffmpegPath,
      log,
    });
    this.#runs.add(run);
    let result: RecoveredRecording;
    try {
      result = await run.result;
    } catch (err) {
      if (o.closed()) return; // aborted by shutdown: the next start takes it up again
      const why = err instanceof Error ? err.message : String(err);
      log.warn({ err: why }, 'recording: recovery after a crash failed');
      await this.#reportLostToCrash(row, `its captures could not be recovered: ${why}`);
      return;
    } finally {
      this.#runs.delete(run);
    }
    const lastMediaAt = result.recordStartTime + Math.round(result.durationMs);
    if (result.recovery !== 'already-complete') {
      for (const s of result.streamsEnded) {
        outcome.send(scope, RecordingEventCodes.streamRecorded, { uid: s.uid, kind: s.kind });
      }
      o.metrics?.failures.inc({ code: String(RecordingEventCodes.warning) });
      outcome.send(scope, RecordingEventCodes.warning, {
        message:
          'the recording was cut short by a crash of the server (killed or power loss); the file holds what was captured until then',
        detail: {
          reason: 'cut-short-by-crash',
          recoveredMs: Math.round(result.durationMs),
          lastMediaAt,
        },
      });
    }
    // The file may have been complete, its 11 sent, and only storing it cut short.
    if (!(await this.#sent(row.record_id, RecordingEventCodes.ended))) {
      outcome.send(scope, RecordingEventCodes.ended);
    }
    await outcome.update(row.record_id, { status: 'finishing', ended_at: row.ended_at ?? lastMediaAt });
    await outcome.store(scope, result);
    await outcome.removeParts(row.biz_name, row.record_id);
    log.info(
      { durationMs: result.durationMs, recoveryMs: Math.round(performance.now() - started) },
      'recording recovered after a crash',
    );
  }
}
