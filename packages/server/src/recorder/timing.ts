/** The timing of the composition during the call and at stop (windows.ts says why it is so). */
import type { ChildInit } from './protocol.js';

/** A window is composed this long after its end: the captures' reorder delay, with a margin. */
export const LAG_MS = 1500;
/** Video chunks are cut this long before a window boundary: a tile's pre-roll and a keyframe's way. */
export const CUT_LEAD_MS = 1500;
/** How long a new video may wait for the sender reports that place it (lip sync). */
export const SYNC_WAIT_MS = 6000;
/** Windows composed at stop are at most this long (all of them when composing during the call is off). */
export const STOP_WINDOW_MS = 30_000;
/** Niceness of the windows composed during the call. */
export const BACKGROUND_NICE = 10;
/** At stop, the rest is composed in parallel parts of at least this long, at most this many at once. */
export const MIN_STOP_PART_MS = 2500;
export const MAX_PARALLEL_WINDOWS = 3;
/** A call this short with nothing composed at stop is composed in one pass into the final file. */
export const DIRECT_MAX_MS = 20_000;
/** How long a capture may take to end by itself at stop before it is killed. */
export const STOP_GRACE_MS = 50;
/** The audio's AAC encoder delays it by 1024 samples ("priming"), which the final MP4 skips. */
export const AAC_PRIMING_S = 1024 / 48000;

export const chunkLengthMs = (cfg: ChildInit) =>
  cfg.composeWindowMs > 0 ? cfg.composeWindowMs : STOP_WINDOW_MS;
