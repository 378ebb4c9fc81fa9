/**
 * Recording one room: the parent-side API. Each recording runs in its own child process
 * (process.ts, started with child_process.fork); this side only taps the participants' tracks on
 * the room's MediaRouter (plain RTP over UDP on 127.0.0.1 to the ports the child opens) and turns
 * the child's messages into typed events. A crash of the child touches neither the router nor
 * any other recording: its taps are removed, its ffmpeg processes are killed (the child leads its
 * own process group) and 'failed' (100105) is emitted.
 *
 *   const rec = await startRecording({ recordId, outputDir, mediaType, ffmpegPath, router })
 *       rejects with RecordingError 100101 (output directory not writable), 100001 (the child
 *       did not start or answer).
 *   rec.addParticipant(participantId, uid)   records its live tracks (of the kinds mediaType
 *       wants) and those it publishes later; removeParticipant(participantId) stops them.
 *   await rec.stop() → RecordingResult { file, recordStartTime, durationMs, mediaType, streams, ... }
 *       idempotent; rejects with the RecordingError already emitted as 'failed'.
 *   rec.abort()   kills the child, removes the taps, no file, no event.
 *   recoverRecording({ recordId, outputDir, ffmpegPath }).result → the file of a recording whose
 *       server died with it, made from its journal and captures (process.ts); see below.
 * Call stop() when the room ends, before or after router.close() (a closed router's taps end
 * silently; the recording notices within 0.5 s and ends its streams).
 * Defaults: 1280x720 at 15 fps, libx264 'superfast' CRF 23, AAC 128 kb/s, maxMixedStreams 9,
 * 500301 after 5 s without packets, 500302 under 5 fps for 5 s, composeWindowMs 8000.
 *
 * The call is composed while it is recorded, in windows (process.ts says how), so that stop()
 * does not wait for the whole call to be encoded: the file is ready ~1-2 s after stop() whatever
 * the call's length (the last window and a copy of the rest into the MP4), at the price of the
 * encoding's CPU during the call (niced) instead of after it. composeWindowMs: 0 composes all at
 * stop (finalization then grows with the call). RecordingResult.composedBeforeStopMs tells how
 * much was already done when stop() came. A window that fails during the call is not an error
 * (it is composed again at stop); failures at stop are reported as before.
 *
 * Events (all listeners run synchronously; a throwing listener is logged, not fatal):
 *   streamStarted(info)        first media packet of a stream reached the recorder
 *   streamRecorded(info)       a stream has been captured (its track ended, its participant was
 *                              removed, or the recording stopped) with media in it → callback 0
 *   warning(w)                 500301 stream disconnected, 500302 low frame rate, 50 other
 *                              (w.detail.reason: 'capture-restarted', 'max-mixed-streams-exceeded'
 *                              [contract code 100007], 'tap-failed', ...)
 *   progress(p)                stopping / composing, percent
 *   failed(err)                RecordingError { code, message, detail }: the recording is over
 *   crashed(info)              the child process died unexpectedly (followed by failed 100105)
 *
 * Failure codes and what triggers them:
 *   100001 the child process cannot be started, or does not answer its init within 15 s, or
 *          the configured ffmpeg cannot be run at all
 *   100003 a tap on a participant's track fails (reported as warning 50 with
 *          detail.contractCode 100003; the rest of the recording goes on)
 *   100004 at stop, no stream ever delivered media (of the kinds asked)
 *   100101 the output directory (or a capture file in it) cannot be created/written
 *   100102 ffmpeg fails while composing (at stop) or joining the final file, or the finalization
 *          exceeds composeTimeoutMs
 *   100103 the final file is empty or cannot be moved into place
 *   100105 the child process died (killed, crashed) before it delivered the result
 *   100106 a write failed because the disk is full (ENOSPC, EDQUOT, EIO, EFBIG)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypedEventEmitter } from '../sfu/events.js';
import type { MediaRouter } from '../sfu/router.js';
import type { PublishedTrack, SfuLogger, TapEndedEvent } from '../sfu/types.js';
import type { MediaKind } from '../rtp/types.js';
import {
  RecordingCodes,
  type ChildInit,
  type ChildRecover,
  type ChildToParent,
  type LayoutOptions,
  type ParentToChild,
  type RecordingFailureCode,
  type RecordingMediaType,
  type RecordingSummary,
  type RecordingWarningCode,
  type StreamSummary,
  type WarningOptions,
} from './protocol.js';

export { RecordingCodes };
export type { RecordingMediaType, LayoutOptions, WarningOptions, StreamSummary };

export class RecordingError extends Error {
  override readonly name = 'RecordingError';
  constructor(
    readonly code: RecordingFailureCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface StartRecordingOptions {
  /** Also the file name: letters, digits, '.', '_' and '-' only. */
  recordId: string;
  /** The final file is `${outputDir}/${recordId}.mp4`; captures go to `${recordId}.parts/` there. */
  outputDir: string;
  mediaType: RecordingMediaType;
  /** Most video tiles shown at once (earliest joiners first). Default 9. */
  maxMixedStreams?: number;
  /** A checked ffmpeg (see locateFfmpeg()). */
  ffmpegPath: string;
  router: MediaRouter;
  layout?: Partial<LayoutOptions>;
  warnings?: Partial<Omit<WarningOptions, 'lowFrameRate'>> & {
    lowFrameRate?: Partial<WarningOptions['lowFrameRate']>;
  };
  /** Keep the per-stream captures after a successful compose (debugging). Default false. */
  keepParts?: boolean;
  /**
   * Leave `${recordId}.parts/` (by then only its journal, which names the final file) for the
   * caller to remove once it has stored the file, so that a crash before that costs nothing
   * (recoverRecording finds the file). Default false: removed before stop() resolves.
   */
  keepJournal?: boolean;
  /** Longest the finalization may take (beyond it: 100102). Default 120 s + 3 x the recording's duration. */
  composeTimeoutMs?: number;
  /**
   * The call is composed during the recording, one window of this length at a time (ms, whole
   * seconds, at least 2000), so that stop() only has the last one left. 0: everything at stop
   * (finalization then grows with the call's length). Default 8000.
   */
  composeWindowMs?: number;
  log?: SfuLogger;
}

