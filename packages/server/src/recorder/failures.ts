/** The failures that end a recording in the child, and how an error is told apart from another. */
import { RecordingCodes, type RecordingFailureCode } from './protocol.js';

/** Ends the recording with `code` (RecorderSession.fail reports it to the parent, and exits). */
export class Fatal extends Error {
  constructor(
    readonly code: RecordingFailureCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** errno codes that mean "the disk is full / the write failed" rather than "cannot create". */
export const DISK_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EFBIG']);
export const DISK_TEXT = /No space left on device|Disk quota exceeded|Input\/output error|File too large/i;
export const CREATE_TEXT =
  /Permission denied|No such file or directory|Read-only file system|Not a directory/i;

export function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? '';
}

/** The failure a broken step of the finalization means (100106 when the disk is full). */
export function composeFatal(
  r: { code: number | null; stderr: string; timedOut?: boolean; error?: string },
  timeoutMs: number,
) {
  const tail = r.stderr.trim().split('\n').slice(-8).join('\n');
  if (DISK_TEXT.test(r.stderr)) {
    return new Fatal(RecordingCodes.diskFull, 'writing the final file failed: disk full or write error', {
      stderr: tail,
    });
  }
  return new Fatal(
    RecordingCodes.conversionFailed,
    r.timedOut
      ? `composing the final file took longer than ${timeoutMs} ms`
      : `ffmpeg could not compose the final file (${r.error ?? `exit code ${r.code}`})`,
    { stderr: tail },
  );
}
