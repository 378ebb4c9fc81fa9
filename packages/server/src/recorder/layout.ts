/**
 * The final compose, planned as pure data: which video tiles are where during which period of
 * the call, and the ffmpeg command that draws them and mixes the audio. No I/O here, so it is unit
 * tested directly.
 *
 * Timeline: every piece of media (a "segment": one capture file of one stream) has a start offset
 * from the recording's start (ms). ffmpeg places each input there with -itsoffset; inside a
 * segment, timing follows the RTP timestamps, so gaps and jitter are preserved, not squeezed.
 *
 * Grid: the video streams' lifetimes cut the call into periods; during each period the streams
 * present (at most maxMixedStreams, earliest joiner first) share a grid of ceil(sqrt(n)) columns,
 * last row centred, each video scaled to fit its cell with its aspect ratio kept. A stream that
 * continues across a layout change is drawn by one branch per period (trim + scale + overlay
 * enabled only inside the period, with a short pre-roll so no cell is ever blank at a boundary).
 *
 * Audio: every audio segment is resampled to 48 kHz stereo with gaps filled by silence (aresample
 * async, from t=0), padded to the full duration, and all are summed (amix, then volume=n to undo
 * its 1/n scaling: the mix sounds as a participant heard the call).
 *
 * The filters used exist in ffmpeg 4.1 (the @ffmpeg-installer binary) as well as in 5.x-7.x.
 */
import type { MediaKind } from '../sfu/types.js';
import type { LayoutOptions, RecordingMediaType } from './protocol.js';

export interface ComposeSegment {
  file: string;
  /** Offset of its first packet from the recording's start, ms. */
  startMs: number;
  endMs: number;
}

export interface ComposeStream {
  streamId: string;
  kind: MediaKind;
  segments: ComposeSegment[];
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LayoutTile extends Rect {
  streamId: string;
}

export interface LayoutPeriod {
  startMs: number;
  endMs: number;
  tiles: LayoutTile[];
  /** Streams present but beyond maxMixedStreams. */
  dropped: string[];
}

const even = (n: number) => Math.max(2, Math.floor(n / 2) * 2);

/** Cells of a grid of n tiles on a width x height canvas (see the header). */
export function gridRects(n: number, width: number, height: number): Rect[] {
  if (n <= 0) return [];
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const w = even(width / cols);
  const h = even(height / rows);
  const top = Math.floor((height - rows * h) / 4) * 2;
  const out: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const inRow = row === rows - 1 ? n - row * cols : cols;
    const left = Math.floor((width - inRow * w) / 4) * 2;
    out.push({ x: left + (i % cols) * w, y: top + row * h, w, h });
  }
  return out;
}

/** The lifetime of a stream: first segment start to last segment end. */
function hull(s: ComposeStream): [number, number] | null {
  if (s.segments.length === 0) return null;
  return [Math.min(...s.segments.map((g) => g.startMs)), Math.max(...s.segments.map((g) => g.endMs))];
}

/**
 * Periods of constant layout over [0, durationMs]: cut at every video stream's start and end
 * (cuts closer than minPeriodMs merge), the present streams ordered by start, at most maxMixed.
 * Consecutive periods with the same tiles merge.
 */
export function layoutPeriods(
  videoStreams: ComposeStream[],
  durationMs: number,
  maxMixed: number,
  width: number,
  height: number,
  minPeriodMs = 100,
): LayoutPeriod[] {
  const lives = videoStreams
    .map((s) => ({ id: s.streamId, life: hull(s) }))
    .filter((x): x is { id: string; life: [number, number] } => x.life !== null)
    .sort((a, b) => a.life[0] - b.life[0] || (a.id < b.id ? -1 : 1));
  const cuts = [0, durationMs, ...lives.flatMap((l) => l.life)]
    .map((t) => Math.min(durationMs, Math.max(0, t)))
    .sort((a, b) => a - b);
  const merged: number[] = [];
  for (const c of cuts) {
    const last = merged.at(-1);
    if (last === undefined || c - last >= minPeriodMs) merged.push(c);
  }
  if (merged.at(-1) !== durationMs) {
    if (merged.length > 1) merged[merged.length - 1] = durationMs;
    else merged.push(durationMs);
  }
  const periods: LayoutPeriod[] = [];
  for (let i = 0; i + 1 < merged.length; i++) {
    const startMs = merged[i]!;
    const endMs = merged[i + 1]!;
    const mid = (startMs + endMs) / 2;
    const present = lives.filter((l) => l.life[0] <= mid && mid < l.life[1]).map((l) => l.id);
    const shown = present.slice(0, Math.max(0, maxMixed));
    const rects = gridRects(shown.length, width, height);
    const tiles = shown.map((streamId, k) => ({ streamId, ...rects[k]! }));
    const prev = periods.at(-1);
    if (prev && sameTiles(prev.tiles, tiles)) {
      prev.endMs = endMs;
      for (const d of present.slice(shown.length)) if (!prev.dropped.includes(d)) prev.dropped.push(d);
    } else {
      periods.push({ startMs, endMs, tiles, dropped: present.slice(shown.length) });
    }
  }
  return periods;
}

function sameTiles(a: LayoutTile[], b: LayoutTile[]): boolean {
  return (
    a.length === b.length &&
    a.every((t, i) => {
      const u = b[i]!;
      return t.streamId === u.streamId && t.x === u.x && t.y === u.y && t.w === u.w && t.h === u.h;
    })
  );
}

export interface ComposeInput {
  streams: ComposeStream[];
  durationMs: number;
  mediaType: RecordingMediaType;
  maxMixedStreams: number;
  layout: LayoutOptions;
  output: string;
}

