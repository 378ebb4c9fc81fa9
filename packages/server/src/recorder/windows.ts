/**
 * Why the call is composed while it goes on: composing it all at stop made the wait for the file
 * grow with the call (~5 s for a minute on 2 cores, minutes for an hour). So the timeline is cut
 * into windows (composeWindowMs, 8 s) and each complete window is composed in the background,
 * niced, LAG_MS after its end: its video into an H.264 piece, its mixed audio as PCM into ONE
 * AAC encoder that runs for the whole call (audio-encoder.ts). At stop only what is left is
 * composed, and the final MP4 is a copy of the joined pieces and the AAC (finalize.ts), so
 * stop→file stays ~1-2 s whatever the call's length. The total CPU is the old final compose's,
 * spread over the call.
 *
 * What makes windows exact, so that they join without seams:
 * - a window needs each stream from a little before its start (a tile's pre-roll, the audio
 *   decoder's warm-up) without decoding the capture from its beginning, and ffmpeg cannot seek in
 *   a NUT file that is still being written (no index); so each capture is cut into chunks by
 *   ffmpeg's segment muxer, on the window grid (audio at the boundaries, video CUT_LEAD_MS before
 *   them, at a keyframe the relay asks for then), all chunks on one timeline (-output_ts_offset,
 *   no reset). A window reads the few chunks it needs as ONE input (an ffconcat list with the
 *   exact durations between chunk starts: from ffmpeg's chunk list, or read from the chunk by
 *   nut.ts), so decoders run on across chunk cuts (window-input.ts);
 * - inputs keep their own timestamps (-copyts), shifted to the window; the audio is placed by its
 *   timestamps to a fraction of a ms (a window's result must not depend on what came before it);
 * - a segment's place on the timeline (lip sync included) and the recording's start are decided
 *   once, by the first window that uses them: a new video waits up to SYNC_WAIT_MS for the sender
 *   reports that place it, rather than move later (timeline.ts);
 * - the layout of a window follows who is there; a stream still being recorded keeps its tile
 *   past the window's end (if it then goes silent for good, its tile goes at a window boundary
 *   rather than at its last packet).
 * If a background window fails twice (or the AAC encoder dies), the rest of the call (or all of
 * it) is composed at stop, windowed the same way: slower, never wrong.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { AudioEncoder } from './audio-encoder.js';
import { now } from './clock.js';
import { fileSize } from './files.js';
import { syncFile } from './journal.js';
import {
  planWindow,
  PREROLL_MS,
  type ComposeSegment,
  type ComposeStream,
  type VideoPiece,
} from './layout.js';
import { runFfmpeg, type RunResult } from './run-ffmpeg.js';
import type { RecorderSession } from './session.js';
import { mediaSegments, place, wantsKind, type Media } from './timeline.js';
import { LAG_MS } from './timing.js';
import { windowInput } from './window-input.js';

export interface ComposedWindow {
  to: number;
  piece: VideoPiece | null;
  pcm: Buffer | null;
  samples: number;
}

export class WindowFailed extends Error {
  constructor(readonly result: RunResult) {
    super(`ffmpeg failed on a window (exit code ${result.code}): ${result.stderr.trim().slice(-300)}`);
  }
}

/**
 * Composes the window [from, to) of the call (layout.ts planWindow): its video into a piece, its
 * mixed audio into memory. null if it is not ready yet (background only).
 */
