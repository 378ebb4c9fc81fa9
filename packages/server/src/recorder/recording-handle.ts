/**
 * One recording seen from the parent (startRecording() in recording.ts makes it): taps the
 * recorded participants' tracks on the room's MediaRouter to the ports its child process opens,
 * and turns the child's messages into the events recording.ts lists.
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { TypedEventEmitter } from '../sfu/events.js';
import type { MediaRouter } from '../sfu/router.js';
import type { PublishedTrack, SfuLogger, TapEndedEvent } from '../sfu/types.js';
import type { MediaKind } from '../rtp/types.js';
import {
  RecordingCodes,
  type ChildToParent,
  type ParentToChild,
  type RecordingMediaType,
} from './protocol.js';
import {
  partsDir,
  RecordingError,
  silentLog,
  type RecordedStreamInfo,
  type RecordingEvents,
  type RecordingResult,
  type RecordingState,
  type RecordingWarning,
  type StartRecordingOptions,
} from './recording-api.js';

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
