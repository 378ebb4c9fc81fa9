/**
 * Recording one room: the parent-side API. Each recording runs in its own child process
 * (process.ts, started with child_process.fork); this side only taps the participants' tracks on
 * the room's MediaRouter (plain RTP over UDP on 127.0.0.1 to the ports the child opens) and turns
 * the child's messages into typed events. A crash of the child touches neither the router nor
 * any other recording: its taps are removed, its ffmpeg processes are killed (the child leads its
 * own process group) and 'failed' (100105) is emitted.
 *
 *   const rec = await startRecording({ recordId, outputDir, mediaType, ffmpegPath, router })
 *       rejects with RecordingError 100101 (output directory not writable), 100001 (the child
 *       did not start or answer).
 *   rec.addParticipant(participantId, uid)   records its live tracks (of the kinds mediaType
 *       wants) and those it publishes later; removeParticipant(participantId) stops them.
 *   await rec.stop() → RecordingResult { file, recordStartTime, durationMs, mediaType, streams, ... }
 *       idempotent; rejects with the RecordingError already emitted as 'failed'.
 *   rec.abort()   kills the child, removes the taps, no file, no event.
 *   recoverRecording({ recordId, outputDir, ffmpegPath }).result → the file of a recording whose
 *       server died with it, made from its journal and captures (recover.ts); see
 *       recover-recording.ts.
 * Call stop() when the room ends, before or after router.close() (a closed router's taps end
 * silently; the recording notices within 0.5 s and ends its streams).
 * Defaults: 1280x720 at 15 fps, libx264 'superfast' CRF 23, AAC 128 kb/s, maxMixedStreams 9,
 * 500301 after 5 s without packets, 500302 under 5 fps for 5 s, composeWindowMs 8000.
 *
 * The call is composed while it is recorded, in windows (windows.ts says how), so that stop()
 * does not wait for the whole call to be encoded: the file is ready ~1-2 s after stop() whatever
 * the call's length (the last window and a copy of the rest into the MP4), at the price of the
 * encoding's CPU during the call (niced) instead of after it. composeWindowMs: 0 composes all at
 * stop (finalization then grows with the call). RecordingResult.composedBeforeStopMs tells how
 * much was already done when stop() came. A window that fails during the call is not an error
 * (it is composed again at stop); failures at stop are reported as before.
 *
 * Events (all listeners run synchronously; a throwing listener is logged, not fatal):
 *   streamStarted(info)        first media packet of a stream reached the recorder
 *   streamRecorded(info)       a stream has been captured (its track ended, its participant was
 *                              removed, or the recording stopped) with media in it → callback 0
 *   warning(w)                 500301 stream disconnected, 500302 low frame rate, 50 other
 *                              (w.detail.reason: 'capture-restarted', 'max-mixed-streams-exceeded'
 *                              [contract code 100007], 'tap-failed', ...)
 *   progress(p)                stopping / composing, percent
 *   failed(err)                RecordingError { code, message, detail }: the recording is over
 *   crashed(info)              the child process died unexpectedly (followed by failed 100105)
 *
 * Failure codes and what triggers them:
 *   100001 the child process cannot be started, or does not answer its init within 15 s, or
 *          the configured ffmpeg cannot be run at all
 *   100003 a tap on a participant's track fails (reported as warning 50 with
 *          detail.contractCode 100003; the rest of the recording goes on)
 *   100004 at stop, no stream ever delivered media (of the kinds asked)
 *   100101 the output directory (or a capture file in it) cannot be created/written
 *   100102 ffmpeg fails while composing (at stop) or joining the final file, or the finalization
 *          exceeds composeTimeoutMs
 *   100103 the final file is empty or cannot be moved into place
 *   100105 the child process died (killed, crashed) before it delivered the result
 *   100106 a write failed because the disk is full (ENOSPC, EDQUOT, EIO, EFBIG)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { childEntry } from './child-entry.js';
import {
  RecordingCodes,
  type ChildInit,
  type ChildToParent,
  type LayoutOptions,
  type RecordingMediaType,
  type StreamSummary,
  type WarningOptions,
} from './protocol.js';
import { RecordingError, type StartRecordingOptions } from './recording-api.js';
import { Recording } from './recording-handle.js';

export { RecordingCodes };
export type { RecordingMediaType, LayoutOptions, WarningOptions, StreamSummary };
export {
  partsDir,
  RecordingError,
  type RecordedStreamInfo,
  type RecordingEvents,
  type RecordingResult,
  type RecordingState,
  type RecordingWarning,
  type StartRecordingOptions,
} from './recording-api.js';
export { Recording } from './recording-handle.js';
export {
  recoverRecording,
  type RecoveredRecording,
  type RecoverRecordingOptions,
  type RecoveryRun,
} from './recover-recording.js';

const DEFAULT_LAYOUT: LayoutOptions = {
  width: 1280,
  height: 720,
  fps: 15,
  preset: 'superfast',
  crf: 23,
  audioBitrate: 128_000,
  background: 'black',
};

/**
 * Starts a recording: forks its child process and waits for it to check the output directory.
 * See the header for the API, the events and the failure codes.
 */
