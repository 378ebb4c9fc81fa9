/**
 * Finding an ffmpeg that can record: the configured path, else `ffmpeg` on PATH. Each candidate
 * must run (`ffmpeg -version`) and have the encoders the final file needs (libx264, aac); the
 * first that passes wins, and every rejected one is reported with its reason.
 *
 * Why only the system's: the recorder decodes media that terminals send, i.e. untrusted input, so
 * the ffmpeg doing it must get security fixes. A distribution's ffmpeg does (Debian's is
 * security-maintained); the one the `@ffmpeg-installer/ffmpeg` npm package shipped, which was the
 * last fallback, is a build of December 2018 that never will. npm packages that ship a current
 * ffmpeg either download it at install time (which fails where only the npm registry is
 * reachable) or come under licences unfit for this project. Without a usable ffmpeg the server
 * still runs (calls work); recording is reported unavailable (createFfmpegLocator, /readyz).
 */
import { execFile } from 'node:child_process';

export type FfmpegSource = 'configured' | 'system';

/** What an operator does about a missing ffmpeg (start-up log, failure callbacks, API errors). */
export const FFMPEG_HELP =
  'recording needs ffmpeg with libx264 and aac: install it (Debian/Ubuntu: apt-get install ffmpeg) or set PARLEY_FFMPEG_PATH (ffmpegPath) to one';

export interface FfmpegLocation {
  path: string;
  source: FfmpegSource;
  /** First line of `ffmpeg -version`, e.g. "ffmpeg version 5.1.6-0+deb12u1 ...". */
  version: string;
  /** Version number as printed ("5.1.6-0+deb12u1", "N-47683-g0e8eb07980-static"). */
  versionNumber: string;
}

export interface FfmpegAttempt {
  source: FfmpegSource;
  path: string | null;
  ok: boolean;
  /** Why this candidate was not used (or was skipped). */
  reason?: string;
}

export class FfmpegNotFoundError extends Error {
  override readonly name = 'FfmpegNotFoundError';
  constructor(readonly attempts: FfmpegAttempt[]) {
    super(
      `no usable ffmpeg: ${attempts.map((a) => `${a.source} (${a.path ?? 'n/a'}): ${a.reason ?? 'ok'}`).join('; ')}; ${FFMPEG_HELP}`,
    );
  }
}

