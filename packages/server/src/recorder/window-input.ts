/**
 * A window's input from a capture's chunks: the few chunks it needs, read as one stream (why, and
 * how the chunks are cut: windows.ts).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { ComposeSegment } from './layout.js';
import { nutFirstTimestampMs } from './nut.js';
import { runFfmpeg } from './run-ffmpeg.js';
import { chunkFile, type Segment } from './segment.js';
import type { RecorderSession } from './session.js';

/** Learns the chunks written so far and, from ffmpeg's list, where the finished ones start. */
async function refreshChunks(seg: Segment): Promise<void> {
  let text = '';
  try {
    text = await readFile(seg.chunkList, 'utf8');
  } catch {
    // none finished yet
  }
  const lines = text.split('\n');
  lines.pop(); // the last one is empty or still being written
  for (const line of lines) {
    const m = /\.(\d+)\.nut,(-?\d+(?:\.\d+)?),/.exec(line);
    if (m && Number(m[1]) > 0) seg.chunkStarts.set(Number(m[1]), Number(m[2]) * 1000);
  }
  while (existsSync(chunkFile(seg.base, seg.chunkCount))) seg.chunkCount++;
}

/** The timestamp (ms) of a chunk's first packet; null if it has none yet. */
async function probeChunkStart(
  session: RecorderSession,
  file: string,
  background: boolean,
): Promise<number | null> {
  const read = await nutFirstTimestampMs(file);
  if (read !== null) return read;
  // Not readable as expected: ask ffmpeg.
  const r = await runFfmpeg(
    session,
    ['-hide_banner', '-nostdin', '-v', 'error', '-copyts', '-i', file, '-map', '0:0', '-c', 'copy'].concat([
      '-frames:0',
      '1',
      '-f',
      'framecrc',
      '-',
    ]),
    { background, collect: true, timeoutMs: 15_000 },
  );
  if (r.code !== 0) return null;
  const text = r.stdout.toString();
  const tb = /^#tb 0: (\d+)\/(\d+)/m.exec(text);
  const pkt = /^0,\s*(-?\d+),/m.exec(text);
  if (!tb || !pkt) return null;
  return ((Number(pkt[1]) * Number(tb[1])) / Number(tb[2])) * 1000;
}

/**
 * One capture segment as an input of the window [from, to): an ffconcat list of the chunks that
 * hold its media from `lead` ms before the window to its end, read as one continuous stream
 * (exact durations between chunk starts keep its timeline). 'none' if no chunk falls there;
 * null if a chunk's start is not known yet (the window waits, unless `final`).
 */
export async function windowInput(
  session: RecorderSession,
  seg: Segment,
  t0: number,
  from: number,
  to: number,
  lead: number,
  listFile: string,
  final: boolean,
): Promise<ComposeSegment | 'none' | null> {
  await refreshChunks(seg);
  const origin = seg.placedMs! - seg.offsetMs; // where timestamp 0 of its chunks falls
  const startOf = async (j: number): Promise<number | null> => {
    const known = seg.chunkStarts.get(j);
    if (known !== undefined) return known;
    const probed = await probeChunkStart(session, chunkFile(seg.base, j), !final);
    if (probed !== null) seg.chunkStarts.set(j, probed);
    return probed;
  };
  const picked: { file: string; start: number; next: number | null }[] = [];
  for (let j = 0; j < seg.chunkCount; j++) {
    const start = await startOf(j);
    if (start === null) {
      if (!final) return null;
      break; // a chunk with no packet in it (its capture was killed as it began)
    }
    if (origin + start >= to) break;
    let next: number | null = null;
    if (j + 1 < seg.chunkCount) {
      next = await startOf(j + 1);
      if (next === null && !final) return null;
      if (next !== null && origin + next <= from - lead) continue;
    }
    picked.push({ file: chunkFile(seg.base, j), start, next });
  }
  if (picked.length === 0) return 'none';
  const lines = ['ffconcat version 1.0'];
  picked.forEach((c, i) => {
    lines.push(`file '${c.file.replace(/'/g, "'\\''")}'`);
    if (i + 1 < picked.length) lines.push(`duration ${((picked[i + 1]!.start - c.start) / 1000).toFixed(6)}`);
  });
  await writeFile(listFile, `${lines.join('\n')}\n`);
  return {
    file: listFile,
    concat: true,
    startMs: seg.placedMs!,
    endMs: seg.lastMono - t0,
    originMs: origin + picked[0]!.start,
  };
}