export interface RecordedStreamInfo {
  streamId: string;
  participantId: string;
  uid: string;
  kind: MediaKind;
  trackId: string;
}

export interface RecordingWarning {
  code: RecordingWarningCode;
  uid?: string;
  kind?: MediaKind;
  detail: Record<string, unknown>;
}

export interface RecordingResult extends RecordingSummary {
  recordId: string;
}

export interface RecordingEvents {
  streamStarted: [RecordedStreamInfo & { at: number }];
  streamRecorded: [RecordedStreamInfo];
  warning: [RecordingWarning];
  progress: [{ phase: 'stopping' | 'composing'; percent: number }];
  failed: [RecordingError];
  crashed: [{ exitCode: number | null; signal: string | null }];
}

export type RecordingState = 'recording' | 'stopping' | 'done' | 'failed';

const DEFAULT_LAYOUT: LayoutOptions = {
  width: 1280,
  height: 720,
  fps: 15,
  preset: 'superfast',
  crf: 23,
  audioBitrate: 128_000,
  background: 'black',
};

const silentLog: SfuLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Where a recording's captures and journal are. */
export const partsDir = (outputDir: string, recordId: string) =>
  path.join(path.resolve(outputDir), `${recordId}.parts`);

/** The child's entry: process.js next to this file (process.ts when running from source under tsx). */
function childEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const file = path.join(path.dirname(here), ts ? 'process.ts' : 'process.js');
  return { file, execArgv: ts ? ['--import', 'tsx'] : [] };
}

interface StreamEntry extends RecordedStreamInfo {
  tapId: string | null;
  ended: boolean;
}

export class Recording extends TypedEventEmitter<RecordingEvents> {
  readonly recordId: string;
  readonly mediaType: RecordingMediaType;
  #state: RecordingState = 'recording';
  readonly #child: ChildProcess;
  readonly #router: MediaRouter;
  readonly #log: SfuLogger;
  readonly #maxMixed: number;
  readonly #outputDir: string;
  readonly #keepJournal: boolean;
  /** participantId → uid, for participants being recorded. */
  readonly #participants = new Map<string, string>();
  readonly #streams = new Map<string, StreamEntry>();
  readonly #byTrack = new Map<string, string>();
  #streamSeq = 0;
  #stopPromise: Promise<RecordingResult> | null = null;
  #settle: { resolve: (r: RecordingResult) => void; reject: (e: RecordingError) => void } | null = null;
  #error: RecordingError | null = null;
  #warnedMaxMixed = false;
  readonly #onTrackPublished: (t: PublishedTrack) => void;
  readonly #onTapEnded: (e: TapEndedEvent) => void;
  readonly #routerWatch: NodeJS.Timeout;
  /** Exit of the child, whatever the reason. */
  readonly exited: Promise<void>;