export interface LocateOptions {
  /** Path from the configuration; when set and unusable, the search goes on (and says why). */
  configuredPath?: string | null;
  /** Skip candidates (tests, or a deployment that wants only the configured one). */
  sources?: FfmpegSource[];
  /** Per-check timeout. Default 15000 (a large static binary's first start can be slow). */
  timeoutMs?: number;
  /** Encoders the candidate must have. Default ['libx264', 'aac']. */
  requiredEncoders?: string[];
  /** Environment the candidates run in (its PATH finds the system's). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

function run(path: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, windowsHide: true, ...(env ? { env } : {}) },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          const why =
            e.code === 'ENOENT'
              ? 'not found'
              : e.code === 'EACCES'
                ? 'not executable (permission denied)'
                : e.killed
                  ? `did not answer within ${timeoutMs} ms`
                  : `failed: ${String(stderr || e.message)
                      .trim()
                      .split('\n')
                      .slice(-2)
                      .join(' ')}`;
          reject(new Error(why));
          return;
        }
        resolve(String(stdout));
      },
    );
  });
}

/** Checks one binary: runs `-version` and `-encoders`. Resolves to its version line, or rejects with the reason. */
export async function checkFfmpeg(
  path: string,
  opts: { timeoutMs?: number; requiredEncoders?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<{ version: string; versionNumber: string }> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const out = await run(path, ['-hide_banner', '-version'], timeoutMs, opts.env);
  const version = out.split('\n')[0]?.trim() ?? '';
  const m = /^ffmpeg version (\S+)/.exec(version);
  if (!m) throw new Error(`does not look like ffmpeg (said: ${version.slice(0, 80)})`);
  const required = opts.requiredEncoders ?? ['libx264', 'aac'];
  if (required.length > 0) {
    const encoders = await run(path, ['-hide_banner', '-encoders'], timeoutMs, opts.env);
    const names = new Set(
      encoders
        .split('\n')
        .map((l) => /^\s*[VAS][.\w]{5}\s+(\S+)/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined),
    );
    const missing = required.filter((e) => !names.has(e));
    if (missing.length > 0) throw new Error(`lacks encoder(s) ${missing.join(', ')}`);
  }
  return { version, versionNumber: m[1]! };
}

/**
 * Finds a usable ffmpeg (see the header). Resolves to the first that passes; rejects with
 * FfmpegNotFoundError listing every candidate and why it was rejected.
 */
export async function locateFfmpeg(
  opts: LocateOptions = {},
): Promise<FfmpegLocation & { attempts: FfmpegAttempt[] }> {
  const sources = opts.sources ?? ['configured', 'system'];
  const attempts: FfmpegAttempt[] = [];
  for (const source of ['configured', 'system'] as const) {
    if (!sources.includes(source)) continue;
    let path: string;
    if (source === 'configured') {
      if (!opts.configuredPath) {
        attempts.push({ source, path: null, ok: false, reason: 'no path configured' });
        continue;
      }
      path = opts.configuredPath;
    } else {
      path = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';
    }
    try {
      const checkOpts: { timeoutMs?: number; requiredEncoders?: string[]; env?: NodeJS.ProcessEnv } = {};
      if (opts.timeoutMs !== undefined) checkOpts.timeoutMs = opts.timeoutMs;
      if (opts.requiredEncoders !== undefined) checkOpts.requiredEncoders = opts.requiredEncoders;
      if (opts.env !== undefined) checkOpts.env = opts.env;
      const v = await checkFfmpeg(path, checkOpts);
      attempts.push({ source, path, ok: true });
      return { path, source, version: v.version, versionNumber: v.versionNumber, attempts };
    } catch (err) {
      attempts.push({ source, path, ok: false, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  throw new FfmpegNotFoundError(attempts);
}

/** Whether recording can run now, and why not (the /readyz `recording` field). */
export interface RecorderAvailability {
  /** null until the first look (at start-up) has finished. */
  available: boolean | null;
  ffmpeg?: { path: string; source: FfmpegSource; version: string };
  reason?: string;
}

export interface FfmpegLocator {
  /** Resolves to a checked ffmpeg, or rejects with FfmpegNotFoundError (looked for again next time). */
  locate(): Promise<string>;
  availability(): RecorderAvailability;
}

/**
 * The server's ffmpeg: looked for at start-up and again whenever a recording needs one while none
 * was found (an operator may install it without a restart). Logs once when it goes missing (with
 * what to do), once when it is found; not once per recording.
 */
export function createFfmpegLocator(
  configuredPath: string | null,
  log: { info(o: object, msg: string): void; error(o: object, msg: string): void },
): FfmpegLocator {
  let found: Promise<string> | null = null;
  let state: RecorderAvailability = { available: null };
  return {
    locate: () =>
      (found ??= locateFfmpeg({ configuredPath }).then(
        (f) => {
          if (state.available !== true) {
            log.info(
              { ffmpeg: f.path, source: f.source, version: f.versionNumber },
              'recorder: ffmpeg found',
            );
          }
          state = { available: true, ffmpeg: { path: f.path, source: f.source, version: f.versionNumber } };
          return f.path;
        },
        (err: unknown) => {
          found = null;
          const reason = err instanceof Error ? err.message : String(err);
          if (state.available !== false) {
            log.error(
              { attempts: err instanceof FfmpegNotFoundError ? err.attempts : undefined },
              `recording unavailable: ${reason}. Calls work; recordings fail with 100001 until ffmpeg is there.`,
            );
          }
          state = { available: false, reason };
          throw err;
        },
      )),
    availability: () => state,
  };
}
