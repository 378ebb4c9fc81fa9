/**
 * Finding an ffmpeg that can record: the configured path, else `ffmpeg` on PATH, else the binary
 * shipped inside the `@ffmpeg-installer/ffmpeg` npm package (so `npm install` alone gives a
 * working recorder). Each candidate must run (`ffmpeg -version`) and have the encoders the final
 * file needs (libx264, aac); the first that passes wins, and every rejected one is reported with
 * its reason.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

export type FfmpegSource = 'configured' | 'system' | 'npm';

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
      `no usable ffmpeg: ${attempts.map((a) => `${a.source} (${a.path ?? 'n/a'}): ${a.reason ?? 'ok'}`).join('; ')}`,
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
}

function run(path: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, windowsHide: true },
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
  opts: { timeoutMs?: number; requiredEncoders?: string[] } = {},
): Promise<{ version: string; versionNumber: string }> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const out = await run(path, ['-hide_banner', '-version'], timeoutMs);
  const version = out.split('\n')[0]?.trim() ?? '';
  const m = /^ffmpeg version (\S+)/.exec(version);
  if (!m) throw new Error(`does not look like ffmpeg (said: ${version.slice(0, 80)})`);
  const required = opts.requiredEncoders ?? ['libx264', 'aac'];
  if (required.length > 0) {
    const encoders = await run(path, ['-hide_banner', '-encoders'], timeoutMs);
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

/** The path of @ffmpeg-installer/ffmpeg's binary, or the reason there is none. */
export function npmFfmpegPath(): { path: string } | { reason: string } {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    if (typeof mod.path !== 'string') return { reason: 'the package exports no path' };
    return { path: mod.path };
  } catch (err) {
    // The package throws plain strings for an unsupported platform or a missing binary.
    const msg = err instanceof Error ? err.message : String(err);
    if (/Cannot find module '@ffmpeg-installer\/ffmpeg'/.test(msg)) {
      return { reason: 'package @ffmpeg-installer/ffmpeg is not installed' };
    }
    return { reason: msg.split('\n')[0] ?? msg };
  }
}

/**
 * Finds a usable ffmpeg (see the header). Resolves to the first that passes; rejects with
 * FfmpegNotFoundError listing every candidate and why it was rejected.
 */
export async function locateFfmpeg(
  opts: LocateOptions = {},
): Promise<FfmpegLocation & { attempts: FfmpegAttempt[] }> {
  const sources = opts.sources ?? ['configured', 'system', 'npm'];
  const attempts: FfmpegAttempt[] = [];
  for (const source of ['configured', 'system', 'npm'] as const) {
    if (!sources.includes(source)) continue;
    let path: string;
    if (source === 'configured') {
      if (!opts.configuredPath) {
        attempts.push({ source, path: null, ok: false, reason: 'no path configured' });
        continue;
      }
      path = opts.configuredPath;
    } else if (source === 'system') {
      path = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';
    } else {
      const found = npmFfmpegPath();
      if ('reason' in found) {
        attempts.push({ source, path: null, ok: false, reason: found.reason });
        continue;
      }
      path = found.path;
    }
    try {
      const checkOpts: { timeoutMs?: number; requiredEncoders?: string[] } = {};
      if (opts.timeoutMs !== undefined) checkOpts.timeoutMs = opts.timeoutMs;
      if (opts.requiredEncoders !== undefined) checkOpts.requiredEncoders = opts.requiredEncoders;
      const v = await checkFfmpeg(path, checkOpts);
      attempts.push({ source, path, ok: true });
      return { path, source, version: v.version, versionNumber: v.versionNumber, attempts };
    } catch (err) {
      attempts.push({ source, path, ok: false, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  throw new FfmpegNotFoundError(attempts);
}
