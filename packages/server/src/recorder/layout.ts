/**
 * The composition, planned as pure data: which video tiles are where during which period of the
 * call, and the ffmpeg commands that draw them and mix the audio. No I/O here, so it is unit
 * tested directly.
 *
 * The recorder composes the call one window at a time while it goes on (planWindow, see
 * windows.ts for why), then joins the windows without re-encoding (concatList + planMux).
 * planCompose plans the whole call in one command (the former final compose, kept as the
 * reference the windows must match).
 *
 * Timeline: every piece of media (a "segment": one capture of one stream) has a start offset from
 * the recording's start (ms). ffmpeg places each input there with -itsoffset; inside a segment,
 * timing follows the RTP timestamps, so gaps and jitter are preserved, not squeezed. A window
 * instead keeps the inputs' own timestamps (-copyts) and shifts them by where their timestamp 0
 * falls (originMs): a capture read from a chunk in its middle lands exactly where it would have
 * in the whole call, so windows join frame- and sample-exactly.
 *
 * Grid: the video streams' lifetimes cut the call into periods; during each period the streams
 * present (at most maxMixedStreams, earliest joiner first) share a grid of ceil(sqrt(n)) columns,
 * last row centred, each video scaled to fit its cell with its aspect ratio kept. A stream that
 * continues across a layout change (or a window's start) is drawn by one branch per period (trim
 * + scale + overlay shown only inside the period, with a short pre-roll so no cell is ever blank
 * at a boundary). In windows a branch is hidden outside its period by its overlay's x (evaluated
 * at the canvas' time) rather than by 'enable', which a two-input filter evaluates at whichever
 * input's frame came last: the tile could blink at a boundary.
 *
 * Audio: every audio segment is resampled to 48 kHz stereo with gaps filled by silence (aresample
 * async, from t=0), padded to the full duration, and all are summed (amix, then volume=n to undo
 * its 1/n scaling: the mix sounds as a participant heard the call). A window writes its mix as
 * raw PCM, and one AAC encoder takes the windows' PCM in turn.
 *
 * Video pieces have no B-frames: joined with -c copy, a B-frame piece's first decode timestamps
 * would fall before the previous piece's last ones.
 *
 * The filters used exist in ffmpeg 4.1 as well as in 5.x-7.x (the recorder runs the system's ffmpeg).
 */
import type { MediaKind } from '../rtp/types.js';
import type { LayoutOptions, RecordingMediaType } from './protocol.js';

export interface ComposeSegment {
  file: string;
  /** Offset of its first packet from the recording's start, ms. */
  startMs: number;
  endMs: number;
  /**
   * Where timestamp 0 of the file falls on the recording's timeline, ms (planWindow places its
   * inputs by it rather than by their first packet).
   */
  originMs?: number;
  /** The file is an ffconcat list (the chunks of one capture, read as one continuous input). */
  concat?: boolean;
}

