/**
 * The end of a recording: at stop (or after a recovery, recover.ts) the captures are stopped and
 * what is left of the call is composed, then joined to what was composed during it (windows.ts).
 *
 * At stop only what is left (at most a window and LAG_MS, plus a background window that was under
 * way, which is killed rather than waited for: niced, it may be starved) is composed, in parallel
 * parts at full speed, and the final MP4 is a copy (-c copy) of the joined pieces and the AAC, so
 * stop→file stays ~1-2 s whatever the call's length (the copy is I/O, ~100 MB/s).
 * A short call with nothing composed yet at stop (under DIRECT_MAX_MS) is composed in one pass
 * straight into the final file: for it, pieces and a join would only add steps. Error codes at
 * stop are those of the old final compose (100102, 100106, ...).
 */
import { rename, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { AudioEncoder } from './audio-encoder.js';
import { epochOf, now } from './clock.js';
import { composeFatal, DISK_ERRNOS, errnoOf, Fatal } from './failures.js';
import { fileSize, removeAllBut } from './files.js';
import { JOURNAL_FILE, writeJournal } from './journal.js';
import { concatList, planMux } from './layout.js';
import { exitSoon, send } from './parent-link.js';
import {
  RecordingCodes,
  type RecordingSummary,
  type SegmentSummary,
  type StreamSummary,
} from './protocol.js';
import { runFfmpeg } from './run-ffmpeg.js';
import type { RecorderSession } from './session.js';
import { mediaSegments, place, type Media } from './timeline.js';
import {
  AAC_PRIMING_S,
  DIRECT_MAX_MS,
  MAX_PARALLEL_WINDOWS,
  MIN_STOP_PART_MS,
  STOP_GRACE_MS,
  STOP_WINDOW_MS,
} from './timing.js';
import { commitWindow, composeWindow, WindowFailed, type ComposedWindow } from './windows.js';

/** 'stop': ends the captures, reports the streams still recorded as ended, and finishes the file. */
export async function stopAll(session: RecorderSession): Promise<void> {
  const { streams, progress } = session;
  const stopMono = now();
  session.stopping = true;
  send({ type: 'progress', phase: 'stopping', percent: 0 });
  // A window being composed in the background runs niced, and may be starved by other work: it
  // is cheaper to compose its part again now, with the rest, at full speed.
  for (const proc of session.backgroundProcs) proc.kill('SIGKILL');
  const pending = [...streams.values()].filter((s) => !s.removed);
  // Also waits for removals still in progress: their files must be complete before the compose.
  // An ffmpeg on a silent UDP input takes ~200 ms to honour SIGINT: at stop, the file is wanted now.
  await Promise.all([...streams.values()].map((s) => s.stop(STOP_GRACE_MS)));

  const usable = await mediaSegments(session);
  for (const s of pending) {
    const u = usable.find((x) => x.s === s);
    send({ type: 'streamEnded', streamId: s.info.streamId, ok: !!u, packets: s.packets });
  }
  if (usable.length === 0) {
    throw new Fatal(RecordingCodes.streamsMissing, 'no subscribed stream delivered any media', {
      streams: [...streams.values()].map((s) => ({ uid: s.info.uid, kind: s.info.kind, packets: s.packets })),
    });
  }
  const capturesStoppedMono = now();
  // The background window (killed above, or storing its result) is over.
  if (progress.busy) await progress.busy;
  await finalize(session, usable, stopMono, capturesStoppedMono, false);
}

/**
 * From the captures on disk and the windows composed so far to the final file, and 'done'. After
 * a crash (`recovered`) the audio composed during the call is gone with its encoder (its last
 * frames were in memory): it is composed again, alone, which costs little beside the video.
 */
export async function finalize(
  session: RecorderSession,
  usable: Media[],
  stopMono: number,
  capturesStoppedMono: number,
  recovered: boolean,
): Promise<void> {
  const cfg = session.config!;
  const { streams, progress, workDir } = session;
  const composedBeforeStopMs = progress.composedMs;

  const t0 = session.timelineT0 ?? Math.min(...usable.flatMap(({ segs }) => segs.map((g) => g.firstMono)));
  session.timelineT0 = t0;
  for (const { s, segs } of usable) for (const g of segs) place(session, s, g, t0, true);
  const recordStartTime = epochOf(t0);
  const durationMs = Math.max(
    1,
    Math.round(Math.max(...usable.flatMap(({ segs }) => segs.map((g) => g.lastMono - t0)))),
  );
  const timeoutMs = cfg.composeTimeoutMs > 0 ? cfg.composeTimeoutMs : 120_000 + 3 * durationMs;
  const deadline = stopMono + timeoutMs;
  const remaining = () => {
    const left = deadline - now();
    if (left <= 0) {
      throw new Fatal(
        RecordingCodes.conversionFailed,
        `composing the final file took longer than ${timeoutMs} ms`,
      );
    }
    return left;
  };

  if (session.audioEncoder?.broken) {
    // The audio composed so far is lost: compose the whole call again.
    session.audioEncoder.kill();
    session.audioEncoder = null;
    progress.composedMs = 0;
    progress.pieces = [];
  }
  if (recovered && progress.composedMs > 0 && cfg.mediaType !== 2) {
    await composeAudioAgain(session, usable, t0, progress.composedMs, timeoutMs, remaining);
  }
  const finalFile = path.join(cfg.outputDir, `${cfg.recordId}.mp4`);
  const partial = path.join(cfg.outputDir, `${cfg.recordId}.partial.mp4`);
  if (progress.composedMs === 0 && durationMs <= DIRECT_MAX_MS) {
    // A short call with nothing composed yet: one pass straight into the final file.
    send({ type: 'progress', phase: 'composing', percent: 0 });
    try {
      await composeWindow(session, usable, t0, 0, durationMs, false, remaining(), partial);
    } catch (err) {
      if (err instanceof WindowFailed) throw composeFatal(err.result, timeoutMs);
      throw err;
    }
    progress.windows++;
  } else {
    await composeRest(session, usable, t0, durationMs, timeoutMs, remaining);
    await joinPieces(session, durationMs, partial, timeoutMs, remaining);
  }
  await writeFile(
    path.join(workDir, 'compose.txt'),
    `# last window\n${session.lastWindowArgs.join(' \\\n  ')}\n\n# join\n${session.lastMuxArgs.join(' \\\n  ')}\n`,
  ).catch(() => undefined);

  const size = await fileSize(partial);
  if (size === 0) throw new Fatal(RecordingCodes.savingFailed, `ffmpeg wrote no data to ${partial}`);
  try {
    await rename(partial, finalFile);
  } catch (err) {
    throw new Fatal(
      DISK_ERRNOS.has(errnoOf(err)) ? RecordingCodes.diskFull : RecordingCodes.savingFailed,
      `cannot move the final file into place: ${String(err)}`,
    );
  }
  const summaries: StreamSummary[] = [...streams.values()].map((s) => {
    const u = usable.find((x) => x.s === s);
    const segs: SegmentSummary[] = (u?.segs ?? []).map((g) => ({
      file: g.firstChunk,
      startAt: epochOf(g.firstMono),
      startMs: Math.round(g.placedMs!),
      endMs: Math.round(g.lastMono - t0),
      packets: g.packets,
      bytes: g.bytes,
    }));
    return {
      streamId: s.info.streamId,
      uid: s.info.uid,
      participantId: s.info.participantId,
      kind: s.info.kind,
      recorded: segs.length > 0,
      startMs: segs.length > 0 ? Math.min(...segs.map((g) => g.startMs)) : null,
      endMs: segs.length > 0 ? Math.max(...segs.map((g) => g.endMs)) : null,
      packets: s.packets,
      frames: s.frames,
      keyFrames: s.keyFrames,
      segments: segs,
      syncCorrectionMs: u?.segs.find((g) => g.synced)?.correctionMs ?? 0,
    };
  });
  const summary: RecordingSummary = {
    file: finalFile,
    bytes: size,
    recordStartTime,
    durationMs,
    mediaType: cfg.mediaType,
    streams: summaries,
    finalizeMs: Math.round(now() - stopMono),
    captureStopMs: Math.round(capturesStoppedMono - stopMono),
    composedBeforeStopMs,
    composeWindows: progress.windows,
    ...(recovered ? { recovery: 'composed' as const } : {}),
  };
  // The file is in place: the journal says so before the captures go, so that a crash before the
  // parent has stored the file (an upload takes a while) costs a restart, not the recording. The
  // parent removes what is left (recording.ts, keepJournal).
  session.journalClosed = true;
  await session.journalWritten;
  await writeJournal(workDir, { ...session.journalSnapshot(cfg), done: summary }).catch(() => undefined);
  if (!cfg.keepParts) await removeAllBut(workDir, JOURNAL_FILE);
  session.finished = true;
  send({ type: 'done', summary });
  exitSoon(0);
}
/** After a crash: the call's audio over [0, toMs) again, into a new AAC encoder (see finalize). */
async function composeAudioAgain(
  session: RecorderSession,
  usable: Media[],
  t0: number,
  toMs: number,
  timeoutMs: number,
  remaining: () => number,
): Promise<void> {
  session.audioEncoder?.kill();
  session.audioEncoder = new AudioEncoder(session);
  for (let from = 0; from < toMs; from += STOP_WINDOW_MS) {
    const to = Math.min(toMs, from + STOP_WINDOW_MS);
    let w: ComposedWindow | null;
    try {
      w = await composeWindow(session, usable, t0, from, to, false, remaining(), undefined, true);
    } catch (err) {
      if (err instanceof WindowFailed) throw composeFatal(err.result, timeoutMs);
      throw err;
    }
    if (!w?.pcm)
      throw new Fatal(RecordingCodes.conversionFailed, 'the audio of the call could not be planned');
    try {
      await session.audioEncoder.write(w.pcm);
    } catch (err) {
      throw composeFatal({ code: null, stderr: `${String(err)} ${session.audioEncoder.stderr}` }, timeoutMs);
    }
  }
}
/**
 * Composes the rest of the call at stop, at full speed: one ffmpeg does not keep 2 cores busy (its
 * filter graph is one thread), so the rest is cut in parts composed side by side, joined in order.
 */
async function composeRest(
  session: RecorderSession,
  usable: Media[],
  t0: number,
  durationMs: number,
  timeoutMs: number,
  remaining: () => number,
): Promise<void> {
  const bounds = stopWindows(session.progress.composedMs, durationMs, availableParallelism());
  const parallel = Math.min(availableParallelism(), MAX_PARALLEL_WINDOWS);
  const tasks: Promise<ComposedWindow | null>[] = [];
  const begin = (i: number) => {
    const task = composeWindow(session, usable, t0, bounds[i]!, bounds[i + 1]!, false, remaining());
    task.catch(() => undefined); // awaited in order below
    tasks[i] = task;
  };
  for (let i = 0; i < Math.min(parallel, bounds.length - 1); i++) begin(i);
  for (let i = 0; i + 1 < bounds.length; i++) {
    send({ type: 'progress', phase: 'composing', percent: Math.round((i / (bounds.length - 1)) * 95) });
    let w: ComposedWindow | null;
    try {
      w = await tasks[i]!;
    } catch (err) {
      if (err instanceof WindowFailed) throw composeFatal(err.result, timeoutMs);
      throw err;
    }
    if (!w) throw new Fatal(RecordingCodes.conversionFailed, 'a window of the call could not be planned');
    if (i + parallel < bounds.length - 1) begin(i + parallel);
    try {
      await commitWindow(session, w);
    } catch (err) {
      throw composeFatal(
        { code: null, stderr: `${String(err)} ${session.audioEncoder?.stderr ?? ''}` },
        timeoutMs,
      );
    }
  }
}

/** The final MP4: the video pieces joined and the AAC, copied (see the header). */
async function joinPieces(
  session: RecorderSession,
  durationMs: number,
  output: string,
  timeoutMs: number,
  remaining: () => number,
): Promise<void> {
  const cfg = session.config!;
  const audioEncoder = session.audioEncoder;
  send({ type: 'progress', phase: 'composing', percent: 96 });
  let audioFile: string | null = null;
  if (cfg.mediaType !== 2 && audioEncoder) {
    const code = await audioEncoder.finish();
    if (code !== 0) throw composeFatal({ code, stderr: audioEncoder.stderr }, timeoutMs);
    audioFile = audioEncoder.file;
  }
  let videoList: string | null = null;
  if (cfg.mediaType !== 1) {
    videoList = path.join(session.workDir, 'pieces.ffconcat');
    await writeFile(videoList, concatList(session.progress.pieces, cfg.layout.fps));
  }
  session.lastMuxArgs = planMux({ videoList, audioFile, audioOffsetS: -AAC_PRIMING_S, durationMs, output });
  const mux = await runFfmpeg(session, session.lastMuxArgs, { timeoutMs: remaining() });
  if (mux.code !== 0) throw composeFatal(mux, timeoutMs);
}

/**
 * The windows left at stop, [from, durationMs) cut at whole seconds: in `cores` parts (not under
 * MIN_STOP_PART_MS each) when short, else in STOP_WINDOW_MS windows.
 */
function stopWindows(from: number, durationMs: number, cores: number): number[] {
  const span = durationMs - from;
  if (span <= 0) return [from];
  const parts = Math.max(1, Math.min(cores, MAX_PARALLEL_WINDOWS, Math.floor(span / MIN_STOP_PART_MS)));
  const len = Math.min(STOP_WINDOW_MS, Math.max(1000, Math.ceil(span / parts / 1000) * 1000));
  const bounds = [from];
  while (durationMs - bounds.at(-1)! > len) bounds.push(bounds.at(-1)! + len);
  // No sliver at the end: the last window takes it.
  if (bounds.length > 1 && durationMs - bounds.at(-1)! < 1000) bounds.pop();
  bounds.push(durationMs);
  return bounds;
}
