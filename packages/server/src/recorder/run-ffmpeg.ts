/** The ffmpeg runs of the recorder child other than the captures (stream.ts): windows, probes, the join. */
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority as osSetPriority } from 'node:os';
import type { RecorderSession } from './session.js';
import { BACKGROUND_NICE } from './timing.js';

export interface RunResult {
  code: number | null;
  stderr: string;
  stdout: Buffer;
  timedOut?: boolean;
  error?: string;
}

/** Runs ffmpeg to its end (killed past timeoutMs); background runs are niced. */
export function runFfmpeg(
  session: RecorderSession,
  args: string[],
  opts: { background?: boolean; collect?: boolean; timeoutMs: number },
): Promise<RunResult> {
  const cfg = session.config!;
  const { niceBin, children, backgroundProcs } = session;
  if (opts.background && session.stopping) {
    return Promise.resolve({ code: null, stderr: '', stdout: Buffer.alloc(0), error: 'stopping' });
  }
  const nice = opts.background && niceBin;
  const proc = spawn(
    nice ? niceBin! : cfg.ffmpegPath,
    nice ? ['-n', String(BACKGROUND_NICE), cfg.ffmpegPath, ...args] : args,
    { stdio: ['ignore', opts.collect ? 'pipe' : 'ignore', 'pipe'] },
  );
  if (opts.background && !niceBin && proc.pid !== undefined) {
    try {
      osSetPriority(proc.pid, BACKGROUND_NICE);
    } catch {
      // not allowed: it runs at normal priority
    }
  }
  children.add(proc);
  if (opts.background) backgroundProcs.add(proc);
  const out: Buffer[] = [];
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => out.push(d));
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-6000);
  });
  return new Promise<RunResult>((resolve) => {
    let settled = false;
    const done = (r: Omit<RunResult, 'stderr' | 'stdout'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      children.delete(proc);
      backgroundProcs.delete(proc);
      resolve({ ...r, stderr, stdout: Buffer.concat(out) });
    };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      done({ code: null, timedOut: true });
    }, opts.timeoutMs);
    proc.on('error', (err) => done({ code: null, error: String(err) }));
    // 'close': stdout is fully read by then.
    proc.on('close', (code) => done({ code }));
  });
}

/** SIGINT, then SIGKILL: the NUT chunks are complete either way (segment.ts). */
export function stopProcess(proc: ChildProcess, graceMs = 200): void {
  try {
    proc.kill('SIGINT');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }, graceMs);
  t.unref();
}