export interface ComposeStream {
  streamId: string;
  kind: MediaKind;
  segments: ComposeSegment[];
  /** Still being recorded when a window is planned: its tile stays on past the window's end. */
  open?: boolean;
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
export const PREROLL_MS = 500;

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

// ---- progressive composition: one window of the call at a time -------------------------------

export interface WindowInput {
  /**
   * Every stream with media before toMs (for the layout: who joined first); a segment without a
   * file counts for the layout only (no media in the window).
   */
  streams: ComposeStream[];
  /** The window, ms on the recording's timeline: whole seconds apart except the last window's end. */
  fromMs: number;
  toMs: number;
  mediaType: RecordingMediaType;
  maxMixedStreams: number;
  layout: LayoutOptions;
  /** The window's video (H.264 in MP4); required unless mediaType is 1 (audio only). */
  videoOutput: string | null;
  /**
   * Instead of a piece and PCM: the final MP4 (H.264 + AAC), for a window that is the whole call
   * (a short call composed at stop in one pass).
   */
  finalOutput?: string;
  /** x264 threads, 0 for ffmpeg's choice. Default 0. */
  threads?: number;
}

export interface WindowPlan {
  args: string[];
  filter: string;
  /** The layout periods inside the window (recording's timeline). */
  periods: LayoutPeriod[];
  inputs: string[];
  /** Video frames the piece holds (0 without video). */
  frames: number;
  /** Audio samples (48 kHz stereo, f32le) ffmpeg writes to its stdout (0 without audio or with finalOutput). */
  samples: number;
}

/** Frames of the call's video before `ms` (global rounding: windows add up without drift). */
export const framesBefore = (ms: number, fps: number) => Math.round((ms * fps) / 1000);
/** Samples of the call's audio (48 kHz) before `ms`. */
export const samplesBefore = (ms: number) => Math.round(ms * 48);

/**
 * The ffmpeg command that composes one window [fromMs, toMs) of the call (see the header): the
 * video into its own MP4 piece, the mixed audio as raw PCM on stdout. Inputs keep their own
 * timestamps (-copyts) shifted by their chunk's origin, so a window's local time 0 is fromMs and
 * every chunk lands where the whole-call plan would have put it.
 */
export function planWindow(input: WindowInput): WindowPlan {
  const { layout, fromMs, toMs } = input;
  const withVideo = input.mediaType !== 1;
  const withAudio = input.mediaType !== 2;
  if (!(toMs > fromMs)) throw new Error(`empty window ${fromMs}..${toMs}`);
  if (withVideo && !input.videoOutput && !input.finalOutput) {
    throw new Error('a window with video needs a videoOutput');
  }
  const lenMs = toMs - fromMs;
  const frames = withVideo
    ? Math.max(1, framesBefore(toMs, layout.fps) - framesBefore(fromMs, layout.fps))
    : 0;
  const samples = withAudio ? samplesBefore(toMs) - samplesBefore(fromMs) : 0;
  const local = (ms: number) => ms - fromMs;
  const args: string[] = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-copyts'];
  const inputs: string[] = [];
  const chains: string[] = [];

  const addInput = (seg: ComposeSegment, kind: MediaKind): number => {
    const origin = seg.originMs ?? seg.startMs;
    // Negative offsets are fine: what falls before the window is trimmed (audio) or only primes
    // the tile (video), see below.
    args.push('-thread_queue_size', '256', '-itsoffset', ((origin - fromMs) / 1000).toFixed(6));
    if (kind === 'video') args.push('-reinit_filter', '0');
    if (seg.concat) args.push('-f', 'concat', '-safe', '0');
    args.push('-i', seg.file);
    inputs.push(seg.file);
    return inputs.length - 1;
  };

  let periods: LayoutPeriod[] = [];
  let videoOut: string | null = null;
  if (withVideo) {
    const videoStreams = input.streams.filter((s) => s.kind === 'video');
    // A stream still being recorded keeps its tile past the window: its lifetime is open.
    const forLayout = videoStreams.map((s) =>
      s.open && s.segments.length > 0
        ? { ...s, segments: [...s.segments, { file: '', startMs: toMs, endMs: toMs + 3_600_000 }] }
        : s,
    );
    periods = layoutPeriods(forLayout, toMs, input.maxMixedStreams, layout.width, layout.height)
      .filter((p) => p.endMs > fromMs)
      .map((p) => ({ ...p, startMs: Math.max(p.startMs, fromMs) }));
    const frameMs = 1000 / layout.fps;
    chains.push(
      `color=c=${layout.background}:s=${layout.width}x${layout.height}:r=${layout.fps}:` +
        `d=${sec(lenMs + frameMs)},format=yuv420p[base0]`,
    );
    interface Branch {
      period: LayoutPeriod;
      tile: LayoutTile;
    }
    const bySegment = new Map<ComposeSegment, Branch[]>();
    for (const period of periods) {
      for (const tile of period.tiles) {
        const stream = videoStreams.find((s) => s.streamId === tile.streamId)!;
        for (const seg of stream.segments) {
          // Frames from PREROLL_MS before the period on (a tile has a frame at its first instant).
          if (seg.file && seg.startMs < period.endMs && seg.endMs + frameMs > period.startMs - PREROLL_MS) {
            const list = bySegment.get(seg) ?? [];
            list.push({ period, tile });
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
        const from = local(b.period.startMs - PREROLL_MS);
        const to = sec(local(b.period.endMs));
        const t = `t${idx}b${k}`;
        // Before the window, frames keep their negative times: no start trim, the overlay shows
        // the latest one at t=0 (the chunk starts at a keyframe up to a few s earlier). A frame
        // past the end keeps the last one on screen until the end.
        chains.push(
          `[${labels[k]}]trim=${from > 0 ? `start=${sec(from)}:` : ''}end=${sec(local(b.period.endMs) + frameMs)},` +
            `scale=w=${b.tile.w}:h=${b.tile.h}:force_original_aspect_ratio=decrease:flags=bilinear[${t}]`,
        );
        const next = `base${++n}`;
        // Outside its period the tile is drawn off the canvas. Not with 'enable': a filter with
        // two inputs evaluates it at whichever input's frame came last, so near a boundary (a
        // window's start above all, where the tile's frames have negative times) a tile would
        // blink; x is evaluated at the canvas frame's time.
        const inPeriod = `gte(t,${sec(local(b.period.startMs))})*lt(t,${to})`;
        chains.push(
          `[${base}][${t}]overlay=x='if(${inPeriod},${b.tile.x}+(${b.tile.w}-w)/2,W)':` +
            `y=${b.tile.y}+(${b.tile.h}-h)/2:eof_action=pass[${next}]`,
        );
        base = next;
      });
    }
    videoOut = base;
  }

  let audioOut: string | null = null;
  if (withAudio) {
    const segs = input.streams
      .filter((s) => s.kind === 'audio')
      .flatMap((s) => s.segments)
      .filter((g) => g.file && g.startMs < toMs && g.endMs > fromMs);
    const labels: string[] = [];
    for (const seg of segs) {
      const idx = addInput(seg, 'audio');
      const l = `a${idx}`;
      // What precedes the window goes; gaps (and the start) are filled with silence by the
      // timestamps, to a fraction of a ms (a window's audio must not depend on what came
      // before it, or the windows would not join); every input lasts exactly the window, so
      // amix's 1/n is constant and volume=n undoes it.
      chains.push(
        `[${idx}:a:0]atrim=start=0,aresample=48000:async=1:min_comp=0.0002:min_hard_comp=0.0002:first_pts=0,` +
          `aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,` +
          `apad=whole_len=${samples},atrim=end_sample=${samples}[${l}]`,
      );
      labels.push(l);
    }
    if (labels.length === 0) {
      chains.push(`anullsrc=r=48000:cl=stereo,atrim=end_sample=${samples}[aout]`);
    } else if (labels.length === 1) {
      chains.push(`[${labels[0]}]anull[aout]`);
    } else {
      chains.push(
        `${labels.map((l) => `[${l}]`).join('')}amix=inputs=${labels.length}:duration=longest:dropout_transition=0,` +
          `volume=${labels.length},atrim=end_sample=${samples}[aout]`,
      );
    }
    audioOut = 'aout';
  }

  const filter = chains.join(';\n');
  args.push('-filter_complex', filter);
  const final = input.finalOutput;
  if (videoOut) {
    args.push('-map', `[${videoOut}]`, '-frames:v', String(frames));
    args.push('-c:v', 'libx264', '-preset', layout.preset, '-crf', String(layout.crf));
    args.push('-pix_fmt', 'yuv420p', '-g', String(Math.max(1, Math.round(layout.fps * 4))));
    // No B-frames in pieces: they are joined with -c copy, and a B-frame encoder's first decode
    // timestamps would fall before the previous piece's last ones.
    if (!final) args.push('-bf', '0');
    if (input.threads) args.push('-threads', String(input.threads));
    if (!final) args.push('-f', 'mp4', '-y', input.videoOutput!);
  }
  if (audioOut && final) {
    args.push('-map', `[${audioOut}]`, '-c:a', 'aac', '-b:a', String(layout.audioBitrate), '-ar', '48000');
    args.push('-ac', '2');
  } else if (audioOut) {
    args.push(
      '-map',
      `[${audioOut}]`,
      '-c:a',
      'pcm_f32le',
      '-ar',
      '48000',
      '-ac',
      '2',
      '-f',
      'f32le',
      'pipe:1',
    );
  }
  if (final) {
    args.push('-t', sec(lenMs), '-max_muxing_queue_size', '4096', '-movflags', '+faststart', '-f', 'mp4');
    args.push('-y', final);
  }
  return { args, filter, periods, inputs, frames, samples: final ? 0 : samples };
}

export interface VideoPiece {
  file: string;
  frames: number;
}

/** The ffconcat list that joins the windows' video pieces (exact durations: no drift). */
export function concatList(pieces: VideoPiece[], fps: number): string {
  const quote = (f: string) => `'${f.replace(/'/g, "'\\''")}'`;
  return (
    [
      'ffconcat version 1.0',
      ...pieces.flatMap((p) => [`file ${quote(p.file)}`, `duration ${(p.frames / fps).toFixed(6)}`]),
    ].join('\n') + '\n'
  );
}

/**
 * The last step: the joined video pieces and the continuously encoded AAC, copied (no encoding)
 * into the final MP4, its index up front for browsers.
 */
export function planMux(opts: {
  videoList: string | null;
  audioFile: string | null;
  /** Shift of the audio, s: minus the encoder's priming, which the MP4's edit list then skips. */
  audioOffsetS?: number;
  durationMs: number;
  output: string;
}): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats'];
  let n = 0;
  if (opts.videoList) args.push('-f', 'concat', '-safe', '0', '-i', opts.videoList);
  if (opts.audioFile) {
    if (opts.audioOffsetS) args.push('-itsoffset', opts.audioOffsetS.toFixed(6));
    args.push('-i', opts.audioFile);
  }
  if (opts.videoList) args.push('-map', `${n++}:v:0`);
  if (opts.audioFile) args.push('-map', `${n++}:a:0`);
  args.push(
    '-c',
    'copy',
    '-t',
    sec(opts.durationMs),
    '-max_muxing_queue_size',
    '4096',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    '-y',
    opts.output,
  );
  return args;
}
