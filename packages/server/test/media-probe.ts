/** ffprobe of a media file, for tests that check what was really written. */
import { execFile } from 'node:child_process';
import path from 'node:path';

export function run(file: string, args: string[], timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { encoding: 'buffer', timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${path.basename(file)} failed: ${stderr.toString().slice(-500)}`));
        else resolve(stdout);
      },
    );
  });
}

export interface Probe {
  streams: { codec_type: string; codec_name: string; width?: number; height?: number; duration?: string }[];
  format: { duration: string; format_name: string };
}

export async function ffprobe(file: string): Promise<Probe> {
  const out = await run('/usr/bin/ffprobe', [
    '-v',
    'error',
    '-show_streams',
    '-show_format',
    '-of',
    'json',
    file,
  ]);
  return JSON.parse(out.toString()) as Probe;
}

/** "h264+aac" style summary of a probe's streams, video first. */
export function codecs(probe: Probe): string {
  return probe.streams
    .map((s) => `${s.codec_type}:${s.codec_name}`)
    .sort((a, b) => (a.startsWith('video') ? -1 : b.startsWith('video') ? 1 : 0))
    .join('+');
}