  /** @internal use startRecording() */
  constructor(opts: StartRecordingOptions, child: ChildProcess, maxMixed: number) {
    super();
    this.recordId = opts.recordId;
    this.mediaType = opts.mediaType;
    this.#child = child;
    this.#router = opts.router;
    this.#log = opts.log ?? silentLog;
    this.#maxMixed = maxMixed;
    this.#outputDir = path.resolve(opts.outputDir);
    this.#keepJournal = (opts.keepJournal ?? false) || (opts.keepParts ?? false);
    this.#onTrackPublished = (t) => {
      if (this.#participants.has(t.participantId)) this.#record(t);
    };
    this.#onTapEnded = (e) => {
      const streamId = this.#byTrack.get(e.trackId);
      if (streamId) this.#endStream(streamId);
    };
    this.#router.on('trackPublished', this.#onTrackPublished);
    this.#router.on('tapEnded', this.#onTapEnded);
    // A closed router ends its taps silently: end the streams too (no false 500301 warnings).
    this.#routerWatch = setInterval(() => {
      if (!this.#router.closed || this.#state !== 'recording') return;
      for (const s of this.#streams.values()) this.#endStream(s.streamId);
    }, 500);
    this.#routerWatch.unref();
    child.on('message', (m) => this.#onMessage(m as ChildToParent));
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.#onExit(code, signal);
        resolve();
      });
    });
  }

  get state(): RecordingState {
    return this.#state;
  }

  /** The child's process id (it leads its own process group). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  protected override listenerError(event: string, err: unknown): void {
    this.#log.error({ recordId: this.recordId, event, err }, 'recorder: event listener threw');
  }

  #send(msg: ParentToChild): void {
    if (!this.#child.connected) return;
    try {
      this.#child.send(msg);
    } catch {
      // the child is going away; its exit is handled
    }
  }

  #wantsKind(kind: MediaKind): boolean {
    return this.mediaType === 0 || (this.mediaType === 1 ? kind === 'audio' : kind === 'video');
  }

  /** Records the participant's live tracks and the ones it publishes later. Idempotent. */
  addParticipant(participantId: string, uid: string): void {
    if (this.#state !== 'recording' || this.#participants.has(participantId)) return;
    this.#participants.set(participantId, uid);
    for (const t of this.#router.closed ? [] : this.#router.tracks(participantId)) this.#record(t);
  }

  /** Stops recording the participant (its streams end: streamRecorded for those with media). */
  removeParticipant(participantId: string): void {
    if (!this.#participants.delete(participantId)) return;
    for (const s of this.#streams.values())
      if (s.participantId === participantId) this.#endStream(s.streamId);
  }

  #record(track: PublishedTrack): void {
    if (this.#state !== 'recording' || !this.#wantsKind(track.kind) || this.#byTrack.has(track.id)) return;
    const uid = this.#participants.get(track.participantId)!;
    const desc = this.#router.describeTrack(track.id);
    if (!desc || desc.ended) return;
    const streamId = `s${++this.#streamSeq}`;
    const entry: StreamEntry = {
      streamId,
      participantId: track.participantId,
      uid,
      kind: track.kind,
      trackId: track.id,
      tapId: null,
      ended: false,
    };
    this.#streams.set(streamId, entry);
    this.#byTrack.set(track.id, streamId);
    if (track.kind === 'video') {
      const live = [...this.#streams.values()].filter((s) => s.kind === 'video' && !s.ended).length;
      if (live > this.#maxMixed && !this.#warnedMaxMixed) {
        this.#warnedMaxMixed = true;
        this.emit('warning', {
          code: RecordingCodes.otherWarning,
          uid,
          kind: 'video',
          detail: {
            reason: 'max-mixed-streams-exceeded',
            contractCode: 100007,
            maxMixedStreams: this.#maxMixed,
            live,
          },
        });
      }
    }
    this.#send({
      type: 'addStream',
      streamId,
      uid,
      participantId: track.participantId,
      kind: track.kind,
      ssrc: desc.ssrc,
      codecs: desc.codecs,
    });
  }

  #endStream(streamId: string): void {
    const s = this.#streams.get(streamId);
    if (!s || s.ended) return;
    s.ended = true;
    if (s.tapId) this.#router.removeTap(s.tapId); // also fine on a closed router
    s.tapId = null;
    if (this.#state === 'recording') this.#send({ type: 'removeStream', streamId });
  }

  #info(s: StreamEntry): RecordedStreamInfo {
    return {
      streamId: s.streamId,
      participantId: s.participantId,
      uid: s.uid,
      kind: s.kind,
      trackId: s.trackId,
    };
  }

  #onMessage(msg: ChildToParent): void {
    switch (msg.type) {
      case 'streamReady': {
        const s = this.#streams.get(msg.streamId);
        if (!s || s.ended || this.#state !== 'recording' || this.#router.closed) return;
        try {
          s.tapId = this.#router.addTap(
            s.participantId,
            s.kind,
            { address: '127.0.0.1', port: msg.port },
            { trackId: s.trackId },
          );
        } catch (err) {
          s.ended = true;
          this.#send({ type: 'removeStream', streamId: s.streamId });
          this.emit('warning', {
            code: RecordingCodes.otherWarning,
            uid: s.uid,
            kind: s.kind,
            detail: {
              reason: 'tap-failed',
              contractCode: RecordingCodes.subscribeFailed,
              error: String(err),
            },
          });
        }
        return;
      }
      case 'streamStarted': {
        const s = this.#streams.get(msg.streamId);
        if (s) this.emit('streamStarted', { ...this.#info(s), at: msg.at });
        return;
      }
      case 'streamEnded': {
        const s = this.#streams.get(msg.streamId);
        if (s && msg.ok) this.emit('streamRecorded', this.#info(s));
        return;
      }
      case 'keyFrameRequest': {
        const s = this.#streams.get(msg.streamId);
        if (s?.tapId && !this.#router.closed) this.#router.requestTapKeyFrame(s.tapId);
        return;
      }
      case 'warning': {
        const s = msg.streamId ? this.#streams.get(msg.streamId) : undefined;
        const w: RecordingWarning = { code: msg.code, detail: msg.detail };
        if (s) {
          w.uid = s.uid;
          w.kind = s.kind;
        }
        this.emit('warning', w);
        return;
      }
      case 'progress':
        this.emit('progress', { phase: msg.phase, percent: msg.percent });
        return;
      case 'failed':
        this.#fail(new RecordingError(msg.code, msg.message, msg.detail ?? {}));
        return;
      case 'done': {
        if (this.#state === 'failed') return;
        this.#state = 'done';
        this.#detach();
        const result: RecordingResult = { recordId: this.recordId, ...msg.summary };
        if (this.#keepJournal) this.#settle?.resolve(result);
        else {
          void rm(partsDir(this.#outputDir, this.recordId), { recursive: true, force: true })
            .catch(() => undefined)
            .then(() => this.#settle?.resolve(result));
        }
        return;
      }
      case 'ready':
        return;
    }
  }

  #fail(err: RecordingError): void {
    if (this.#state === 'done' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#error = err;
    this.#detach();
    this.#log.warn(
      { recordId: this.recordId, code: err.code, err: err.message },
      'recorder: recording failed',
    );
    this.emit('failed', err);
    this.#settle?.reject(err);
  }

  /** Removes taps and router listeners (idempotent). */
  #detach(): void {
    clearInterval(this.#routerWatch);
    this.#router.off('trackPublished', this.#onTrackPublished);
    this.#router.off('tapEnded', this.#onTapEnded);
    for (const s of this.#streams.values()) {
      if (s.tapId) this.#router.removeTap(s.tapId);
      s.tapId = null;
    }
  }

  #killGroup(): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      // The child leads its own process group: its ffmpeg processes go with it.
      if (process.platform !== 'win32') process.kill(-pid, 'SIGKILL');
      else this.#child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  #onExit(code: number | null, signal: string | null): void {
    clearInterval(this.#routerWatch);
    if (this.#state === 'done') return; // it finished its work and ended its ffmpeg processes
    // Failed, aborted or died: nothing of it may stay behind.
    this.#killGroup();
    if (this.#state === 'failed') return;
    this.#log.error({ recordId: this.recordId, code, signal }, 'recorder: child process died');
    this.emit('crashed', { exitCode: code, signal });
    this.#fail(
      new RecordingError(
        RecordingCodes.processCrashed,
        `the recorder process died (${signal ?? `exit code ${code}`})`,
        {
          exitCode: code,
          signal,
        },
      ),
    );
  }

  /** Ends the recording and composes the final file (idempotent). */
  stop(): Promise<RecordingResult> {
    if (this.#stopPromise) return this.#stopPromise;
    this.#stopPromise = new Promise<RecordingResult>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // The caller may not attach a handler before a failure is emitted: do not crash on it.
    this.#stopPromise.catch(() => undefined);
    if (this.#error) {
      this.#settle?.reject(this.#error);
    } else if (this.#state === 'recording') {
      this.#state = 'stopping';
      // Stop the taps before the captures: the last packets are in flight for a few ms at most.
      for (const s of this.#streams.values()) {
        s.ended = true;
        if (s.tapId) this.#router.removeTap(s.tapId);
        s.tapId = null;
      }
      this.#send({ type: 'stop' });
    }
    return this.#stopPromise;
  }

  /** Kills the recording at once: no file, no event (e.g. server shutdown). Idempotent. */
  abort(): void {
    if (this.#state === 'done' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#error = new RecordingError(RecordingCodes.processCrashed, 'recording aborted');
    this.#detach();
    this.#killGroup();
    this.#settle?.reject(this.#error);
  }

  /** Current streams (tapped or ended), for diagnostics. */
  streams(): (RecordedStreamInfo & { tapId: string | null; ended: boolean })[] {
    return [...this.#streams.values()].map((s) => ({ ...s }));
  }
}

/**
 * Starts a recording: forks its child process and waits for it to check the output directory.
 * See the header for the API, the events and the failure codes.
 */
export async function startRecording(opts: StartRecordingOptions): Promise<Recording> {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(opts.recordId) || opts.recordId.startsWith('.')) {
    throw new RecordingError(
      RecordingCodes.fileCreationFailed,
      `recordId not usable as a file name: ${opts.recordId}`,
    );
  }
  if (![0, 1, 2].includes(opts.mediaType)) {
    throw new RecordingError(
      RecordingCodes.connectFailed,
      `mediaType must be 0, 1 or 2 (got ${opts.mediaType})`,
    );
  }
  const maxMixed = opts.maxMixedStreams ?? 9;
  if (!Number.isInteger(maxMixed) || maxMixed < 1) {
    throw new RecordingError(RecordingCodes.connectFailed, 'maxMixedStreams must be an integer >= 1');
  }
  const windowMs = opts.composeWindowMs ?? 8000;
  if (!(windowMs === 0 || (Number.isInteger(windowMs / 1000) && windowMs >= 2000))) {
    throw new RecordingError(
      RecordingCodes.connectFailed,
      'composeWindowMs must be 0 or whole seconds of at least 2000 ms',
    );
  }
  const layout: LayoutOptions = { ...DEFAULT_LAYOUT, ...opts.layout };
  const warnings: WarningOptions = {
    disconnectAfterMs: opts.warnings?.disconnectAfterMs ?? 5000,
    lowFrameRate: { fps: 5, forMs: 5000, ...opts.warnings?.lowFrameRate },
  };
  const entry = childEntry();
  if (!existsSync(entry.file)) {
    throw new RecordingError(RecordingCodes.connectFailed, `recorder entry ${entry.file} is missing`);
  }
  let child: ChildProcess;
  try {
    child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      // Its own process group, so that its ffmpeg processes can be killed with it.
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
  } catch (err) {
    throw new RecordingError(
      RecordingCodes.connectFailed,
      `cannot start the recorder process: ${String(err)}`,
    );
  }
  const rec = new Recording(opts, child, maxMixed);
  const init: ChildInit = {
    type: 'init',
    recordId: opts.recordId,
    outputDir: path.resolve(opts.outputDir),
    mediaType: opts.mediaType,
    maxMixedStreams: maxMixed,
    ffmpegPath: opts.ffmpegPath,
    layout,
    warnings,
    keepParts: opts.keepParts ?? false,
    composeTimeoutMs: opts.composeTimeoutMs ?? 0,
    composeWindowMs: windowMs,
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      rec.abort();
      reject(
        new RecordingError(RecordingCodes.connectFailed, 'the recorder process did not answer within 15 s'),
      );
    }, 15_000);
    const onMessage = (m: unknown) => {
      const msg = m as ChildToParent;
      if (msg.type === 'ready') {
        cleanup();
        resolve();
      } else if (msg.type === 'failed') {
        cleanup();
        rec.abort();
        reject(new RecordingError(msg.code, msg.message, msg.detail ?? {}));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(
        new RecordingError(
          RecordingCodes.connectFailed,
          `the recorder process exited at start (${signal ?? code})`,
        ),
      );
    };
    const onError = (err: Error) => {
      cleanup();
      rec.abort();
      reject(
        new RecordingError(RecordingCodes.connectFailed, `cannot start the recorder process: ${err.message}`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
    child.send(init);
  });
  return rec;
}

export interface RecoverRecordingOptions {
  recordId: string;
  /** Where the recording was being written (its `${recordId}.parts/` is there). */
  outputDir: string;
  ffmpegPath: string;
  log?: SfuLogger;
}

export interface RecoveredRecording extends RecordingResult {
  /** Streams still being recorded when the server died (their 0 callback was never sent). */
  streamsEnded: RecordedStreamInfo[];
}

export interface RecoveryRun {
  /** Resolves with the file made from what was captured; rejects with a RecordingError. */
  result: Promise<RecoveredRecording>;
  /** Kills the recovery (server shutdown): its captures stay for the next start. */
  abort(): void;
}

/**
 * Finishes a recording whose server died with it (kill -9, power loss): a recorder child process
 * reads its journal and captures (journal.ts) and makes the final file as a stop would, from what
 * reached the disk. Rejects with 100004 when there is nothing usable.
 */
export function recoverRecording(opts: RecoverRecordingOptions): RecoveryRun {
  const log = opts.log ?? silentLog;
  const entry = childEntry();
  let child: ChildProcess | null = null;
  const result = new Promise<RecoveredRecording>((resolve, reject) => {
    if (!existsSync(entry.file)) {
      reject(new RecordingError(RecordingCodes.connectFailed, `recorder entry ${entry.file} is missing`));
      return;
    }
    const proc = fork(entry.file, [], {
      execArgv: entry.execArgv,
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child = proc;
    const ended: string[] = [];
    let settled = false;
    proc.on('message', (m) => {
      const msg = m as ChildToParent;
      if (msg.type === 'streamEnded' && msg.ok) ended.push(msg.streamId);
      else if (msg.type === 'failed' && !settled) {
        settled = true;
        reject(new RecordingError(msg.code, msg.message, msg.detail ?? {}));
      } else if (msg.type === 'done' && !settled) {
        settled = true;
        const summary = msg.summary;
        const streamsEnded = summary.streams
          .filter((s) => ended.includes(s.streamId))
          .map((s) => ({
            streamId: s.streamId,
            participantId: s.participantId,
            uid: s.uid,
            kind: s.kind,
            trackId: '',
          }));
        resolve({ recordId: opts.recordId, ...summary, streamsEnded });
      }
    });
    proc.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(
        new RecordingError(RecordingCodes.connectFailed, `cannot start the recorder process: ${err.message}`),
      );
    });
    proc.on('exit', (code, signal) => {
      if (proc.pid !== undefined && process.platform !== 'win32') {
        try {
          process.kill(-proc.pid, 'SIGKILL'); // its ffmpeg processes, if any are left
        } catch {
          // none
        }
      }
      if (settled) return;
      settled = true;
      log.error({ recordId: opts.recordId, code, signal }, 'recorder: recovery process died');
      reject(
        new RecordingError(
          RecordingCodes.processCrashed,
          `the recovery process died (${signal ?? `exit code ${code}`})`,
          { exitCode: code, signal },
        ),
      );
    });
    proc.send({
      type: 'recover',
      recordId: opts.recordId,
      outputDir: path.resolve(opts.outputDir),
      ffmpegPath: opts.ffmpegPath,
    } satisfies ChildRecover);
  });
  result.catch(() => undefined);
  return {
    result,
    abort() {
      const pid = (child as ChildProcess | null)?.pid;
      if (pid === undefined) return;
      try {
        if (process.platform !== 'win32') process.kill(-pid, 'SIGKILL');
        else (child as ChildProcess | null)?.kill('SIGKILL');
      } catch {
        // gone
      }
    },
  };
}