export async function composeWindow(
  session: RecorderSession,
  media: Media[],
  t0: number,
  from: number,
  to: number,
  background: boolean,
  timeoutMs: number,
  finalOutput?: string,
  audioOnly = false,
): Promise<ComposedWindow | null> {
  const cfg = session.config!;
  const workDir = session.workDir;
  const mediaType = audioOnly ? 1 : cfg.mediaType;
  const seq = session.windowSeq++;
  const frameMs = 1000 / cfg.layout.fps;
  const lists: string[] = [];
  const composeStreams: ComposeStream[] = [];
  try {
    for (const { s, segs } of media) {
      if (audioOnly && s.info.kind !== 'audio') continue;
      const out: ComposeSegment[] = [];
      for (const seg of segs) {
        if (seg.placedMs === null) continue; // begins after the window
        const startMs = seg.placedMs;
        const endMs = seg.lastMono - t0;
        const video = s.info.kind === 'video';
        const lead = video ? PREROLL_MS + frameMs : 100; // a tile's pre-roll; the audio decoder's
        if (!(startMs < to && endMs + lead > from - lead)) {
          out.push({ file: '', startMs, endMs }); // counts for the layout only
          continue;
        }
        const list = path.join(workDir, `w${seq}-${s.info.streamId}-${seg.index}.ffconcat`);
        const input = await windowInput(session, seg, t0, from, to, lead, list, !background);
        if (input === null) return null;
        if (input === 'none') out.push({ file: '', startMs, endMs });
        else {
          out.push(input);
          lists.push(list);
        }
      }
      if (out.length > 0) {
        composeStreams.push({
          streamId: s.info.streamId,
          kind: s.info.kind,
          segments: out,
          open: !s.removed && !session.stopping,
        });
      }
    }
    const videoOutput =
      mediaType !== 1 && !finalOutput
        ? path.join(workDir, `piece-${String(seq).padStart(5, '0')}.mp4`)
        : null;
    const plan = planWindow({
      streams: composeStreams,
      fromMs: from,
      toMs: to,
      mediaType,
      maxMixedStreams: cfg.maxMixedStreams,
      layout: cfg.layout,
      videoOutput,
      ...(finalOutput ? { finalOutput } : {}),
    });
    session.lastWindowArgs = plan.args;
    const r = await runFfmpeg(session, plan.args, {
      background,
      collect: mediaType !== 2 && !finalOutput,
      timeoutMs,
    });
    if (r.code !== 0) throw new WindowFailed(r);
    if (videoOutput && !(await fileSize(videoOutput))) throw new WindowFailed({ ...r, code: -2 });
    let pcm: Buffer | null = null;
    if (mediaType !== 2 && !finalOutput) {
      const want = plan.samples * 8;
      // ffmpeg writes the samples asked for (atrim/apad); a little off is evened out, more means
      // a broken window.
      if (Math.abs(r.stdout.length - want) > 48_000 * 8) throw new WindowFailed({ ...r, code: -3 });
      pcm = r.stdout.length === want ? r.stdout : Buffer.concat([r.stdout, Buffer.alloc(want)], want);
    }
    return {
      to,
      piece: videoOutput ? { file: videoOutput, frames: plan.frames } : null,
      pcm,
      samples: plan.samples,
    };
  } finally {
    for (const l of lists) await rm(l, { force: true }).catch(() => undefined);
  }
}

/** Appends a composed window to the call's pieces and audio. */
export async function commitWindow(session: RecorderSession, w: ComposedWindow): Promise<void> {
  const progress = session.progress;
  if (w.pcm) {
    session.audioEncoder ??= new AudioEncoder(session);
    await session.audioEncoder.write(w.pcm);
  }
  if (w.piece) {
    await syncFile(w.piece.file);
    progress.pieces.push(w.piece);
  }
  progress.composedMs = w.to;
  progress.windows++;
  session.saveJournal();
}

/** Every 500 ms during the call: composes the next window if it is complete (see the header). */
export function backgroundTick(session: RecorderSession): void {
  const cfg = session.config;
  const progress = session.progress;
  if (
    !cfg ||
    cfg.composeWindowMs <= 0 ||
    progress.disabled ||
    session.stopping ||
    session.finished ||
    progress.busy
  )
    return;
  progress.busy = composeInBackground(session)
    .catch((err: unknown) => {
      if (session.stopping) return; // killed by stop
      // Retried once; after that the rest of the call is composed at stop.
      progress.failures++;
      progress.lastError = String(err instanceof Error ? err.message : err).slice(0, 500);
      if (progress.failures >= 2 || session.audioEncoder?.broken) progress.disabled = true;
    })
    .finally(() => {
      progress.busy = null;
    });
}

async function composeInBackground(session: RecorderSession): Promise<void> {
  const cfg = session.config!;
  const W = cfg.composeWindowMs;
  const wanted = [...session.streams.values()].filter((s) => wantsKind(session, s.info.kind));
  const started = wanted.flatMap((s) => s.segments.filter((g) => g.packets > 0));
  if (started.length === 0 || started.some((g) => g.state === 'starting' && session.timelineT0 === null))
    return;
  const t0 =
    session.timelineT0 ??
    Math.min(...started.filter((g) => existsSync(g.firstChunk)).map((g) => g.firstMono));
  if (!Number.isFinite(t0)) return;
  // Whole windows, complete (LAG_MS for the captures to have written them), not past the media.
  const latest = Math.max(...started.map((g) => g.lastMono)) - t0;
  const from = session.progress.composedMs;
  const to = Math.min(Math.floor(Math.min(now() - t0 - LAG_MS, latest) / W) * W, from + 4 * W);
  if (to - from < W) return;
  session.timelineT0 = t0;
  for (const s of wanted) {
    for (const g of s.segments) {
      if (g.packets === 0 || g.firstMono - t0 >= to) continue;
      if (g.state === 'starting') return; // its first packets are not on disk yet
      if (!place(session, s, g, t0, false)) return; // waits for sender reports
    }
  }
  const media = await mediaSegments(session);
  if (media.length === 0) return;
  const w = await composeWindow(session, media, t0, from, to, true, 120_000 + 3 * (to - from));
  if (!w) return;
  await commitWindow(session, w);
}