export async function startRecording(opts: StartRecordingOptions): Promise<Recording> {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(opts.recordId) || opts.recordId.startsWith('.')) {
    throw new RecordingError(
      RecordingCodes.fileCreationFailed,
      `recordId not usable as a file name: ${opts.recordId}`,
    );
  }
  if (![0, 1, 2].includes(opts.mediaType)) {
    throw new RecordingError(
      RecordingCodes.connectFailed,
      `mediaType must be 0, 1 or 2 (got ${opts.mediaType})`,
    );
  }
  const maxMixed = opts.maxMixedStreams ?? 9;
  if (!Number.isInteger(maxMixed) || maxMixed < 1) {
    throw new RecordingError(RecordingCodes.connectFailed, 'maxMixedStreams must be an integer >= 1');
  }
  const windowMs = opts.composeWindowMs ?? 8000;
  if (!(windowMs === 0 || (Number.isInteger(windowMs / 1000) && windowMs >= 2000))) {
    throw new RecordingError(
      RecordingCodes.connectFailed,
      'composeWindowMs must be 0 or whole seconds of at least 2000 ms',
    );
  }
  const layout: LayoutOptions = { ...DEFAULT_LAYOUT, ...opts.layout };
  const warnings: WarningOptions = {
    disconnectAfterMs: opts.warnings?.disconnectAfterMs ?? 5000,
    lowFrameRate: { fps: 5, forMs: 5000, ...opts.warnings?.lowFrameRate },
  };
  const entry = childEntry();
  if (!existsSync(entry.file)) {
    throw new RecordingError(RecordingCodes.connectFailed, `recorder entry ${entry.file} is missing`);
  }
  let child: ChildProcess;
  try {
    child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      // Its own process group, so that its ffmpeg processes can be killed with it.
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
  } catch (err) {
    throw new RecordingError(
      RecordingCodes.connectFailed,
      `cannot start the recorder process: ${String(err)}`,
    );
  }
  const rec = new Recording(opts, child, maxMixed);
  const init: ChildInit = {
    type: 'init',
    recordId: opts.recordId,
    outputDir: path.resolve(opts.outputDir),
    mediaType: opts.mediaType,
    maxMixedStreams: maxMixed,
    ffmpegPath: opts.ffmpegPath,
    layout,
    warnings,
    keepParts: opts.keepParts ?? false,
    composeTimeoutMs: opts.composeTimeoutMs ?? 0,
    composeWindowMs: windowMs,
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      rec.abort();
      reject(
        new RecordingError(RecordingCodes.connectFailed, 'the recorder process did not answer within 15 s'),
      );
    }, 15_000);
    const onMessage = (m: unknown) => {
      const msg = m as ChildToParent;
      if (msg.type === 'ready') {
        cleanup();
        resolve();
      } else if (msg.type === 'failed') {
        cleanup();
        rec.abort();
        reject(new RecordingError(msg.code, msg.message, msg.detail ?? {}));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(
        new RecordingError(
          RecordingCodes.connectFailed,
          `the recorder process exited at start (${signal ?? code})`,
        ),
      );
    };
    const onError = (err: Error) => {
      cleanup();
      rec.abort();
      reject(
        new RecordingError(RecordingCodes.connectFailed, `cannot start the recorder process: ${err.message}`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
    child.send(init);
  });
  return rec;
}
