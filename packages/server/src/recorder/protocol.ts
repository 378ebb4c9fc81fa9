/**
 * What the recorder's parent (recording.ts) and its child process (process.ts) say to each other
 * over the IPC channel (JSON), and the contract codes they report. Plain data only.
 */
import type { MediaKind, RtpCodec } from '../rtp/types.js';

/** mPaaS recording codes this module reports (see docs in recording.ts for what triggers each). */
export const RecordingCodes = {
  /** Warning: a stream stopped arriving (for disconnectAfterMs). */
  streamDisconnected: 500301,
  /** Warning: a video stream's frame rate stayed below lowFrameRate.fps for lowFrameRate.forMs. */
  lowFrameRate: 500302,
  /** Warning of another kind (detail.reason says which). */
  otherWarning: 50,
  /** The recorder process could not be started or did not answer. */
  connectFailed: 100001,
  /** A tap on a participant's track could not be set up. */
  subscribeFailed: 100003,
  /** Nothing was recorded: no subscribed stream delivered media. */
  streamsMissing: 100004,
  /** The output directory or a recording file could not be created. */
  fileCreationFailed: 100101,
  /** ffmpeg failed to compose / convert the final file. */
  conversionFailed: 100102,
  /** The final file could not be moved into place or is missing/empty. */
  savingFailed: 100103,
  /** The recorder process died (killed, crashed). */
  processCrashed: 100105,
  /** The disk is full or a write failed. */
  diskFull: 100106,
} as const;

export type RecordingFailureCode =
  | typeof RecordingCodes.connectFailed
  | typeof RecordingCodes.subscribeFailed
  | typeof RecordingCodes.streamsMissing
  | typeof RecordingCodes.fileCreationFailed
  | typeof RecordingCodes.conversionFailed
  | typeof RecordingCodes.savingFailed
  | typeof RecordingCodes.processCrashed
  | typeof RecordingCodes.diskFull;

export type RecordingWarningCode =
  | typeof RecordingCodes.streamDisconnected
  | typeof RecordingCodes.lowFrameRate
  | typeof RecordingCodes.otherWarning;

/** 0 audio+video (grid + mix) · 1 audio only · 2 video only (contract values). */
export type RecordingMediaType = 0 | 1 | 2;

export interface LayoutOptions {
  /** Canvas of the composed video. Default 1280x720. */
  width: number;
  height: number;
  /** Frame rate of the composed video. Default 15. */
  fps: number;
  /**
   * libx264 preset. Default 'superfast'. The call is composed while it goes on (in windows, see
   * composeWindowMs), so the encoding costs CPU during the call rather than time at its end: for
   * a 2-person call about 0.14 s of CPU per second of call (decoding, drawing and encoding
   * together). 'ultrafast' saves only ~10% of that for files ~45% larger; 'veryfast' costs ~40%
   * more encoding for files ~45% smaller.
   */
  preset: string;
  /** libx264 CRF. Default 23. */
  crf: number;
  /** AAC bitrate (bits/s). Default 128000. */
  audioBitrate: number;
  /** Canvas colour behind and between tiles (ffmpeg colour syntax). Default 'black'. */
  background: string;
}

export interface WarningOptions {
  /** 500301 when a stream sends nothing for this long. Default 5000. 0 = never. */
  disconnectAfterMs: number;
  /** 500302 when a video stream's frame rate stays below fps for forMs. fps 0 = never. Default 5 fps for 5000 ms. */
  lowFrameRate: { fps: number; forMs: number };
}

export interface ChildInit {
  type: 'init';
  recordId: string;
  outputDir: string;
  mediaType: RecordingMediaType;
  maxMixedStreams: number;
  ffmpegPath: string;
  layout: LayoutOptions;
  warnings: WarningOptions;
  keepParts: boolean;
  /** Longest the finalization may take, ms (beyond it: 100102); 0 = 120 s + 3 x the duration. */
  composeTimeoutMs: number;
  /** Length of the windows composed during the call, ms (whole seconds); 0 = all at stop. */
  composeWindowMs: number;
}

export interface ChildAddStream {
  type: 'addStream';
  streamId: string;
  uid: string;
  participantId: string;
  kind: MediaKind;
  ssrc: number;
  codecs: RtpCodec[];
}

export interface ChildRemoveStream {
  type: 'removeStream';
  streamId: string;
}

export interface ChildStop {
  type: 'stop';
}

/**
 * Finish a recording a dead process left behind, from its journal and captures on disk
 * (journal.ts): the child answers 'streamEnded' for the streams still open then, and 'done' or
 * 'failed' as at stop.
 */
export interface ChildRecover {
  type: 'recover';
  recordId: string;
  outputDir: string;
  ffmpegPath: string;
}

export type ParentToChild = ChildInit | ChildAddStream | ChildRemoveStream | ChildStop | ChildRecover;

/** One continuous piece of a stream: one ffmpeg capture, one file. */
export interface SegmentSummary {
  file: string;
  /** Server time (epoch ms) of its first packet. */
  startAt: number;
  /** Offset of its first / last packet from the recording's start (recordStartTime), ms. */
  startMs: number;
  endMs: number;
  packets: number;
  bytes: number;
}

export interface StreamSummary {
  streamId: string;
  uid: string;
  participantId: string;
  kind: MediaKind;
  /** Whether any of it made it into the final file. */
  recorded: boolean;
  /** Offsets from recordStartTime (ms) of its first and last recorded packet (null if none). */
  startMs: number | null;
  endMs: number | null;
  packets: number;
  frames: number;
  keyFrames: number;
  segments: SegmentSummary[];
  /** Lip-sync correction applied to its video from RTCP sender reports, ms (0 if none). */
  syncCorrectionMs: number;
}

export interface RecordingSummary {
  /** The final MP4. */
  file: string;
  bytes: number;
  /** Server time (epoch ms) of the first recorded frame. */
  recordStartTime: number;
  durationMs: number;
  mediaType: RecordingMediaType;
  streams: StreamSummary[];
  /** From the stop request to the file in place, ms. */
  finalizeMs: number;
  /** Of which stopping the captures, ms (the rest is the compose). */
  captureStopMs: number;
  /** How much of the call (ms from its start) had been composed during the call when stop() came. */
  composedBeforeStopMs?: number;
  /** Windows composed in all (during the call and at stop). */
  composeWindows?: number;
  /**
   * Made after a crash of the server (recoverRecording): 'composed' from the captures, cut short
   * where they end; 'already-complete' when the file had been made and only storing it was cut.
   */
  recovery?: 'composed' | 'already-complete';
}

export type ChildToParent =
  | { type: 'ready' }
  | { type: 'streamReady'; streamId: string; port: number }
  | { type: 'streamStarted'; streamId: string; at: number }
  | {
      type: 'streamEnded';
      streamId: string;
      /** At least one segment with media was written. */
      ok: boolean;
      packets: number;
    }
  | { type: 'keyFrameRequest'; streamId: string }
  | {
      type: 'warning';
      code: RecordingWarningCode;
      streamId?: string;
      detail: Record<string, unknown>;
    }
  | { type: 'progress'; phase: 'stopping' | 'composing'; percent: number }
  | { type: 'failed'; code: RecordingFailureCode; message: string; detail?: Record<string, unknown> }
  | { type: 'done'; summary: RecordingSummary };
