/**
 * Cloud recording of calls: decides when a room is recorded, runs one recorder (its own child
 * process, see recorder/recording.ts) per recording and tells the business server every step
 * through recording callbacks. Sending those callbacks, keeping the recordings table and storing
 * the file are outcome.ts; recordings a crash left unfinished are crash-recovery.ts.
 *
 * When: a room of a call application with auto-recording on is recorded from its creation to its
 * destruction; operators start and stop recordings of live rooms through the REST API.
 *
 * Callback order of one recording (all with the same recordId, delivered in this order):
 *   10 initialised → 0 per stream recorded (500301 / 500302 / 50 / 100003 / 100007 as they
 *   happen) → 11 ended → 99 result.
 * A failure sends its code when it happens; then, if the recorder had been initialised, 11; and
 * always a final 99: status 3, or status 2 when a file was still saved (an upload failure, 100201,
 * keeps the local file: see RecordingOutcome.store).
 *
 * A recording belongs to its live call (live/live-call.ts): the call hands it each participant
 * who joins or leaves and finishes it when the call ends; auto-recording starts as each call
 * starts (the call application's settings are read from the database then).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CallbackDispatcher } from '../callbacks/dispatcher.js';
import { FFMPEG_HELP, type RecorderAvailability } from '../recorder/ffmpeg.js';
import {
  RecordingError,
  startRecording,
  type Recording,
  type RecordingMediaType,
  type RecordingResult,
  type RecordingWarning,
} from '../recorder/recording.js';
import { RecordingCodes } from '../recorder/protocol.js';
import type { CallRecording, LiveCall } from '../live/live-call.js';
import type { LiveCalls } from '../live/live-calls.js';
import type { Db, RecordingsTable } from '../store/schema.js';
import { CrashRecovery } from './crash-recovery.js';
import type { RecordingMetrics } from './metrics.js';
import type { ObjectStorage } from './object-storage.js';
import { RecordingOutcome } from './outcome.js';
import { RecordingEventCodes } from './payload.js';

export type RecordingTrigger = 'auto' | 'api';

export interface RecordingManagerOptions {
  db: Db;
  /** The live calls, whose recordings this runs. */
  calls: LiveCalls;
  dispatcher: CallbackDispatcher;
  /** Finished files go to `${recordingsDir}/${bizName}/${recordId}.mp4`. */
  recordingsDir: string;
  /** Resolves to a checked ffmpeg, or rejects saying why there is none. */
  ffmpeg(): Promise<string>;
  /** Whether an ffmpeg was found (readiness); unknown when not given. */
  ffmpegAvailability?(): RecorderAvailability;
  /** Object storage when recordings go to S3; null keeps them on local disk. */
  storage: ObjectStorage | null;
  keepLocalCopy: boolean;
  /** The download URL of a locally stored recording (recordResult.filePath, fileType 1). */
  localFileUrl(row: Pick<RecordingsTable, 'workspace_id' | 'app_id' | 'biz_name' | 'record_id'>): string;
  warnings: { disconnectAfterMs: number; lowFrameRate: { fps: number; forMs: number } };
  metrics?: RecordingMetrics;
  log: Logger;
  now(): number;
}

/** One recording run, held by its call while the call has it. */
interface Session extends CallRecording {
  call: LiveCall;
  trigger: RecordingTrigger;
  mediaType: RecordingMediaType;
  rec: Recording | null;
  started: Promise<void>;
  finishing: Promise<void> | null;
  /** The failure already reported (its code sent), if any. */
  failure: RecordingError | null;
  initialised: boolean;
}

interface AppRecordingSettings {
  autoRecord: boolean;
  mediaType: RecordingMediaType;
  maxMixedStreams: number;
}

/** Thrown to the REST API. */
export class RecordingRequestError extends Error {
  constructor(
    readonly code: 'ROOM_NOT_FOUND' | 'RECORDING_ACTIVE' | 'RECORDING_NOT_ACTIVE' | 'RECORDING_UNAVAILABLE',
    message: string,
  ) {
    super(message);
  }
}

const maxAutoRestarts = 3;

/** detail.reason of the 100001 sent when the server has no usable ffmpeg. */
const FFMPEG_UNAVAILABLE = 'ffmpeg-unavailable';

