/**
 * Finishing a recording whose server died with it: a fresh recorder child makes the file from the
 * journal and captures the dead one left (journal.ts, recover.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { SfuLogger } from '../sfu/types.js';
import { childEntry } from './child-entry.js';
import { RecordingCodes, type ChildRecover, type ChildToParent } from './protocol.js';
import { RecordingError, silentLog, type RecordedStreamInfo, type RecordingResult } from './recording-api.js';

export interface RecoverRecordingOptions {
  recordId: string;
  /** Where the recording was being written (its `${recordId}.parts/` is there). */
  outputDir: string;
  ffmpegPath: string;
  log?: SfuLogger;
}

export interface RecoveredRecording extends RecordingResult {
  /** Streams still being recorded when the server died (their 0 callback was never sent). */
  streamsEnded: RecordedStreamInfo[];
}

export interface RecoveryRun {
  /** Resolves with the file made from what was captured; rejects with a RecordingError. */
  result: Promise<RecoveredRecording>;
  /** Kills the recovery (server shutdown): its captures stay for the next start. */
  abort(): void;
}

/**
 * Finishes a recording whose server died with it (kill -9, power loss): a recorder child process
 * reads its journal and captures (journal.ts) and makes the final file as a stop would, from what
 * reached the disk. Rejects with 100004 when there is nothing usable.
 */
export function recoverRecording(opts: RecoverRecordingOptions): RecoveryRun {
  const log = opts.log ?? silentLog;
  const entry = childEntry();
  let child: ChildProcess | null = null;
  const result = new Promise<RecoveredRecording>((resolve, reject) => {
    if (!existsSync(entry.file)) {
      reject(new RecordingError(RecordingCodes.connectFailed, `recorder entry ${entry.file} is missing`));
      return;
    }
    const proc = fork(entry.file, [], {
      execArgv: entry.execArgv,
      detached: process.platform !== 'win32',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child = proc;
    const ended: string[] = [];
    let settled = false;
    proc.on('message', (m) => {
      const msg = m as ChildToParent;
      if (msg.type === 'streamEnded' && msg.ok) ended.push(msg.streamId);
      else if (msg.type === 'failed' && !settled) {
        settled = true;
        reject(new RecordingError(msg.code, msg.message, msg.detail ?? {}));
      } else if (msg.type === 'done' && !settled) {
        settled = true;
        const summary = msg.summary;
        const streamsEnded = summary.streams
          .filter((s) => ended.includes(s.streamId))
          .map((s) => ({
            streamId: s.streamId,
            participantId: s.participantId,
            uid: s.uid,
            kind: s.kind,
            trackId: '',
          }));
        resolve({ recordId: opts.recordId, ...summary, streamsEnded });
      }
    });
    proc.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(
        new RecordingError(RecordingCodes.connectFailed, `cannot start the recorder process: ${err.message}`),
      );
    });
    proc.on('exit', (code, signal) => {
      if (proc.pid !== undefined && process.platform !== 'win32') {
        try {
          process.kill(-proc.pid, 'SIGKILL'); // its ffmpeg processes, if any are left
        } catch {
          // none
        }
      }
      if (settled) return;
      settled = true;
      log.error({ recordId: opts.recordId, code, signal }, 'recorder: recovery process died');
      reject(
        new RecordingError(
          RecordingCodes.processCrashed,
          `the recovery process died (${signal ?? `exit code ${code}`})`,
          { exitCode: code, signal },
        ),
      );
    });
    proc.send({
      type: 'recover',
      recordId: opts.recordId,
      outputDir: path.resolve(opts.outputDir),
      ffmpegPath: opts.ffmpegPath,
    } satisfies ChildRecover);
  });
  result.catch(() => undefined);
  return {
    result,
    abort() {
      const pid = (child as ChildProcess | null)?.pid;
      if (pid === undefined) return;
      try {
        if (process.platform !== 'win32') process.kill(-pid, 'SIGKILL');
        else (child as ChildProcess | null)?.kill('SIGKILL');
      } catch {
        // gone
      }
    },
  };
}
