/**
 * The recording's journal: what a recorder child process knows only in memory (its streams, where
 * each capture sits on the timeline, what is already composed), kept on disk beside the captures
 * (`${recordId}.parts/journal.json`) so that a recording whose server was killed outright (kill
 * -9, power loss) can be finished at the next start from what is on disk (recover.ts).
 *
 * Written whole each time it changes (a few times per window: a capture starts, a capture is
 * placed, a window is composed), to a temporary file that is synced, then renamed over the old
 * one: after a crash the journal is the last complete version, never a torn one. Times are epoch
 * ms (a process's monotonic clock does not survive it).
 */
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { ChildAddStream, ChildInit, RecordingSummary } from './protocol.js';
import type { RtpCodec } from '../rtp/types.js';

export const JOURNAL_FILE = 'journal.json';
const JOURNAL_VERSION = 1;

export interface JournalSegment {
  index: number;
  /** File name prefix of its chunks in the parts directory (`${name}.00000.nut`, `${name}.csv`). */
  name: string;
  payloadType: number;
  codec: RtpCodec;
  firstRtpTs: number;
  /** Timestamp of its first packet in its chunks, ms (ffmpeg's -output_ts_offset). */
  offsetMs: number;
  chunkMs: number;
  /** Epoch ms of its first packet. */
  firstAt: number;
  /** Its place on the recording's timeline, once decided (ms), with its lip-sync correction. */
  placedMs: number | null;
  correctionMs: number;
  synced: boolean;
}

export interface JournalStream {
  info: ChildAddStream;
  /** Its end was reported to the parent (callback 0 sent if it had media). */
  ended: boolean;
  segments: JournalSegment[];
}

export interface RecordingJournal {
  version: typeof JOURNAL_VERSION;
  /** The recording's settings (the ffmpeg path is taken fresh at recovery). */
  init: Omit<ChildInit, 'type' | 'ffmpegPath'>;
  /** Epoch ms of the recording's start on its timeline, once fixed by the first window. */
  t0At: number | null;
  streams: JournalStream[];
  /** The call is composed up to here (ms of the timeline): these video pieces (file names). */
  composedMs: number;
  pieces: { name: string; frames: number }[];
  windows: number;
  /** Sequence number the next window's files take (recovery must not overwrite pieces). */
  nextWindowSeq: number;
  /** The final file is in place (only this journal is left of the parts): its summary. */
  done?: RecordingSummary;
}

/** fsync of a file by name (its data reach the disk, whoever wrote them); false if it could not. */
export async function syncFile(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } catch {
    return false;
  }
}

/** Replaces the journal atomically (see the header). */
export async function writeJournal(dir: string, journal: RecordingJournal): Promise<void> {
  const file = path.join(dir, JOURNAL_FILE);
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(journal));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncFile(dir); // the rename itself
}

/** The journal of a parts directory; null if there is none or it is not one we can read. */
export async function readJournal(dir: string): Promise<RecordingJournal | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, JOURNAL_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const j = JSON.parse(text) as RecordingJournal;
    if (j.version !== JOURNAL_VERSION || !Array.isArray(j.streams) || !j.init) return null;
    return j;
  } catch {
    return null;
  }
}