function newRecordId(): string {
  return `record_${randomBytes(10).toString('hex')}`;
}

function asMediaType(n: number): RecordingMediaType {
  return n === 1 || n === 2 ? n : 0;
}

export class RecordingManager {
  readonly #o: RecordingManagerOptions;
  /** Recordings started and not yet finished or failed to start. */
  readonly #running = new Set<Session>();
  /** Recordings being finished, and the recovery of those a crash left (one at a time). */
  readonly #finishing = new Set<Promise<void>>();
  readonly #outcome: RecordingOutcome;
  readonly #recovery: CrashRecovery;
  #closed = false;

  constructor(options: RecordingManagerOptions) {
    this.#o = options;
    this.#outcome = new RecordingOutcome(options);
    this.#recovery = new CrashRecovery({
      ...options,
      outcome: this.#outcome,
      ownRecordIds: () => [...this.#running].map((session) => session.recordId),
      closed: () => this.#closed,
      track: (work) => {
        const done = work.finally(() => this.#finishing.delete(done));
        this.#finishing.add(done);
      },
    });
    options.calls.onCallStarted((call) => void this.#autoStart(call));
  }

  /** Recordings running or being finished. */
  activeCount(): number {
    let n = this.#finishing.size;
    for (const session of this.#running) if (!session.finishing) n++;
    return n;
  }

  /** The recording in progress in a room, if any, with its recorder's process id (operations). */
  activeRecording(bizName: string, roomId: string): { recordId: string; pid: number | null } | null {
    const recording = this.#o.calls.find(bizName, roomId)?.recording;
    if (!recording) return null;
    return { recordId: recording.recordId, pid: recording.pid };
  }

  /** REST: starts recording a live room with the call application's settings. */
  async start(bizName: string, roomId: string): Promise<string> {
    const call = this.#o.calls.find(bizName, roomId);
    if (!call || this.#closed) {
      throw new RecordingRequestError('ROOM_NOT_FOUND', `No live room ${roomId} for this bizName.`);
    }
    if (call.recording) {
      throw new RecordingRequestError(
        'RECORDING_ACTIVE',
        `Room ${roomId} is already being recorded (${call.recording.recordId}).`,
      );
    }
    const settings = await this.#settings(bizName);
    if (call.recording || call.closed) {
      throw new RecordingRequestError('RECORDING_ACTIVE', `Room ${roomId} is already being recorded.`);
    }
    const session = this.#begin(call, 'api', settings);
    await session.started;
    if (session.failure?.detail['reason'] === FFMPEG_UNAVAILABLE) {
      // Reported by callback too (100001, 99 status 3); the caller learns why at once.
      throw new RecordingRequestError(
        'RECORDING_UNAVAILABLE',
        `Recording ${session.recordId} could not start: ${session.failure.message}`,
      );
    }
    return session.recordId;
  }

  /** Whether recordings can run (the recorder's ffmpeg), for readiness. */
  availability(): RecorderAvailability {
    return this.#o.ffmpegAvailability?.() ?? { available: null };
  }

  /** REST: stops the room's recording; resolves once it is stopping (the result comes by callback). */
  stop(bizName: string, roomId: string): string {
    const recording = this.#o.calls.find(bizName, roomId)?.recording;
    if (!recording) {
      throw new RecordingRequestError('RECORDING_NOT_ACTIVE', `Room ${roomId} is not being recorded.`);
    }
    recording.finish();
    return recording.recordId;
  }

  /** Waits for recordings being finished (composed, stored, reported). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#recovery.abort();
    for (const session of [...this.#running]) this.#finish(session);
    while (this.#finishing.size > 0) await Promise.allSettled([...this.#finishing]);
  }

  /** Recordings a previous process left unfinished: see crash-recovery.ts. */
  recoverUnfinished(): Promise<{ failed: number; recovering: number }> {
    return this.#recovery.recoverUnfinished();
  }

  async #settings(bizName: string): Promise<AppRecordingSettings | null> {
    const row = await this.#o.db
      .selectFrom('call_apps')
      .select(['auto_record', 'record_media_type', 'record_max_mixed_streams'])
      .where('biz_name', '=', bizName)
      .executeTakeFirst();
    if (!row) return null;
    return {
      autoRecord: row.auto_record === 1,
      mediaType: asMediaType(row.record_media_type),
      maxMixedStreams: row.record_max_mixed_streams,
    };
  }

  async #autoStart(call: LiveCall): Promise<void> {
    try {
      const settings = await this.#settings(call.scope.bizName);
      if (!settings?.autoRecord || call.recording || call.closed || this.#closed) return;
      this.#begin(call, 'auto', settings);
    } catch (err) {
      this.#o.log.error({ err, roomId: call.roomId }, 'recording: could not read the call application');
    }
  }

  #begin(call: LiveCall, trigger: RecordingTrigger, settings: AppRecordingSettings | null): Session {
    const session: Session = {
      recordId: newRecordId(),
      call,
      trigger,
      mediaType: settings?.mediaType ?? 0,
      rec: null,
      started: Promise.resolve(),
      finishing: null,
      failure: null,
      initialised: false,
      get pid() {
        return session.rec?.pid ?? null;
      },
      addParticipant: (participantId, uid) => session.rec?.addParticipant(participantId, uid),
      removeParticipant: (participantId) => session.rec?.removeParticipant(participantId),
      finish: () => this.#finish(session),
    };
    call.recording = session;
    this.#running.add(session);
    session.started = this.#run(session, settings?.maxMixedStreams ?? 9);
    return session;
  }

