/**
 * Real encoded media for the recorder tests, made once per run by Debian's ffmpeg: a lavfi test
 * picture (VP8 or H.264) and a tone (Opus), packetized by ffmpeg's own RTP muxer and caught on
 * 127.0.0.1, so the tests replay genuine RTP (a keyframe every second, 15 fps by default) without a
 * browser.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';

export interface RtpClip {
  kind: 'audio' | 'video';
  clockRate: number;
  payloadType: number;
  /** Packets in sending order. */
  packets: Buffer[];
}

export interface ClipOptions {
  seconds: number;
  video: 'vp8' | 'h264';
  /** lavfi video source, e.g. 'testsrc' or 'testsrc2'. */
  picture: string;
  /** Tone frequency (Hz). */
  tone: number;
  width?: number;
  height?: number;
  /** Default 15. */
  fps?: number;
  /** Video bitrate, bits/s. Default 250000. */
  videoBitrate?: number;
}

function listen(): Promise<{ socket: Socket; port: number; packets: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const packets: Buffer[] = [];
    socket.on('message', (m) => packets.push(Buffer.from(m)));
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      try {
        socket.setRecvBufferSize(8 << 20);
      } catch {
        // capped by the system
      }
      resolve({ socket, port: socket.address().port, packets });
    });
  });
}

function continuous(packets: Buffer[]): boolean {
  for (let i = 1; i < packets.length; i++) {
    if (((packets[i]!.readUInt16BE(2) - packets[i - 1]!.readUInt16BE(2)) & 0xffff) !== 1) return false;
  }
  return packets.length > 0;
}

/** Encodes `seconds` of picture + tone and returns them as RTP packets (bounded: 60 s). */
export async function makeClips(opts: ClipOptions): Promise<{ audio: RtpClip; video: RtpClip }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const a = await listen();
    const v = await listen();
    const size = `${opts.width ?? 320}x${opts.height ?? 240}`;
    const fps = opts.fps ?? 15;
    const bitrate = opts.videoBitrate ?? 250_000;
    const videoCodec =
      opts.video === 'vp8'
        ? [
            '-c:v',
            'libvpx',
            '-deadline',
            'realtime',
            '-cpu-used',
            '8',
            '-b:v',
            String(bitrate),
            '-auto-alt-ref',
            '0',
          ]
        : [
            '-c:v',
            'libx264',
            '-preset',
            'ultrafast',
            '-tune',
            'zerolatency',
            '-profile:v',
            'baseline',
            '-b:v',
            String(bitrate),
          ];
    const args = [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `${opts.picture}=s=${size}:r=${fps}:d=${opts.seconds}`,
      '-f',
      'lavfi',
      '-i',
      `sine=f=${opts.tone}:r=48000:d=${opts.seconds}`,
      '-map',
      '0:v',
      ...videoCodec,
      '-pix_fmt',
      'yuv420p',
      '-g',
      String(fps),
      '-payload_type',
      opts.video === 'vp8' ? '96' : '102',
      '-f',
      'rtp',
      `rtp://127.0.0.1:${v.port}?pkt_size=1100`,
      '-map',
      '1:a',
      '-c:a',
      'libopus',
      '-ac',
      '2',
      '-b:a',
      '48k',
      '-payload_type',
      '111',
      '-f',
      'rtp',
      `rtp://127.0.0.1:${a.port}?pkt_size=1100`,
    ];
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn('/usr/bin/ffmpeg', args, { stdio: ['ignore', 'ignore', 'inherit'] });
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    await new Promise((r) => setTimeout(r, 100));
    a.socket.close();
    v.socket.close();
    // RTCP (sender reports) goes to port+1, which nobody listens on: only RTP is here.
    if (code === 0 && continuous(a.packets) && continuous(v.packets)) {
      return {
        audio: { kind: 'audio', clockRate: 48000, payloadType: 111, packets: a.packets },
        video: {
          kind: 'video',
          clockRate: 90000,
          payloadType: opts.video === 'vp8' ? 96 : 102,
          packets: v.packets,
        },
      };
    }
  }
  throw new Error('could not make the RTP clips (ffmpeg failed or packets were lost on loopback)');
}