export interface ComposePlan {
  /** ffmpeg arguments (the filter graph inline). */
  args: string[];
  filter: string;
  periods: LayoutPeriod[];
  /** Input files in order. */
  inputs: string[];
}

const sec = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);
/** Pre-roll of each tile branch: a continuing stream has a frame ready at a layout change. */
const PREROLL_MS = 500;

/** The ffmpeg command for the final file (see the header). */
export function planCompose(input: ComposeInput): ComposePlan {
  const { layout, durationMs } = input;
  const withVideo = input.mediaType !== 1;
  const withAudio = input.mediaType !== 2;
  const D = sec(durationMs);
  const args: string[] = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-nostats',
    '-progress',
    'pipe:1',
  ];
  const inputs: string[] = [];
  const chains: string[] = [];

  const addInput = (seg: ComposeSegment, kind: MediaKind): number => {
    args.push('-thread_queue_size', '256', '-itsoffset', sec(seg.startMs));
    // A publisher may change resolution mid-call: keep the graph (scale adapts) rather than
    // rebuilding it, which would restart the canvas' clock.
    if (kind === 'video') args.push('-reinit_filter', '0');
    args.push('-i', seg.file);
    inputs.push(seg.file);
    return inputs.length - 1;
  };

  let periods: LayoutPeriod[] = [];
  let videoOut: string | null = null;
  if (withVideo) {
    const videoStreams = input.streams.filter((s) => s.kind === 'video');
    periods = layoutPeriods(videoStreams, durationMs, input.maxMixedStreams, layout.width, layout.height);
    chains.push(
      `color=c=${layout.background}:s=${layout.width}x${layout.height}:r=${layout.fps}:d=${D},format=yuv420p[base0]`,
    );
    // One branch per (segment, period) where the segment's stream has a tile and overlaps the period.
    interface Branch {
      seg: ComposeSegment;
      period: LayoutPeriod;
      tile: LayoutTile;
    }
    const bySegment = new Map<ComposeSegment, Branch[]>();
    for (const period of periods) {
      for (const tile of period.tiles) {
        const stream = videoStreams.find((s) => s.streamId === tile.streamId)!;
        for (const seg of stream.segments) {
          if (seg.startMs < period.endMs && seg.endMs + 1000 > period.startMs) {
            const list = bySegment.get(seg) ?? [];
            list.push({ seg, period, tile });
            bySegment.set(seg, list);
          }
        }
      }
    }
    let base = 'base0';
    let n = 0;
    for (const [seg, branches] of bySegment) {
      const idx = addInput(seg, 'video');
      const labels = branches.map((_, k) => `v${idx}b${k}`);
      chains.push(
        branches.length === 1
          ? `[${idx}:v:0]null[${labels[0]}]`
          : `[${idx}:v:0]split=${branches.length}${labels.map((l) => `[${l}]`).join('')}`,
      );
      branches.forEach((b, k) => {
        const from = sec(b.period.startMs - PREROLL_MS);
        const to = sec(b.period.endMs);
        const t = `t${idx}b${k}`;
        chains.push(
          `[${labels[k]}]trim=start=${from}:end=${to},` +
            `scale=w=${b.tile.w}:h=${b.tile.h}:force_original_aspect_ratio=decrease:flags=bilinear[${t}]`,
        );
        const next = `base${++n}`;
        chains.push(
          `[${base}][${t}]overlay=x=${b.tile.x}+(${b.tile.w}-w)/2:y=${b.tile.y}+(${b.tile.h}-h)/2:` +
            `eof_action=pass:enable='gte(t,${sec(b.period.startMs)})*lt(t,${to})'[${next}]`,
        );
        base = next;
      });
    }
    videoOut = base;
  }

  let audioOut: string | null = null;
  if (withAudio) {
    const segs = input.streams.filter((s) => s.kind === 'audio').flatMap((s) => s.segments);
    const samples = Math.ceil((durationMs / 1000) * 48000);
    const labels: string[] = [];
    for (const seg of segs) {
      const idx = addInput(seg, 'audio');
      const l = `a${idx}`;
      chains.push(
        `[${idx}:a:0]aresample=48000:async=1:first_pts=0,` +
          `aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,apad=whole_len=${samples}[${l}]`,
      );
      labels.push(l);
    }
    if (labels.length === 0) {
      chains.push(`anullsrc=r=48000:cl=stereo,atrim=end=${D}[aout]`);
    } else if (labels.length === 1) {
      chains.push(`[${labels[0]}]atrim=end=${D}[aout]`);
    } else {
      chains.push(
        `${labels.map((l) => `[${l}]`).join('')}amix=inputs=${labels.length}:duration=longest:dropout_transition=0,` +
          `volume=${labels.length},atrim=end=${D}[aout]`,
      );
    }
    audioOut = 'aout';
  }

  const filter = chains.join(';\n');
  args.push('-filter_complex', filter);
  if (videoOut) {
    args.push(
      '-map',
      `[${videoOut}]`,
      '-c:v',
      'libx264',
      '-preset',
      layout.preset,
      '-crf',
      String(layout.crf),
    );
    args.push('-pix_fmt', 'yuv420p', '-g', String(Math.max(1, Math.round(layout.fps * 4))));
  }
  if (audioOut) {
    args.push(
      '-map',
      `[${audioOut}]`,
      '-c:a',
      'aac',
      '-b:a',
      String(layout.audioBitrate),
      '-ar',
      '48000',
      '-ac',
      '2',
    );
  }
  args.push(
    '-t',
    D,
    '-max_muxing_queue_size',
    '4096',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    '-y',
    input.output,
  );
  return { args, filter, periods, inputs };
}