  #scope(session: Session) {
    return { ...session.call.scope, roomId: session.call.roomId, recordId: session.recordId };
  }

  /** Starts the recorder; a failure to start is reported (code, then 99 status 3). */
  async #run(session: Session, maxMixedStreams: number): Promise<void> {
    const room = session.call;
    const o = this.#o;
    const outputDir = path.join(o.recordingsDir, room.scope.bizName);
    await o.db
      .insertInto('recordings')
      .values({
        record_id: session.recordId,
        workspace_id: room.scope.workspaceId,
        app_id: room.scope.appId,
        biz_name: room.scope.bizName,
        room_id: room.roomId,
        trigger: session.trigger,
        status: 'recording',
        media_type: session.mediaType,
        started_at: o.now(),
        record_start_time: null,
        ended_at: null,
        duration_ms: null,
        size_bytes: null,
        storage: null,
        file_type: null,
        file_path: null,
        local_path: null,
        object_key: null,
        failure_code: null,
        failure_message: null,
        updated_at: o.now(),
      })
      .execute();
    let rec: Recording;
    try {
      const ffmpegPath = await o.ffmpeg().catch((err: unknown) => {
        throw new RecordingError(
          RecordingCodes.connectFailed,
          `recording is unavailable on this server: ${err instanceof Error ? err.message : String(err)}`,
          { reason: FFMPEG_UNAVAILABLE, fix: FFMPEG_HELP },
        );
      });
      await mkdir(outputDir, { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        throw new RecordingError(
          RecordingCodes.fileCreationFailed,
          `cannot create ${outputDir}: ${err.code ?? String(err)}`,
        );
      });
      rec = await startRecording({
        recordId: session.recordId,
        outputDir,
        mediaType: session.mediaType,
        maxMixedStreams,
        ffmpegPath,
        keepJournal: true, // removed once stored: a crash before that costs nothing
        router: room.router(),
        warnings: o.warnings,
        log: o.log.child({ component: 'recorder', recordId: session.recordId }),
      });
    } catch (err) {
      const failure =
        err instanceof RecordingError
          ? err
          : new RecordingError(RecordingCodes.connectFailed, `the recorder did not start: ${String(err)}`);
      session.failure = failure;
      this.#reportFailure(session, failure);
      o.metrics?.finished.inc({ result: 'failed' });
      this.#outcome.send(this.#scope(session), RecordingEventCodes.result, {}, { status: 3 });
      await this.#outcome.update(session.recordId, {
        status: 'failed',
        failure_code: failure.code,
        failure_message: failure.message,
        ended_at: o.now(),
      });
      this.#release(session);
      o.log.warn(
        { recordId: session.recordId, code: failure.code, err: failure.message },
        'recording: not started',
      );
      return;
    }
    session.rec = rec;
    session.initialised = true;
    this.#outcome.send(this.#scope(session), RecordingEventCodes.initialised);
    o.metrics?.started.inc({ trigger: session.trigger });
    o.log.info(
      {
        recordId: session.recordId,
        roomId: room.roomId,
        bizName: room.scope.bizName,
        trigger: session.trigger,
      },
      'recording started',
    );
    rec.on('streamRecorded', (s) =>
      this.#outcome.send(this.#scope(session), RecordingEventCodes.streamRecorded, {
        uid: s.uid,
        kind: s.kind,
      }),
    );
    rec.on('warning', (w) => this.#reportWarning(session, w));
    rec.on('failed', (err) => {
      session.failure ??= err;
      this.#reportFailure(session, err);
      // A failure while the call goes on (the recorder crashed): this recording is over.
      if (!session.finishing) this.#finish(session);
    });
    for (const [participantId, uid] of room.participants()) rec.addParticipant(participantId, uid);
    if (room.closed || this.#closed) this.#finish(session);
  }

  #reportWarning(session: Session, w: RecordingWarning): void {
    // Contract codes the recorder reports as warnings because the recording goes on.
    const contractCode = w.detail['contractCode'];
    const code = typeof contractCode === 'number' ? contractCode : w.code;
    this.#o.metrics?.failures.inc({ code: String(code) });
    this.#outcome.send(this.#scope(session), code, {
      ...(w.uid !== undefined ? { uid: w.uid } : {}),
      ...(w.kind !== undefined ? { kind: w.kind } : {}),
      detail: w.detail,
    });
  }

  #reportFailure(session: Session, err: RecordingError): void {
    this.#o.metrics?.failures.inc({ code: String(err.code) });
    this.#outcome.send(this.#scope(session), err.code, { message: err.message, detail: err.detail });
  }

  /** Stops (if running), then stores the file and reports 11 and 99. Idempotent per session. */
  #finish(session: Session): void {
    if (session.finishing) return;
    const done = (async () => {
      await session.started;
      if (!session.rec) return; // never started: already reported
      const finishStart = performance.now();
      await this.#outcome.update(session.recordId, { status: 'finishing', ended_at: this.#o.now() });
      let result: RecordingResult | null = null;
      try {
        result = await session.rec.stop();
      } catch (err) {
        if (!session.failure) {
          const failure =
            err instanceof RecordingError
              ? err
              : new RecordingError(RecordingCodes.processCrashed, `the recorder failed: ${String(err)}`);
          session.failure = failure;
          this.#reportFailure(session, failure);
        }
      }
      this.#outcome.send(this.#scope(session), RecordingEventCodes.ended);
      if (!result) {
        this.#o.metrics?.finished.inc({ result: 'failed' });
        this.#outcome.send(this.#scope(session), RecordingEventCodes.result, {}, { status: 3 });
        await this.#outcome.update(session.recordId, {
          status: 'failed',
          failure_code: session.failure?.code ?? RecordingCodes.processCrashed,
          failure_message: session.failure?.message ?? 'the recorder failed',
        });
      } else {
        await this.#outcome.store(this.#scope(session), result);
        await this.#outcome.removeParts(session.call.scope.bizName, session.recordId);
        this.#o.metrics?.finalize.observe((performance.now() - finishStart) / 1000);
      }
      this.#restartIfCrashed(session);
    })()
      .catch((err: unknown) =>
        this.#o.log.error({ err, recordId: session.recordId }, 'recording: finish failed'),
      )
      .finally(() => {
        this.#finishing.delete(done);
        this.#release(session);
      });
    session.finishing = done;
    this.#finishing.add(done);
  }

  /** The session is over: its call no longer holds it. */
  #release(session: Session): void {
    this.#running.delete(session);
    if (session.call.recording === session) session.call.recording = null;
  }

  /** An auto-recording whose recorder died while the call goes on starts again (new recordId). */
  #restartIfCrashed(session: Session): void {
    const call = session.call;
    if (
      session.trigger !== 'auto' ||
      session.failure?.code !== RecordingCodes.processCrashed ||
      call.closed ||
      this.#closed ||
      call.recordingRestarts >= maxAutoRestarts
    )
      return;
    call.recordingRestarts += 1;
    this.#release(session);
    void this.#autoStart(call);
  }
}
