/** The types and the error of the recording API (recording.ts documents it). */
import path from 'node:path';
import type { MediaRouter } from '../sfu/router.js';
import type { SfuLogger } from '../sfu/types.js';
import type { MediaKind } from '../rtp/types.js';
import type {
  LayoutOptions,
  RecordingFailureCode,
  RecordingMediaType,
  RecordingSummary,
  RecordingWarningCode,
  WarningOptions,
} from './protocol.js';

export class RecordingError extends Error {
  override readonly name = 'RecordingError';
  constructor(
    readonly code: RecordingFailureCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface StartRecordingOptions {
  /** Also the file name: letters, digits, '.', '_' and '-' only. */
  recordId: string;
  /** The final file is `${outputDir}/${recordId}.mp4`; captures go to `${recordId}.parts/` there. */
  outputDir: string;
  mediaType: RecordingMediaType;
  /** Most video tiles shown at once (earliest joiners first). Default 9. */
  maxMixedStreams?: number;
  /** A checked ffmpeg (see locateFfmpeg()). */
  ffmpegPath: string;
  router: MediaRouter;
  layout?: Partial<LayoutOptions>;
  warnings?: Partial<Omit<WarningOptions, 'lowFrameRate'>> & {
    lowFrameRate?: Partial<WarningOptions['lowFrameRate']>;
  };
  /** Keep the per-stream captures after a successful compose (debugging). Default false. */
  keepParts?: boolean;
  /**
   * Leave `${recordId}.parts/` (by then only its journal, which names the final file) for the
   * caller to remove once it has stored the file, so that a crash before that costs nothing
   * (recoverRecording finds the file). Default false: removed before stop() resolves.
   */
  keepJournal?: boolean;
  /** Longest the finalization may take (beyond it: 100102). Default 120 s + 3 x the recording's duration. */
  composeTimeoutMs?: number;
  /**
   * The call is composed during the recording, one window of this length at a time (ms, whole
   * seconds, at least 2000), so that stop() only has the last one left. 0: everything at stop
   * (finalization then grows with the call's length). Default 8000.
   */
  composeWindowMs?: number;
  log?: SfuLogger;
}

export interface RecordedStreamInfo {
  streamId: string;
  participantId: string;
  uid: string;
  kind: MediaKind;
  trackId: string;
}

export interface RecordingWarning {
  code: RecordingWarningCode;
  uid?: string;
  kind?: MediaKind;
  detail: Record<string, unknown>;
}

export interface RecordingResult extends RecordingSummary {
  recordId: string;
}

export interface RecordingEvents {
  streamStarted: [RecordedStreamInfo & { at: number }];
  streamRecorded: [RecordedStreamInfo];
  warning: [RecordingWarning];
  progress: [{ phase: 'stopping' | 'composing'; percent: number }];
  failed: [RecordingError];
  crashed: [{ exitCode: number | null; signal: string | null }];
}

export type RecordingState = 'recording' | 'stopping' | 'done' | 'failed';

export const silentLog: SfuLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Where a recording's captures and journal are. */
export const partsDir = (outputDir: string, recordId: string) =>
  path.join(path.resolve(outputDir), `${recordId}.parts`);
