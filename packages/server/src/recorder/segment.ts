/**
 * One capture of a stream (a segment): one ffmpeg reading the relayed RTP (an SDP input, -c copy)
 * and writing NUT chunks. A stream is a list of segments, each with its own start offset (see
 * stream.ts for when a new one opens).
 *
 * Captures are NUT written with -flush_packets 1: every packet is on disk as soon as ffmpeg has
 * it, and a file needs no trailer, so stopping a capture is a signal, not a handshake (an ffmpeg
 * blocked on a silent UDP input cannot be stopped gracefully at once), and a capture killed by
 * any means is still readable. Each capture is cut into chunks by ffmpeg's segment muxer, on the
 * composer's window grid, all chunks on one timeline (windows.ts says why).
 */
import type { ChildProcess } from 'node:child_process';
import type { MediaKind, RtpCodec } from '../rtp/types.js';
import { now } from './clock.js';

export type SegmentState = 'starting' | 'running' | 'ended';

/** Chunk j of a capture: `${base}.0000j.nut`. */
export const chunkFile = (base: string, j: number) => `${base}.${String(j).padStart(5, '0')}.nut`;

export class Segment {
  state: SegmentState = 'starting';
  proc: ChildProcess | null = null;
  port = 0;
  readonly buffer: Buffer[] = [];
  readonly firstMono: number;
  lastMono: number;
  packets = 0;
  bytes = 0;
  stderr = '';
  stopRequested = false;
  readonly exited: Promise<void>;
  #resolveExited!: () => void;
  /** Where its first packet sits on the recording's timeline (ms), once decided (timeline.ts place()). */
  placedMs: number | null = null;
  /** Lip-sync correction applied to placedMs (video), ms. */
  correctionMs = 0;
  /** Chunk files known to exist (0..chunkCount-1), and the timestamps (ms) their first packets have. */
  chunkCount = 0;
  readonly chunkStarts = new Map<number, number>();
  /** Next chunk cut (video: a keyframe is asked for when it comes). */
  nextCut: number;
  /** Placed by the sender reports (lip sync). */
  synced = false;

  /**
   * `offsetMs` is the timestamp of its first packet in the chunks (ffmpeg's -output_ts_offset):
   * chosen so that the chunk cuts (at multiples of the chunk length) fall where the composer
   * wants them on the recording's timeline.
   */
  constructor(
    readonly index: number,
    readonly base: string,
    readonly payloadType: number,
    readonly codec: RtpCodec,
    readonly firstRtpTs: number,
    readonly offsetMs: number,
    readonly chunkMs: number,
    firstMono: number = now(),
  ) {
    this.firstMono = firstMono;
    this.lastMono = this.firstMono;
    this.exited = new Promise((r) => (this.#resolveExited = r));
    this.chunkStarts.set(0, offsetMs);
    this.nextCut = Math.floor(offsetMs / chunkMs) + 1;
  }

  get firstChunk(): string {
    return chunkFile(this.base, 0);
  }

  get chunkList(): string {
    return `${this.base}.csv`;
  }

  markExited(): void {
    this.state = 'ended';
    this.#resolveExited();
  }
}

export function sdpFor(kind: MediaKind, port: number, pt: number, codec: RtpCodec): string {
  const name = codec.mimeType.split('/')[1] ?? '';
  const rtpmap =
    kind === 'audio' ? `${name}/${codec.clockRate}/${codec.channels ?? 2}` : `${name}/${codec.clockRate}`;
  const lines = [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=parley-recorder',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    // ffmpeg binds the wildcard address; take packets from loopback only.
    'a=source-filter: incl IN IP4 * 127.0.0.1',
    `m=${kind} ${port} RTP/AVP ${pt}`,
    `a=rtpmap:${pt} ${rtpmap}`,
  ];
  if (codec.fmtp) lines.push(`a=fmtp:${pt} ${codec.fmtp}`);
  lines.push('a=recvonly');
  return lines.join('\r\n') + '\r\n';
}
