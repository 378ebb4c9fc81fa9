/**
 * Surviving the server's death (kill -9, power loss): what only the recorder child knows (streams,
 * captures and their places on the timeline, windows composed) is kept in a journal beside the
 * captures (journal.ts, written by RecorderSession), and the chunks being written are synced every
 * SYNC_INTERVAL_MS. A new server sends 'recover' to a fresh child, which rebuilds that state from
 * the journal (a capture's end read from its last chunk, up to its last whole packet) and finishes
 * as a stop would (finalize.ts), reusing the video composed during the call and composing its audio
 * again (the AAC encoder died with its last frames). The journal outlives the captures until the
 * parent has stored the file.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { now } from './clock.js';
import { Fatal } from './failures.js';
import { fileSize } from './files.js';
import { finalize } from './finalize.js';
import { readJournal } from './journal.js';
import { exitSoon, send } from './parent-link.js';
import { RecordingCodes, type ChildRecover } from './protocol.js';
import { runFfmpeg } from './run-ffmpeg.js';
import { chunkFile, Segment } from './segment.js';
import type { RecorderSession } from './session.js';
import { StreamRecorder } from './stream.js';
import { mediaSegments } from './timeline.js';

/**
 * Where a capture's media end, in its chunks' timestamps (ms): the end of the last packet of its
 * last chunk that has one. A chunk cut short by the crash is read up to its last whole packet.
 */
async function captureEndMs(session: RecorderSession, seg: Segment): Promise<number | null> {
  let last = 0;
  while (existsSync(chunkFile(seg.base, last + 1))) last++;
  for (let j = last; j >= 0; j--) {
    const file = chunkFile(seg.base, j);
    if (!(await fileSize(file))) continue;
    const r = await runFfmpeg(
      session,
      ['-hide_banner', '-nostdin', '-v', 'error', '-copyts', '-i', file, '-map', '0:0', '-c', 'copy'].concat([
        '-f',
        'framecrc',
        '-',
      ]),
      { collect: true, timeoutMs: 60_000 },
    );
    // A truncated last packet makes ffmpeg complain (and maybe exit non-zero): the lines before it count.
    const text = r.stdout.toString();
    const tb = /^#tb 0: (\d+)\/(\d+)/m.exec(text);
    if (!tb) continue;
    let end: number | null = null;
    for (const m of text.matchAll(/^0,\s*(-?\d+),\s*(-?\d+),\s*(\d+),/gm)) {
      const e = Math.max(Number(m[1]), Number(m[2])) + Number(m[3]);
      end = Math.max(end ?? -Infinity, e);
    }
    if (end !== null) return (end * Number(tb[1]) * 1000) / Number(tb[2]);
  }
  return null;
}

/**
 * Finishes a recording whose process died with its server (the parent is a new server): rebuilds
 * the streams and captures from the journal, their ends from the chunks on disk, then composes
 * what is left and joins it to what was composed, as a stop does.
 */
export async function recover(session: RecorderSession, msg: ChildRecover): Promise<void> {
  const stopMono = now();
  const dir = path.join(msg.outputDir, `${msg.recordId}.parts`);
  const journal = await readJournal(dir);
  if (!journal) {
    throw new Fatal(RecordingCodes.streamsMissing, `no readable journal in ${dir}: nothing to recover`);
  }
  if (journal.done && (await fileSize(journal.done.file)) > 0) {
    // The file was complete; only storing it was cut short.
    session.finished = true;
    send({ type: 'done', summary: { ...journal.done, recovery: 'already-complete' } });
    exitSoon(0);
    return;
  }
  session.config = { type: 'init', ...journal.init, outputDir: msg.outputDir, ffmpegPath: msg.ffmpegPath };
  session.workDir = dir;
  session.journalClosed = true; // a crash during the recovery starts it again from the same journal
  session.stopping = true;
  session.windowSeq = journal.nextWindowSeq;
  const toMono = (epochMs: number) => epochMs - performance.timeOrigin;
  const open: StreamRecorder[] = [];
  for (const js of journal.streams) {
    const s = new StreamRecorder(session, js.info);
    s.closeSocket();
    s.removed = true;
    s.endReported = js.ended;
    session.streams.set(js.info.streamId, s);
    if (!js.ended) open.push(s);
    for (const jg of js.segments) {
      const seg = new Segment(
        jg.index,
        path.join(dir, jg.name),
        jg.payloadType,
        jg.codec,
        jg.firstRtpTs,
        jg.offsetMs,
        jg.chunkMs,
        toMono(jg.firstAt),
      );
      seg.placedMs = jg.placedMs;
      seg.correctionMs = jg.correctionMs;
      seg.synced = jg.synced;
      seg.stopRequested = true;
      seg.markExited();
      const end = await captureEndMs(session, seg);
      if (end !== null && end > jg.offsetMs) {
        seg.packets = 1; // the count died with the process: "has media" is what matters
        seg.lastMono = seg.firstMono + (end - jg.offsetMs);
        s.packets += 1;
      }
      s.segments.push(seg);
    }
  }
  session.timelineT0 = journal.t0At === null ? null : toMono(journal.t0At);
  const pieces = journal.pieces.map((p) => ({ file: path.join(dir, p.name), frames: p.frames }));
  const piecesThere = await Promise.all(pieces.map(async (p) => (await fileSize(p.file)) > 0));
  const audioOnly = journal.init.mediaType === 1;
  if (journal.composedMs > 0 && (audioOnly || piecesThere.every(Boolean))) {
    session.progress.composedMs = journal.composedMs;
    session.progress.pieces = audioOnly ? [] : pieces;
    session.progress.windows = journal.windows;
  }
  const usable = await mediaSegments(session);
  for (const s of open) {
    send({
      type: 'streamEnded',
      streamId: s.info.streamId,
      ok: usable.some((u) => u.s === s),
      packets: s.packets,
    });
  }
  if (usable.length === 0) {
    throw new Fatal(RecordingCodes.streamsMissing, 'no media was captured before the crash');
  }
  await finalize(session, usable, stopMono, now(), true);
}
