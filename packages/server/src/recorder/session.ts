/**
 * One recording as the recorder child knows it: everything that changes while it runs, in one
 * object that the entry (process.ts) creates once and hands to the parts that need it. Also what
 * ends it on a failure, and the journal (journal.ts): what a recovery after a crash needs.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AudioEncoder } from './audio-encoder.js';
import type { Fatal } from './failures.js';
import { syncFile, writeJournal, type RecordingJournal } from './journal.js';
import type { VideoPiece } from './layout.js';
import { exitSoon, send } from './parent-link.js';
import type { ChildInit } from './protocol.js';
import { chunkFile } from './segment.js';
import type { StreamRecorder } from './stream.js';

/** How often the captures being written are synced to disk: what a power loss may cost at most. */
export const SYNC_INTERVAL_MS = 2000;

/** How far the call is composed (windows.ts). */
export interface ComposeProgress {
  /** The call is composed up to here (ms of the timeline): video pieces and audio fed. */
  composedMs: number;
  pieces: VideoPiece[];
  windows: number;
  /** The background window under way. */
  busy: Promise<void> | null;
  failures: number;
  /** Composing during the call gave up: the rest is composed at stop. */
  disabled: boolean;
  lastError: string;
}

export class RecorderSession {
  /** From 'init', or from the journal on 'recover'. */
  config: ChildInit | null = null;
  /** `${recordId}.parts` in the output directory: captures, pieces, journal. */
  workDir = '';
  readonly streams = new Map<string, StreamRecorder>();
  stopping = false;
  finished = false;
  /** Every process this one started that may still run: none may outlive a failure. */
  readonly children = new Set<ChildProcess>();
  /** The recording's start (monotonic ms), fixed by the first window composed (else at stop). */
  timelineT0: number | null = null;
  /** The first packet captured: the start's guess for the chunk grid until timelineT0 is known. */
  firstMediaMono: number | null = null;
  /** `nice` to start the background windows with, if there is one. */
  niceBin: string | null = null;

  readonly progress: ComposeProgress = {
    composedMs: 0,
    pieces: [],
    windows: 0,
    busy: null,
    failures: 0,
    disabled: false,
    lastError: '',
  };
  /** The AAC of the whole call (audio-encoder.ts). */
  audioEncoder: AudioEncoder | null = null;
  /** The ffmpeg processes of the background window under way. */
  readonly backgroundProcs = new Set<ChildProcess>();
  /** Numbers the files of each window; journaled, so a recovery does not write over them. */
  windowSeq = 0;
  /** The last window's and the join's ffmpeg arguments, written to compose.txt for diagnosis. */
  lastWindowArgs: string[] = [];
  lastMuxArgs: string[] = [];

  #journalWrite: Promise<void> = Promise.resolve();
  #journalQueued = false;
  /** No more journal writes: the recording is complete, or being recovered from the journal. */
  journalClosed = false;

  killAll(): void {
    for (const c of this.children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** Reports a failure that ends the recording, and exits. */
  fail(err: Fatal): void {
    if (this.finished) return;
    this.finished = true;
    this.killAll();
    for (const s of this.streams.values()) s.closeSocket();
    send({
      type: 'failed',
      code: err.code,
      message: err.message,
      ...(err.detail ? { detail: err.detail } : {}),
    });
    exitSoon(1);
  }

  journalSnapshot(cfg: ChildInit): RecordingJournal {
    const { type: _type, ffmpegPath: _ffmpeg, ...init } = cfg;
    const progress = this.progress;
    return {
      version: 1,
      init,
      t0At: this.timelineT0 === null ? null : performance.timeOrigin + this.timelineT0,
      streams: [...this.streams.values()].map((s) => ({
        info: s.info,
        ended: s.endReported,
        segments: s.segments.map((g) => ({
          index: g.index,
          name: path.basename(g.base),
          payloadType: g.payloadType,
          codec: g.codec,
          firstRtpTs: g.firstRtpTs,
          offsetMs: g.offsetMs,
          chunkMs: g.chunkMs,
          firstAt: performance.timeOrigin + g.firstMono,
          placedMs: g.placedMs,
          correctionMs: g.correctionMs,
          synced: g.synced,
        })),
      })),
      composedMs: progress.composedMs,
      pieces: progress.pieces.map((p) => ({ name: path.basename(p.file), frames: p.frames })),
      windows: progress.windows,
      nextWindowSeq: this.windowSeq,
    };
  }

  /** Writes the journal soon (writes in a row coalesce; each takes the state when it runs). */
  saveJournal(): void {
    if (!this.config || this.journalClosed || this.#journalQueued) return;
    this.#journalQueued = true;
    this.#journalWrite = this.#journalWrite.then(async () => {
      this.#journalQueued = false;
      if (this.journalClosed) return;
      // A failed write leaves the previous journal: a recovery would then lose more, nothing else.
      await writeJournal(this.workDir, this.journalSnapshot(this.config!)).catch(() => undefined);
    });
  }

  /** Settles when the journal writes asked for so far are done (they never reject). */
  get journalWritten(): Promise<void> {
    return this.#journalWrite;
  }

  /** Syncs the chunk each capture is writing (the finished ones were synced in their turn). */
  async syncCaptures(): Promise<void> {
    if (this.stopping || this.finished) return;
    for (const s of this.streams.values()) {
      const seg = s.current;
      if (!seg || seg.state !== 'running') continue;
      let j = seg.chunkCount;
      while (existsSync(chunkFile(seg.base, j))) j++;
      // The one being written, and the one before it (it may have been cut since the last sync).
      for (const k of [j - 2, j - 1]) if (k >= 0) await syncFile(chunkFile(seg.base, k));
    }
  }
}
