/** The recorder: one child process per recording; see recording.ts for the API and events. */
export {
  Recording,
  RecordingCodes,
  RecordingError,
  startRecording,
  type RecordedStreamInfo,
  type RecordingEvents,
  type RecordingResult,
  type RecordingState,
  type RecordingWarning,
  type StartRecordingOptions,
} from './recording.js';
export type {
  LayoutOptions,
  RecordingFailureCode,
  RecordingMediaType,
  RecordingSummary,
  RecordingWarningCode,
  SegmentSummary,
  StreamSummary,
  WarningOptions,
} from './protocol.js';
export {
  checkFfmpeg,
  FfmpegNotFoundError,
  locateFfmpeg,
  npmFfmpegPath,
  type FfmpegAttempt,
  type FfmpegLocation,
  type FfmpegSource,
  type LocateOptions,
} from './ffmpeg.js';
export {
  concatList,
  gridRects,
  layoutPeriods,
  planCompose,
  planMux,
  planWindow,
  type ComposePlan,
  type LayoutPeriod,
  type WindowPlan,
} from './layout.js';
