import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { RecorderSession } from './session.js';

/**
 * The AAC of the whole call: ONE encoder fed each window's mixed audio (PCM) in turn, for the whole
 * call, because AAC pieces joined end to end would click at every seam (each encoder primes and pads).
 */
export class AudioEncoder {
  readonly file: string;
  readonly proc: ChildProcess;
  stderr = '';
  broken = false;
  #ending = false;
  readonly #done: Promise<number | null>;

  constructor(session: RecorderSession) {
    const cfg = session.config!;
    const children = session.children;
    this.file = path.join(session.workDir, 'audio.aac');
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'f32le', '-ar', '48000', '-ac', '2'].concat([
      '-i',
      'pipe:0',
      '-c:a',
      'aac',
      '-b:a',
      String(cfg.layout.audioBitrate),
      '-f',
      'adts',
      '-y',
      this.file,
    ]);
    this.proc = spawn(cfg.ffmpegPath, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    children.add(this.proc);
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc.stdin?.on('error', () => {
      this.broken = true;
    });
    this.#done = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.broken = true;
        this.stderr += String(err);
        children.delete(this.proc);
        resolve(-1);
      });
      this.proc.on('exit', (code) => {
        children.delete(this.proc);
        if (!this.#ending || code !== 0) this.broken = true;
        resolve(code);
      });
    });
  }

  write(pcm: Buffer): Promise<void> {
    if (this.broken) return Promise.reject(new Error('the audio encoder is gone'));
    return new Promise((resolve, reject) => {
      this.proc.stdin!.write(pcm, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Ends its input; resolves to its exit code once the file is complete. */
  finish(): Promise<number | null> {
    this.#ending = true;
    this.proc.stdin?.end();
    return this.#done;
  }

  kill(): void {
    this.#ending = true;
    this.proc.kill('SIGKILL');
  }
}
