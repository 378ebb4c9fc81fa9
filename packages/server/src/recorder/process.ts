/**
 * The recorder child process: one per recording, started by recording.ts with child_process.fork
 * and driven over IPC (protocol.ts). It never touches the SFU: the parent taps each recorded track
 * to a UDP port this process owns on 127.0.0.1.
 *
 * Per stream (one tapped track):
 *   tap (parent) ──RTP+SR──▶ relay socket (here) ──RTP──▶ ffmpeg (SDP input, -c copy) ──▶ NUT chunks
 * The relay is what makes the timing exact and the capture robust:
 * - video is held back until a keyframe starts (keyframes are asked for until one comes), so the
 *   first packet ffmpeg sees is the first frame of the capture and its arrival time is the
 *   segment's start offset; audio starts with its first packet;
 * - it buffers packets while ffmpeg starts and flushes them once ffmpeg's socket is bound (so none
 *   is lost), then forwards each packet as it comes;
 * - it counts packets, frames and keyframes, keeps the publisher's last sender report (for lip
 *   sync) and raises the stream warnings (500301 disconnected, 500302 low frame rate);
 * - when ffmpeg ends while the stream goes on (ffmpeg's RTP input gives up after 10 s without
 *   packets; or it died), the next packets open a new segment: a stream is a list of segments,
 *   each one capture with its own start offset.
 * Captures are NUT written with -flush_packets 1: every packet is on disk as soon as ffmpeg has
 * it, and a file needs no trailer, so stopping a capture is a signal, not a handshake (an ffmpeg
 * blocked on a silent UDP input cannot be stopped gracefully at once), and a capture killed by
 * any means is still readable.
 *
 * Why the call is composed while it goes on: composing it all at stop made the wait for the file
 * grow with the call (~5 s for a minute on 2 cores, minutes for an hour). So the timeline is cut
 * into windows (composeWindowMs, 8 s) and each complete window is composed in the background,
 * niced, LAG_MS after its end: its video into an H.264 piece, its mixed audio as PCM into ONE
 * AAC encoder that runs for the whole call (AAC pieces joined end to end would click at every
 * seam: each encoder primes and pads). At stop only what is left (at most a window and LAG_MS,
 * plus a background window that was under way, which is killed rather than waited for: niced, it
 * may be starved) is composed, in parallel parts at full speed, and the final MP4 is a copy (-c
 * copy) of the joined pieces and the AAC, so stop→file stays ~1-2 s whatever the call's length
 * (the copy is I/O, ~100 MB/s). The total CPU is the old final compose's, spread over the call.
 *
 * What makes windows exact, so that they join without seams:
 * - a window needs each stream from a little before its start (a tile's pre-roll, the audio
 *   decoder's warm-up) without decoding the capture from its beginning, and ffmpeg cannot seek in
 *   a NUT file that is still being written (no index); so each capture is cut into chunks by
 *   ffmpeg's segment muxer, on the window grid (audio at the boundaries, video CUT_LEAD_MS before
 *   them, at a keyframe the relay asks for then), all chunks on one timeline (-output_ts_offset,
 *   no reset). A window reads the few chunks it needs as ONE input (an ffconcat list with the
 *   exact durations between chunk starts: from ffmpeg's chunk list, or read from the chunk by
 *   nut.ts), so decoders run on across chunk cuts;
 * - inputs keep their own timestamps (-copyts), shifted to the window; the audio is placed by its
 *   timestamps to a fraction of a ms (a window's result must not depend on what came before it);
 * - a segment's place on the timeline (lip sync included) and the recording's start are decided
 *   once, by the first window that uses them: a new video waits up to SYNC_WAIT_MS for the sender
 *   reports that place it, rather than move later;
 * - the layout of a window follows who is there; a stream still being recorded keeps its tile
 *   past the window's end (if it then goes silent for good, its tile goes at a window boundary
 *   rather than at its last packet).
 * A short call with nothing composed yet at stop (under DIRECT_MAX_MS) is composed in one pass
 * straight into the final file: for it, pieces and a join would only add steps. If a background
 * window fails twice (or the AAC encoder dies), the rest of the call (or all of it) is composed
 * at stop, windowed the same way: slower, never wrong. Error codes at stop are those of the old
 * final compose (100102, 100106, ...).
 *
 * Surviving the server's death (kill -9, power loss): what only this process knows (streams,
 * captures and their places on the timeline, windows composed) is kept in a journal beside the
 * captures (journal.ts), and the chunks being written are synced every SYNC_INTERVAL_MS. A new
 * server sends 'recover' to a fresh child, which rebuilds that state from the journal (a capture's
 * end read from its last chunk, up to its last whole packet) and finishes as a stop would, reusing
 * the video composed during the call and composing its audio again (the AAC encoder died with
 * its last frames). The journal outlives the captures until the parent has stored the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { availableParallelism, setPriority as osSetPriority } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isRtcp, parseSenderReport, rtcpPackets } from '../rtp/rtcp.js';
import { frameStartInfo, videoPayloadCodec, type VideoPayloadCodec } from '../rtp/rtp-payload.js';
import type { MediaKind, RtpCodec } from '../rtp/types.js';
import {
  concatList,
  planMux,
  planWindow,
  PREROLL_MS,
  type ComposeSegment,
  type ComposeStream,
  type VideoPiece,
} from './layout.js';
import { JOURNAL_FILE, readJournal, syncFile, writeJournal, type RecordingJournal } from './journal.js';
import { nutFirstTimestampMs } from './nut.js';
import {
  RecordingCodes,
  type ChildAddStream,
  type ChildInit,
  type ChildRecover,
  type ChildToParent,
  type ParentToChild,
  type RecordingFailureCode,
  type RecordingSummary,
  type SegmentSummary,
  type StreamSummary,
} from './protocol.js';

// ---- plumbing ---------------------------------------------------------------------------------

function send(msg: ChildToParent): void {
  if (!process.connected || !process.send) return;
  try {
    process.send(msg);
  } catch {
    // the parent is gone; 'disconnect' handles it
  }
}

class Fatal extends Error {
  constructor(
    readonly code: RecordingFailureCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const now = () => performance.now();
const epochOf = (mono: number) => Math.round(performance.timeOrigin + mono);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** errno codes that mean "the disk is full / the write failed" rather than "cannot create". */
const DISK_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EFBIG']);
const DISK_TEXT = /No space left on device|Disk quota exceeded|Input\/output error|File too large/i;
const CREATE_TEXT = /Permission denied|No such file or directory|Read-only file system|Not a directory/i;

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? '';
}

let config: ChildInit | null = null;
let workDir = '';
const streams = new Map<string, StreamRecorder>();
let stopping = false;
let finished = false;
const children = new Set<ChildProcess>();

// ---- composition timing (see the header) --------------------------------------------------------

/** A window is composed this long after its end: the captures' reorder delay, with a margin. */
const LAG_MS = 1500;
/** Video chunks are cut this long before a window boundary: a tile's pre-roll and a keyframe's way. */
const CUT_LEAD_MS = 1500;
/** How long a new video may wait for the sender reports that place it (lip sync). */
const SYNC_WAIT_MS = 6000;
/** Windows composed at stop are at most this long (all of them when composing during the call is off). */
const STOP_WINDOW_MS = 30_000;
/** Niceness of the windows composed during the call. */
const BACKGROUND_NICE = 10;
/** At stop, the rest is composed in parallel parts of at least this long, at most this many at once. */
const MIN_STOP_PART_MS = 2500;
const MAX_PARALLEL_WINDOWS = 3;
/** A call this short with nothing composed at stop is composed in one pass into the final file. */
const DIRECT_MAX_MS = 20_000;
/** How long a capture may take to end by itself at stop before it is killed. */
const STOP_GRACE_MS = 50;
/** The audio's AAC encoder delays it by 1024 samples ("priming"), which the final MP4 skips. */
const AAC_PRIMING_S = 1024 / 48000;

const chunkLengthMs = (cfg: ChildInit) => (cfg.composeWindowMs > 0 ? cfg.composeWindowMs : STOP_WINDOW_MS);

/** The recording's start (monotonic ms), fixed by the first window composed (else at stop). */
let timelineT0: number | null = null;
/** The first packet captured: the start's guess for the chunk grid until timelineT0 is known. */
let firstMediaMono: number | null = null;
/** `nice` to start the background windows with, if there is one. */
let niceBin: string | null = null;

function killAll(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Reports a failure that ends the recording, and exits. */
function fail(err: Fatal): void {
  if (finished) return;
  finished = true;
  killAll();
  for (const s of streams.values()) s.closeSocket();
  send({
    type: 'failed',
    code: err.code,
    message: err.message,
    ...(err.detail ? { detail: err.detail } : {}),
  });
  exitSoon(1);
}

function exitSoon(code: number): void {
  // Let the IPC message go out before leaving.
  const t = setTimeout(() => process.exit(code), 200);
  t.unref();
  if (process.connected) process.disconnect();
}

// ---- the journal (journal.ts): what a recovery after a crash needs ------------------------------

/** How often the captures being written are synced to disk: what a power loss may cost at most. */
const SYNC_INTERVAL_MS = 2000;
let journalWrite: Promise<void> = Promise.resolve();
let journalQueued = false;
/** No more journal writes: the recording is complete, or being recovered from the journal. */
let journalClosed = false;

function journalSnapshot(cfg: ChildInit): RecordingJournal {
  const { type: _type, ffmpegPath: _ffmpeg, ...init } = cfg;
  return {
    version: 1,
    init,
    t0At: timelineT0 === null ? null : performance.timeOrigin + timelineT0,
    streams: [...streams.values()].map((s) => ({
      info: s.info,
      ended: s.endReported,
      segments: s.segments.map((g) => ({
        index: g.index,
        name: path.basename(g.base),
        payloadType: g.payloadType,
        codec: g.codec,
        firstRtpTs: g.firstRtpTs,
        offsetMs: g.offsetMs,
        chunkMs: g.chunkMs,
        firstAt: performance.timeOrigin + g.firstMono,
        placedMs: g.placedMs,
        correctionMs: g.correctionMs,
        synced: g.synced,
      })),
    })),
    composedMs: progress.composedMs,
    pieces: progress.pieces.map((p) => ({ name: path.basename(p.file), frames: p.frames })),
    windows: progress.windows,
    nextWindowSeq: windowSeq,
  };
}

/** Writes the journal soon (writes in a row coalesce; each takes the state when it runs). */
function saveJournal(): void {
  if (!config || journalClosed || journalQueued) return;
  journalQueued = true;
  journalWrite = journalWrite.then(async () => {
    journalQueued = false;
    if (journalClosed) return;
    // A failed write leaves the previous journal: a recovery would then lose more, nothing else.
    await writeJournal(workDir, journalSnapshot(config!)).catch(() => undefined);
  });
}

/** Syncs the chunk each capture is writing (the finished ones were synced in their turn). */
async function syncCaptures(): Promise<void> {
  if (stopping || finished) return;
  for (const s of streams.values()) {
    const seg = s.current;
    if (!seg || seg.state !== 'running') continue;
    let j = seg.chunkCount;
    while (existsSync(chunkFile(seg.base, j))) j++;
    // The one being written, and the one before it (it may have been cut since the last sync).
    for (const k of [j - 2, j - 1]) if (k >= 0) await syncFile(chunkFile(seg.base, k));
  }
}

// ---- ports ------------------------------------------------------------------------------------

function bindUdp(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind({ port, address: '127.0.0.1', exclusive: true }, () => resolve(s));
  });
}

/** A port p with p and p+1 free (ffmpeg binds RTP on p and RTCP on p+1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const a = await bindUdp(0);
    if (!a) continue;
    const p = a.address().port;
    if (p >= 65535) {
      a.close();
      continue;
    }
    const b = await bindUdp(p + 1);
    a.close();
    if (b) {
      b.close();
      return p;
    }
  }
  throw new Error('no free UDP port pair on 127.0.0.1');
}

/** Whether some socket is bound to UDP `port` (Linux: /proc/net/udp{,6}); null if unknown. */
async function udpPortBound(port: number): Promise<boolean | null> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  let known = false;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      const text = await readFile(f, 'utf8');
      known = true;
      for (const line of text.split('\n')) {
        const local = line.trim().split(/\s+/)[1];
        if (local && `${local.slice(local.lastIndexOf(':'))} `.toUpperCase() === hex) return true;
      }
    } catch {
      // not Linux
    }
  }
  return known ? false : null;
}

// ---- one capture (segment) ----------------------------------------------------------------------

type SegmentState = 'starting' | 'running' | 'ended';

/** Chunk j of a capture: `${base}.0000j.nut`. */
const chunkFile = (base: string, j: number) => `${base}.${String(j).padStart(5, '0')}.nut`;

class Segment {
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
  /** Where its first packet sits on the recording's timeline (ms), once decided (see place()). */
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

function sdpFor(kind: MediaKind, port: number, pt: number, codec: RtpCodec): string {
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

// ---- one stream -------------------------------------------------------------------------------

class StreamRecorder {
  readonly socket: Socket;
  port = 0;
  readonly segments: Segment[] = [];
  current: Segment | null = null;
  removed = false;
  /** Its end has been reported to the parent (journal: not reported again after a crash). */
  endReported = false;
  packets = 0;
  frames = 0;
  keyFrames = 0;
  #lastKeyFrameTs = -1;
  firstArrivalMono: number | null = null;
  lastArrivalMono: number | null = null;
  /** Publisher clock mapping from its last sender report. */
  lastSr: { ntpMs: number; rtpTs: number } | null = null;
  #waitingSince: number | null = null;
  #lastKeyFrameRequest = -Infinity;
  #segmentSeq = 0;
  #expectedSeq: number | null = null;
  readonly #missing = new Map<number, number>();
  disconnected = false;
  lowFps = false;
  /** Frames per whole second of arrival time (ring of the last 30 s). */
  readonly #frameBuckets = new Map<number, number>();
  readonly #video: boolean;
  #startFailures = 0;

  constructor(readonly info: ChildAddStream) {
    this.#video = info.kind === 'video';
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => this.#onPacket(msg, rinfo));
    this.socket.on('error', () => undefined);
  }

  async open(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ port: 0, address: '127.0.0.1' }, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    try {
      this.socket.setRecvBufferSize(1 << 20);
    } catch {
      // capped by the system: fine
    }
    this.port = this.socket.address().port;
    return this.port;
  }

  closeSocket(): void {
    try {
      this.socket.close();
    } catch {
      // closed
    }
  }

  #codecFor(pt: number): RtpCodec | undefined {
    return this.info.codecs.find((c) => c.payloadType === pt);
  }

  requestKeyFrame(force = false): void {
    if (!this.#video || this.removed) return;
    const t = now();
    if (!force && t - this.#lastKeyFrameRequest < 1000) return;
    this.#lastKeyFrameRequest = t;
    send({ type: 'keyFrameRequest', streamId: this.info.streamId });
  }

  #onPacket(msg: Buffer, rinfo: RemoteInfo): void {
    if (rinfo.address !== '127.0.0.1' || msg.length < 12) return;
    if (isRtcp(msg)) {
      for (const p of rtcpPackets(msg)) {
        const sr = parseSenderReport(msg, p);
        if (sr && sr.ssrc === this.info.ssrc) {
          this.lastSr = {
            ntpMs: sr.ntpMsw * 1000 + (sr.ntpLsw / 0x1_0000_0000) * 1000,
            rtpTs: sr.rtpTimestamp,
          };
        }
      }
      return;
    }
    if (msg.readUInt32BE(8) !== this.info.ssrc) return;
    if (this.removed || stopping) return;
    const t = now();
    this.packets++;
    if (this.firstArrivalMono === null) {
      this.firstArrivalMono = t;
      send({ type: 'streamStarted', streamId: this.info.streamId, at: epochOf(t) });
    }
    this.lastArrivalMono = t;
    if (this.disconnected) this.disconnected = false;
    const pt = msg[1]! & 0x7f;
    const codec = this.#codecFor(pt);
    if (!codec) return;
    const seq = msg.readUInt16BE(2);
    this.#trackLoss(seq, t);

    let info = { start: false, keyFrame: false };
    if (this.#video) {
      const vc: VideoPayloadCodec | null = videoPayloadCodec(codec.mimeType);
      if (vc) info = frameStartInfo(vc, msg);
      if (msg[1]! & 0x80) {
        this.frames++;
        const sec = Math.floor(t / 1000);
        this.#frameBuckets.set(sec, (this.#frameBuckets.get(sec) ?? 0) + 1);
      }
      if (info.keyFrame) {
        const ts = msg.readUInt32BE(4);
        if (ts !== this.#lastKeyFrameTs) {
          this.#lastKeyFrameTs = ts;
          this.keyFrames++;
        }
      }
    }

    let seg = this.current;
    if (seg && seg.state !== 'ended' && seg.payloadType !== pt) {
      // The publisher switched codec: close this capture, start another at the next keyframe.
      this.#endSegment(seg);
      seg = null;
    }
    if (!seg || seg.state === 'ended') {
      if (this.#video) {
        this.#waitingSince ??= t;
        // Start at a keyframe; after 4 s without one, at any frame start (the decoder recovers
        // at the next keyframe) rather than record nothing.
        const ok = info.keyFrame || (info.start && t - this.#waitingSince > 4000);
        if (!ok) {
          this.requestKeyFrame();
          return;
        }
      }
      this.#waitingSince = null;
      seg = this.#startSegment(pt, codec, msg.readUInt32BE(4));
    }
    seg.packets++;
    seg.bytes += msg.length;
    seg.lastMono = t;
    if (seg.state === 'starting') {
      if (seg.buffer.length < 5000) seg.buffer.push(msg);
    } else if (seg.state === 'running') {
      this.socket.send(msg, seg.port, '127.0.0.1');
    }
  }

  /** Video: a sequence gap still open after 300 ms means a frame is lost for good: ask for a keyframe. */
  #trackLoss(seq: number, t: number): void {
    if (!this.#video) return;
    this.#missing.delete(seq);
    if (this.#expectedSeq !== null) {
      const gap = (seq - this.#expectedSeq) & 0xffff;
      if (gap > 0 && gap < 1000) {
        for (let i = 0; i < gap && this.#missing.size < 500; i++) {
          this.#missing.set((this.#expectedSeq + i) & 0xffff, t);
        }
      } else if (gap >= 0x8000) {
        return; // late or retransmitted packet: expected stays
      }
    }
    this.#expectedSeq = (seq + 1) & 0xffff;
  }

  checkLoss(t: number): void {
    let lost = false;
    for (const [s, at] of this.#missing) {
      if (t - at > 300) {
        this.#missing.delete(s);
        lost = true;
      }
    }
    if (lost && this.current?.state === 'running') this.requestKeyFrame();
  }

  /** Frames per second over the last `windowMs` of whole seconds. */
  frameRate(t: number, windowMs: number): number {
    const last = Math.floor(t / 1000) - 1;
    const secs = Math.max(1, Math.round(windowMs / 1000));
    let n = 0;
    for (let s = last - secs + 1; s <= last; s++) n += this.#frameBuckets.get(s) ?? 0;
    for (const k of this.#frameBuckets.keys()) if (k < last - 30) this.#frameBuckets.delete(k);
    return n / secs;
  }

  /** Video: asks for a keyframe when the capture reaches a chunk cut, so the cut comes at once. */
  checkCuts(t: number): void {
    const seg = this.current;
    if (!this.#video || !seg || seg.state !== 'running') return;
    if (t - seg.firstMono + seg.offsetMs >= seg.nextCut * seg.chunkMs) {
      seg.nextCut = Math.floor((t - seg.firstMono + seg.offsetMs) / seg.chunkMs) + 1;
      this.requestKeyFrame(true);
    }
  }

  #startSegment(pt: number, codec: RtpCodec, firstRtpTs: number): Segment {
    const cfg = config!;
    const index = this.#segmentSeq++;
    const safe = this.info.uid.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
    const base = path.join(workDir, `${this.info.streamId}-${safe}-${this.info.kind}-${index}`);
    // Chunk cuts on the window grid (see the header): audio at the window boundaries, video a
    // little before them (a window's tiles need a keyframe before its start). The recording's
    // start is not final yet for the first captures: a wrong guess only costs some decoding.
    const t = now();
    firstMediaMono ??= t;
    const lead = this.#video ? CUT_LEAD_MS : 0;
    const chunkMs = chunkLengthMs(cfg);
    const offsetMs = (((t - (timelineT0 ?? firstMediaMono) + lead) % chunkMs) + chunkMs) % chunkMs;
    const seg = new Segment(index, base, pt, codec, firstRtpTs, Math.round(offsetMs), chunkMs);
    this.segments.push(seg);
    this.current = seg;
    saveJournal();
    void this.#launch(seg, cfg).catch((err: unknown) => {
      if (err instanceof Fatal) fail(err);
      else {
        seg.markExited();
        send({
          type: 'warning',
          code: RecordingCodes.otherWarning,
          streamId: this.info.streamId,
          detail: {
            reason: 'capture-start-failed',
            uid: this.info.uid,
            kind: this.info.kind,
            error: String(err),
          },
        });
      }
    });
    return seg;
  }

  async #launch(seg: Segment, cfg: ChildInit): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const port = await freePortPair();
      seg.port = port;
      const sdpFile = `${seg.base}.sdp`;
      try {
        await writeFile(sdpFile, sdpFor(this.info.kind, port, seg.payloadType, seg.codec));
      } catch (err) {
        throw new Fatal(
          DISK_ERRNOS.has(errnoOf(err)) ? RecordingCodes.diskFull : RecordingCodes.fileCreationFailed,
          `cannot write ${sdpFile}: ${String(err)}`,
        );
      }
      if (seg.stopRequested || finished) {
        seg.markExited();
        return;
      }
      const args = [
        '-hide_banner',
        '-nostdin',
        '-loglevel',
        'warning',
        '-protocol_whitelist',
        'file,udp,rtp',
        // Start writing at once: the codec is in the SDP, the size is in the first keyframe.
        '-fpsprobesize',
        '0',
        '-probesize',
        '32',
        '-analyzeduration',
        '200000',
        // Room for retransmitted (NACKed) packets to fall into place.
        '-max_delay',
        '500000',
        '-reorder_queue_size',
        '500',
        '-buffer_size',
        String(1 << 20),
        '-i',
        sdpFile,
        '-map',
        '0',
        '-c',
        'copy',
        // Chunks on the composer's grid (see the header), one timeline across them.
        '-output_ts_offset',
        (seg.offsetMs / 1000).toFixed(3),
        '-f',
        'segment',
        '-segment_format',
        'nut',
        '-segment_format_options',
        'flush_packets=1',
        '-segment_time',
        String(seg.chunkMs / 1000),
        '-reset_timestamps',
        '0',
        '-segment_list',
        seg.chunkList,
        '-segment_list_type',
        'csv',
        '-flush_packets',
        '1',
        '-y',
        `${seg.base}.%05d.nut`,
      ];
      const proc = spawn(cfg.ffmpegPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      seg.proc = proc;
      children.add(proc);
      let exited = false;
      const exitPromise = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
        proc.on('exit', (code, signal) => {
          exited = true;
          children.delete(proc);
          resolve({ code, signal });
        });
        proc.on('error', (err) => {
          exited = true;
          children.delete(proc);
          seg.stderr += String(err);
          resolve({ code: -1, signal: null });
        });
      });
      proc.stderr?.on('data', (d: Buffer) => {
        seg.stderr = (seg.stderr + d.toString()).slice(-4000);
      });
      // Wait until ffmpeg has bound its port (or died), then flush what arrived meanwhile.
      const deadline = now() + 10_000;
      let bound: boolean | null = false;
      while (!exited && now() < deadline) {
        bound = await udpPortBound(port);
        if (bound !== false) break;
        await sleep(10);
      }
      if (bound === null) await sleep(300); // cannot tell on this OS: give it time
      if (!exited && bound !== false) {
        seg.state = 'running';
        const queued = seg.buffer.splice(0);
        for (let i = 0; i < queued.length; i++) {
          this.socket.send(queued[i]!, port, '127.0.0.1');
          if (i % 32 === 31) await sleep(1); // do not overflow ffmpeg's socket buffer
        }
        if (seg.stopRequested) stopProcess(proc);
      } else if (!exited) {
        stopProcess(proc);
      }
      const { code, signal } = await exitPromise;
      const text = seg.stderr;
      if (code === -1 && /ENOENT|EACCES|spawn/.test(text)) {
        throw new Fatal(
          RecordingCodes.connectFailed,
          `cannot run ffmpeg (${cfg.ffmpegPath}): ${text.slice(-200)}`,
        );
      }
      if (
        !seg.stopRequested &&
        seg.state !== 'running' &&
        /bind failed|Address already in use/i.test(text) &&
        attempt < 3
      ) {
        seg.stderr = '';
        seg.state = 'starting';
        continue; // the port was taken between our check and ffmpeg's bind: another pair
      }
      seg.markExited();
      if (this.current === seg) this.current = null;
      if (DISK_TEXT.test(text)) {
        throw new Fatal(RecordingCodes.diskFull, `writing ${seg.base} failed: disk full or write error`, {
          stderr: text.slice(-500),
        });
      }
      if (seg.bytes > 0 && seg.packets > 0 && CREATE_TEXT.test(text) && !(await fileSize(seg.firstChunk))) {
        throw new Fatal(RecordingCodes.fileCreationFailed, `cannot create ${seg.firstChunk}`, {
          stderr: text.slice(-500),
        });
      }
      if (!seg.stopRequested && !stopping && !this.removed) {
        // ffmpeg ended by itself: 10 s without packets, or an error. The next packets open a new
        // segment; an error is worth a warning.
        const timedOut = /timed out/i.test(text);
        if (!timedOut) {
          this.#startFailures++;
          send({
            type: 'warning',
            code: RecordingCodes.otherWarning,
            streamId: this.info.streamId,
            detail: {
              reason: 'capture-restarted',
              uid: this.info.uid,
              kind: this.info.kind,
              exitCode: code,
              signal,
              stderr: text.slice(-300),
            },
          });
          if (this.#startFailures > 5) {
            // Something is badly wrong with this stream: stop trying.
            this.removed = true;
          }
        }
      }
      return;
    }
  }

  #endSegment(seg: Segment): void {
    seg.stopRequested = true;
    if (seg.proc && seg.state === 'running') stopProcess(seg.proc);
    if (this.current === seg) this.current = null;
  }

  #stopped: Promise<void> | null = null;

  /**
   * Stops capturing (idempotent); resolves when every capture process has exited. `graceMs`: how
   * long ffmpeg may take to end by itself before it is killed (the chunks are complete anyway).
   */
  stop(graceMs = 200): Promise<void> {
    this.removed = true;
    this.#stopped ??= this.#stop(graceMs);
    return this.#stopped;
  }

  async #stop(graceMs: number): Promise<void> {
    // Packets already relayed are read by ffmpeg within a few ms.
    await sleep(50);
    for (const seg of this.segments) {
      seg.stopRequested = true;
      if (seg.proc && seg.state === 'running') stopProcess(seg.proc, graceMs);
    }
    await Promise.race([Promise.all(this.segments.map((s) => s.exited)), sleep(5000)]);
    for (const seg of this.segments) if (seg.state !== 'ended' && seg.proc) seg.proc.kill('SIGKILL');
    this.closeSocket();
  }

  /** Segments that hold media. */
  async usableSegments(): Promise<Segment[]> {
    const out: Segment[] = [];
    for (const seg of this.segments) {
      if (seg.packets === 0) continue;
      const size = await fileSize(seg.firstChunk);
      if (size > 0) out.push(seg);
    }
    return out;
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** SIGINT, then SIGKILL: the NUT chunks are complete either way (see the header). */
function stopProcess(proc: ChildProcess, graceMs = 200): void {
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

// ---- warnings ---------------------------------------------------------------------------------

function checkWarnings(): void {
  const cfg = config;
  if (!cfg || stopping) return;
  const t = now();
  for (const s of streams.values()) {
    if (s.removed) continue;
    s.checkLoss(t);
    s.checkCuts(t);
    // Video waiting for a keyframe to (re)start its capture, while packets do come.
    if (
      s.current === null &&
      s.info.kind === 'video' &&
      s.lastArrivalMono !== null &&
      t - s.lastArrivalMono < 2000
    ) {
      s.requestKeyFrame();
    }
    const w = cfg.warnings;
    if (w.disconnectAfterMs > 0 && s.lastArrivalMono !== null && !s.disconnected) {
      const silent = t - s.lastArrivalMono;
      if (silent >= w.disconnectAfterMs) {
        s.disconnected = true;
        send({
          type: 'warning',
          code: RecordingCodes.streamDisconnected,
          streamId: s.info.streamId,
          detail: { uid: s.info.uid, kind: s.info.kind, silentMs: Math.round(silent) },
        });
      }
    }
    const lf = w.lowFrameRate;
    if (s.info.kind === 'video' && lf.fps > 0 && s.firstArrivalMono !== null && !s.disconnected) {
      if (t - s.firstArrivalMono >= lf.forMs + 1000) {
        const fps = s.frameRate(t, lf.forMs);
        if (fps < lf.fps && !s.lowFps) {
          s.lowFps = true;
          send({
            type: 'warning',
            code: RecordingCodes.lowFrameRate,
            streamId: s.info.streamId,
            detail: { uid: s.info.uid, kind: s.info.kind, fps: Math.round(fps * 10) / 10, threshold: lf.fps },
          });
        } else if (fps >= lf.fps) {
          s.lowFps = false;
        }
      }
    }
  }
}

// ---- lifecycle --------------------------------------------------------------------------------

async function init(msg: ChildInit): Promise<void> {
  config = msg;
  workDir = path.join(msg.outputDir, `${msg.recordId}.parts`);
  try {
    await mkdir(workDir, { recursive: true });
    const probe = path.join(msg.outputDir, `.${msg.recordId}.probe`);
    await writeFile(probe, 'parley');
    await unlink(probe);
  } catch (err) {
    throw new Fatal(
      DISK_ERRNOS.has(errnoOf(err)) ? RecordingCodes.diskFull : RecordingCodes.fileCreationFailed,
      `cannot write in ${msg.outputDir}: ${err instanceof Error ? err.message : String(err)}`,
      { errno: errnoOf(err) },
    );
  }
  niceBin = ['/usr/bin/nice', '/bin/nice'].find((f) => existsSync(f)) ?? null;
  saveJournal();
  await journalWrite;
  const timer = setInterval(checkWarnings, 250);
  timer.unref();
  const composer = setInterval(backgroundTick, 500);
  composer.unref();
  const syncer = setInterval(() => void syncCaptures(), SYNC_INTERVAL_MS);
  syncer.unref();
  send({ type: 'ready' });
}

async function addStream(msg: ChildAddStream): Promise<void> {
  if (streams.has(msg.streamId) || stopping) return;
  const s = new StreamRecorder(msg);
  streams.set(msg.streamId, s);
  saveJournal();
  const port = await s.open();
  send({ type: 'streamReady', streamId: msg.streamId, port });
}

async function removeStream(streamId: string): Promise<void> {
  const s = streams.get(streamId);
  if (!s || s.removed) return;
  await s.stop();
  const usable = await s.usableSegments();
  send({ type: 'streamEnded', streamId, ok: usable.length > 0, packets: s.packets });
  s.endReported = true;
  saveJournal();
}

// ---- the timeline -----------------------------------------------------------------------------

function wantsKind(kind: MediaKind): boolean {
  const t = config!.mediaType;
  return t === 1 ? kind === 'audio' : t === 2 ? kind === 'video' : true;
}

/** Lip sync: the publisher's clock time of a segment's first packet (from its last sender report). */
function captureMs(s: StreamRecorder, seg: Segment): number | null {
  if (!s.lastSr) return null;
  const diff = (seg.firstRtpTs - s.lastSr.rtpTs) | 0;
  return s.lastSr.ntpMs + (diff / seg.codec.clockRate) * 1000;
}

/**
 * Places a segment on the timeline, once and for all (composed windows depend on it): audio at
 * its first packet; video relative to its participant's audio by the publisher's sender reports
 * (lip sync), else at its first packet. While `final` is false, a video of an audio+video
 * recording waits up to SYNC_WAIT_MS for the reports (returns false meanwhile).
 */
function place(s: StreamRecorder, seg: Segment, t0: number, final: boolean): boolean {
  if (seg.placedMs !== null) return true;
  const placed = decidePlace(s, seg, t0, final);
  if (placed) saveJournal();
  return placed;
}

function decidePlace(s: StreamRecorder, seg: Segment, t0: number, final: boolean): boolean {
  const arrival = seg.firstMono - t0;
  if (s.info.kind !== 'video') {
    seg.placedMs = arrival;
    return true;
  }
  const audio = [...streams.values()].find(
    (u) => u.info.kind === 'audio' && u.info.participantId === s.info.participantId && wantsKind('audio'),
  );
  const asegs = audio ? audio.segments.filter((g) => g.packets > 0) : [];
  if (audio && asegs.length > 0) {
    const a =
      asegs.find((g) => g.firstMono - t0 <= arrival && arrival <= g.lastMono - t0) ??
      asegs.reduce((best, g) =>
        Math.abs(g.firstMono - t0 - arrival) < Math.abs(best.firstMono - t0 - arrival) ? g : best,
      );
    const cv = captureMs(s, seg);
    const ca = captureMs(audio, a);
    if (cv !== null && ca !== null) {
      const synced = a.firstMono - t0 + (cv - ca);
      const correction = synced - arrival;
      if (Math.abs(correction) < 1000) {
        seg.placedMs = Math.max(0, synced);
        seg.correctionMs = Math.round(correction);
        seg.synced = true;
      } else {
        seg.placedMs = arrival;
      }
      return true;
    }
  }
  if (!final && config!.mediaType === 0 && now() - seg.firstMono < SYNC_WAIT_MS) return false;
  seg.placedMs = arrival;
  return true;
}

interface Media {
  s: StreamRecorder;
  segs: Segment[];
}

/** The wanted streams' segments with media on disk. */
async function mediaSegments(): Promise<Media[]> {
  const out: Media[] = [];
  for (const s of streams.values()) {
    if (!wantsKind(s.info.kind)) continue;
    const segs = await s.usableSegments();
    if (segs.length > 0) out.push({ s, segs });
  }
  return out;
}

// ---- chunks -----------------------------------------------------------------------------------

/** Learns the chunks written so far and, from ffmpeg's list, where the finished ones start. */
async function refreshChunks(seg: Segment): Promise<void> {
  let text = '';
  try {
    text = await readFile(seg.chunkList, 'utf8');
  } catch {
    // none finished yet
  }
  const lines = text.split('\n');
  lines.pop(); // the last one is empty or still being written
  for (const line of lines) {
    const m = /\.(\d+)\.nut,(-?\d+(?:\.\d+)?),/.exec(line);
    if (m && Number(m[1]) > 0) seg.chunkStarts.set(Number(m[1]), Number(m[2]) * 1000);
  }
  while (existsSync(chunkFile(seg.base, seg.chunkCount))) seg.chunkCount++;
}

/** The timestamp (ms) of a chunk's first packet; null if it has none yet. */
async function probeChunkStart(file: string, background: boolean): Promise<number | null> {
  const read = await nutFirstTimestampMs(file);
  if (read !== null) return read;
  // Not readable as expected: ask ffmpeg.
  const r = await runFfmpeg(
    ['-hide_banner', '-nostdin', '-v', 'error', '-copyts', '-i', file, '-map', '0:0', '-c', 'copy'].concat([
      '-frames:0',
      '1',
      '-f',
      'framecrc',
      '-',
    ]),
    { background, collect: true, timeoutMs: 15_000 },
  );
  if (r.code !== 0) return null;
  const text = r.stdout.toString();
  const tb = /^#tb 0: (\d+)\/(\d+)/m.exec(text);
  const pkt = /^0,\s*(-?\d+),/m.exec(text);
  if (!tb || !pkt) return null;
  return ((Number(pkt[1]) * Number(tb[1])) / Number(tb[2])) * 1000;
}

/**
 * One capture segment as an input of the window [from, to): an ffconcat list of the chunks that
 * hold its media from `lead` ms before the window to its end, read as one continuous stream
 * (exact durations between chunk starts keep its timeline). 'none' if no chunk falls there;
 * null if a chunk's start is not known yet (the window waits, unless `final`).
 */
async function windowInput(
  seg: Segment,
  t0: number,
  from: number,
  to: number,
  lead: number,
  listFile: string,
  final: boolean,
): Promise<ComposeSegment | 'none' | null> {
  await refreshChunks(seg);
  const origin = seg.placedMs! - seg.offsetMs; // where timestamp 0 of its chunks falls
  const startOf = async (j: number): Promise<number | null> => {
    const known = seg.chunkStarts.get(j);
    if (known !== undefined) return known;
    const probed = await probeChunkStart(chunkFile(seg.base, j), !final);
    if (probed !== null) seg.chunkStarts.set(j, probed);
    return probed;
  };
  const picked: { file: string; start: number; next: number | null }[] = [];
  for (let j = 0; j < seg.chunkCount; j++) {
    const start = await startOf(j);
    if (start === null) {
      if (!final) return null;
      break; // a chunk with no packet in it (its capture was killed as it began)
    }
    if (origin + start >= to) break;
    let next: number | null = null;
    if (j + 1 < seg.chunkCount) {
      next = await startOf(j + 1);
      if (next === null && !final) return null;
      if (next !== null && origin + next <= from - lead) continue;
    }
    picked.push({ file: chunkFile(seg.base, j), start, next });
  }
  if (picked.length === 0) return 'none';
  const lines = ['ffconcat version 1.0'];
  picked.forEach((c, i) => {
    lines.push(`file '${c.file.replace(/'/g, "'\\''")}'`);
    if (i + 1 < picked.length) lines.push(`duration ${((picked[i + 1]!.start - c.start) / 1000).toFixed(6)}`);
  });
  await writeFile(listFile, `${lines.join('\n')}\n`);
  return {
    file: listFile,
    concat: true,
    startMs: seg.placedMs!,
    endMs: seg.lastMono - t0,
    originMs: origin + picked[0]!.start,
  };
}

// ---- windows ----------------------------------------------------------------------------------

/** The AAC of the whole call: one encoder fed each window's mixed audio in turn (no seams). */
class AudioEncoder {
  readonly file: string;
  readonly proc: ChildProcess;
  stderr = '';
  broken = false;
  #ending = false;
  readonly #done: Promise<number | null>;

  constructor(cfg: ChildInit) {
    this.file = path.join(workDir, 'audio.aac');
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

const progress = {
  /** The call is composed up to here (ms of the timeline): video pieces and audio fed. */
  composedMs: 0,
  pieces: [] as VideoPiece[],
  windows: 0,
  busy: null as Promise<void> | null,
  failures: 0,
  disabled: false,
  lastError: '',
};
let audioEncoder: AudioEncoder | null = null;
/** The ffmpeg processes of the background window under way. */
const backgroundProcs = new Set<ChildProcess>();
let windowSeq = 0;
let lastWindowArgs: string[] = [];
let lastMuxArgs: string[] = [];

interface ComposedWindow {
  to: number;
  piece: VideoPiece | null;
  pcm: Buffer | null;
  samples: number;
}

class WindowFailed extends Error {
  constructor(readonly result: RunResult) {
    super(`ffmpeg failed on a window (exit code ${result.code}): ${result.stderr.trim().slice(-300)}`);
  }
}

/**
 * Composes the window [from, to) of the call (layout.ts planWindow): its video into a piece, its
 * mixed audio into memory. null if it is not ready yet (background only).
 */
async function composeWindow(
  media: Media[],
  t0: number,
  from: number,
  to: number,
  background: boolean,
  timeoutMs: number,
  finalOutput?: string,
  audioOnly = false,
): Promise<ComposedWindow | null> {
  const cfg = config!;
  const mediaType = audioOnly ? 1 : cfg.mediaType;
  const seq = windowSeq++;
  const frameMs = 1000 / cfg.layout.fps;
  const lists: string[] = [];
  const composeStreams: ComposeStream[] = [];
  try {
    for (const { s, segs } of media) {
      if (audioOnly && s.info.kind !== 'audio') continue;
      const out: ComposeSegment[] = [];
      for (const seg of segs) {
        if (seg.placedMs === null) continue; // begins after the window
        const startMs = seg.placedMs;
        const endMs = seg.lastMono - t0;
        const video = s.info.kind === 'video';
        const lead = video ? PREROLL_MS + frameMs : 100; // a tile's pre-roll; the audio decoder's
        if (!(startMs < to && endMs + lead > from - lead)) {
          out.push({ file: '', startMs, endMs }); // counts for the layout only
          continue;
        }
        const list = path.join(workDir, `w${seq}-${s.info.streamId}-${seg.index}.ffconcat`);
        const input = await windowInput(seg, t0, from, to, lead, list, !background);
        if (input === null) return null;
        if (input === 'none') out.push({ file: '', startMs, endMs });
        else {
          out.push(input);
          lists.push(list);
        }
      }
      if (out.length > 0) {
        composeStreams.push({
          streamId: s.info.streamId,
          kind: s.info.kind,
          segments: out,
          open: !s.removed && !stopping,
        });
      }
    }
    const videoOutput =
      mediaType !== 1 && !finalOutput
        ? path.join(workDir, `piece-${String(seq).padStart(5, '0')}.mp4`)
        : null;
    const plan = planWindow({
      streams: composeStreams,
      fromMs: from,
      toMs: to,
      mediaType,
      maxMixedStreams: cfg.maxMixedStreams,
      layout: cfg.layout,
      videoOutput,
      ...(finalOutput ? { finalOutput } : {}),
    });
    lastWindowArgs = plan.args;
    const r = await runFfmpeg(plan.args, {
      background,
      collect: mediaType !== 2 && !finalOutput,
      timeoutMs,
    });
    if (r.code !== 0) throw new WindowFailed(r);
    if (videoOutput && !(await fileSize(videoOutput))) throw new WindowFailed({ ...r, code: -2 });
    let pcm: Buffer | null = null;
    if (mediaType !== 2 && !finalOutput) {
      const want = plan.samples * 8;
      // ffmpeg writes the samples asked for (atrim/apad); a little off is evened out, more means
      // a broken window.
      if (Math.abs(r.stdout.length - want) > 48_000 * 8) throw new WindowFailed({ ...r, code: -3 });
      pcm = r.stdout.length === want ? r.stdout : Buffer.concat([r.stdout, Buffer.alloc(want)], want);
    }
    return {
      to,
      piece: videoOutput ? { file: videoOutput, frames: plan.frames } : null,
      pcm,
      samples: plan.samples,
    };
  } finally {
    for (const l of lists) await rm(l, { force: true }).catch(() => undefined);
  }
}

/** Appends a composed window to the call's pieces and audio. */
async function commitWindow(w: ComposedWindow): Promise<void> {
  if (w.pcm) {
    audioEncoder ??= new AudioEncoder(config!);
    await audioEncoder.write(w.pcm);
  }
  if (w.piece) {
    await syncFile(w.piece.file);
    progress.pieces.push(w.piece);
  }
  progress.composedMs = w.to;
  progress.windows++;
  saveJournal();
}

/** Every 500 ms during the call: composes the next window if it is complete (see the header). */
function backgroundTick(): void {
  const cfg = config;
  if (!cfg || cfg.composeWindowMs <= 0 || progress.disabled || stopping || finished || progress.busy) return;
  progress.busy = composeInBackground()
    .catch((err: unknown) => {
      if (stopping) return; // killed by stop
      // Retried once; after that the rest of the call is composed at stop.
      progress.failures++;
      progress.lastError = String(err instanceof Error ? err.message : err).slice(0, 500);
      if (progress.failures >= 2 || audioEncoder?.broken) progress.disabled = true;
    })
    .finally(() => {
      progress.busy = null;
    });
}

async function composeInBackground(): Promise<void> {
  const cfg = config!;
  const W = cfg.composeWindowMs;
  const wanted = [...streams.values()].filter((s) => wantsKind(s.info.kind));
  const started = wanted.flatMap((s) => s.segments.filter((g) => g.packets > 0));
  if (started.length === 0 || started.some((g) => g.state === 'starting' && timelineT0 === null)) return;
  const t0 =
    timelineT0 ?? Math.min(...started.filter((g) => existsSync(g.firstChunk)).map((g) => g.firstMono));
  if (!Number.isFinite(t0)) return;
  // Whole windows, complete (LAG_MS for the captures to have written them), not past the media.
  const latest = Math.max(...started.map((g) => g.lastMono)) - t0;
  const from = progress.composedMs;
  const to = Math.min(Math.floor(Math.min(now() - t0 - LAG_MS, latest) / W) * W, from + 4 * W);
  if (to - from < W) return;
  timelineT0 = t0;
  for (const s of wanted) {
    for (const g of s.segments) {
      if (g.packets === 0 || g.firstMono - t0 >= to) continue;
      if (g.state === 'starting') return; // its first packets are not on disk yet
      if (!place(s, g, t0, false)) return; // waits for sender reports
    }
  }
  const media = await mediaSegments();
  if (media.length === 0) return;
  const w = await composeWindow(media, t0, from, to, true, 120_000 + 3 * (to - from));
  if (!w) return;
  await commitWindow(w);
}

// ---- stop -------------------------------------------------------------------------------------

async function stopAll(): Promise<void> {
  const stopMono = now();
  stopping = true;
  send({ type: 'progress', phase: 'stopping', percent: 0 });
  // A window being composed in the background runs niced, and may be starved by other work: it
  // is cheaper to compose its part again now, with the rest, at full speed.
  for (const proc of backgroundProcs) proc.kill('SIGKILL');
  const pending = [...streams.values()].filter((s) => !s.removed);
  // Also waits for removals still in progress: their files must be complete before the compose.
  // An ffmpeg on a silent UDP input takes ~200 ms to honour SIGINT: at stop, the file is wanted now.
  await Promise.all([...streams.values()].map((s) => s.stop(STOP_GRACE_MS)));

  const usable = await mediaSegments();
  for (const s of pending) {
    const u = usable.find((x) => x.s === s);
    send({ type: 'streamEnded', streamId: s.info.streamId, ok: !!u, packets: s.packets });
  }
  if (usable.length === 0) {
    throw new Fatal(RecordingCodes.streamsMissing, 'no subscribed stream delivered any media', {
      streams: [...streams.values()].map((s) => ({ uid: s.info.uid, kind: s.info.kind, packets: s.packets })),
    });
  }
  const capturesStoppedMono = now();
  // The background window (killed above, or storing its result) is over.
  if (progress.busy) await progress.busy;
  await finalize(usable, stopMono, capturesStoppedMono, false);
}

/**
 * From the captures on disk and the windows composed so far to the final file, and 'done'. After
 * a crash (`recovered`) the audio composed during the call is gone with its encoder (its last
 * frames were in memory): it is composed again, alone, which costs little beside the video.
 */
async function finalize(
  usable: Media[],
  stopMono: number,
  capturesStoppedMono: number,
  recovered: boolean,
): Promise<void> {
  const cfg = config!;
  const composedBeforeStopMs = progress.composedMs;

  const t0 = timelineT0 ?? Math.min(...usable.flatMap(({ segs }) => segs.map((g) => g.firstMono)));
  timelineT0 = t0;
  for (const { s, segs } of usable) for (const g of segs) place(s, g, t0, true);
  const recordStartTime = epochOf(t0);
  const durationMs = Math.max(
    1,
    Math.round(Math.max(...usable.flatMap(({ segs }) => segs.map((g) => g.lastMono - t0)))),
  );
  const timeoutMs = cfg.composeTimeoutMs > 0 ? cfg.composeTimeoutMs : 120_000 + 3 * durationMs;
  const deadline = stopMono + timeoutMs;
  const remaining = () => {
    const left = deadline - now();
    if (left <= 0) {
      throw new Fatal(
        RecordingCodes.conversionFailed,
        `composing the final file took longer than ${timeoutMs} ms`,
      );
    }
    return left;
  };

  if (audioEncoder?.broken) {
    // The audio composed so far is lost: compose the whole call again.
    audioEncoder.kill();
    audioEncoder = null;
    progress.composedMs = 0;
    progress.pieces = [];
  }
  if (recovered && progress.composedMs > 0 && cfg.mediaType !== 2) {
    await composeAudioAgain(usable, t0, progress.composedMs, timeoutMs, remaining);
  }
  const finalFile = path.join(cfg.outputDir, `${cfg.recordId}.mp4`);
  const partial = path.join(cfg.outputDir, `${cfg.recordId}.partial.mp4`);
  if (progress.composedMs === 0 && durationMs <= DIRECT_MAX_MS) {
    // A short call with nothing composed yet: one pass straight into the final file.
    send({ type: 'progress', phase: 'composing', percent: 0 });
    try {
      await composeWindow(usable, t0, 0, durationMs, false, remaining(), partial);
    } catch (err) {
      if (err instanceof WindowFailed) throw composeFatal(err.result, timeoutMs);
      throw err;
    }
    progress.windows++;
  } else {
    await composeRest(usable, t0, durationMs, timeoutMs, remaining);
    await joinPieces(durationMs, partial, timeoutMs, remaining);
  }
  await writeFile(
    path.join(workDir, 'compose.txt'),
    `# last window\n${lastWindowArgs.join(' \\\n  ')}\n\n# join\n${lastMuxArgs.join(' \\\n  ')}\n`,
  ).catch(() => undefined);

  const size = await fileSize(partial);
  if (size === 0) throw new Fatal(RecordingCodes.savingFailed, `ffmpeg wrote no data to ${partial}`);
  try {
    await rename(partial, finalFile);
  } catch (err) {
    throw new Fatal(
      DISK_ERRNOS.has(errnoOf(err)) ? RecordingCodes.diskFull : RecordingCodes.savingFailed,
      `cannot move the final file into place: ${String(err)}`,
    );
  }
  const summaries: StreamSummary[] = [...streams.values()].map((s) => {
    const u = usable.find((x) => x.s === s);
    const segs: SegmentSummary[] = (u?.segs ?? []).map((g) => ({
      file: g.firstChunk,
      startAt: epochOf(g.firstMono),
      startMs: Math.round(g.placedMs!),
      endMs: Math.round(g.lastMono - t0),
      packets: g.packets,
      bytes: g.bytes,
    }));
    return {
      streamId: s.info.streamId,
      uid: s.info.uid,
      participantId: s.info.participantId,
      kind: s.info.kind,
      recorded: segs.length > 0,
      startMs: segs.length > 0 ? Math.min(...segs.map((g) => g.startMs)) : null,
      endMs: segs.length > 0 ? Math.max(...segs.map((g) => g.endMs)) : null,
      packets: s.packets,
      frames: s.frames,
      keyFrames: s.keyFrames,
      segments: segs,
      syncCorrectionMs: u?.segs.find((g) => g.synced)?.correctionMs ?? 0,
    };
  });
  const summary: RecordingSummary = {
    file: finalFile,
    bytes: size,
    recordStartTime,
    durationMs,
    mediaType: cfg.mediaType,
    streams: summaries,
    finalizeMs: Math.round(now() - stopMono),
    captureStopMs: Math.round(capturesStoppedMono - stopMono),
    composedBeforeStopMs,
    composeWindows: progress.windows,
    ...(recovered ? { recovery: 'composed' as const } : {}),
  };
  // The file is in place: the journal says so before the captures go, so that a crash before the
  // parent has stored the file (an upload takes a while) costs a restart, not the recording. The
  // parent removes what is left (recording.ts, keepJournal).
  journalClosed = true;
  await journalWrite;
  await writeJournal(workDir, { ...journalSnapshot(cfg), done: summary }).catch(() => undefined);
  if (!cfg.keepParts) await removeAllBut(workDir, JOURNAL_FILE);
  finished = true;
  send({ type: 'done', summary });
  exitSoon(0);
}

/** Removes a directory's entries except one. */
async function removeAllBut(dir: string, keep: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name !== keep)
      await rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** After a crash: the call's audio over [0, toMs) again, into a new AAC encoder (see finalize). */
async function composeAudioAgain(
  usable: Media[],
  t0: number,
  toMs: number,
  timeoutMs: number,
  remaining: () => number,
): Promise<void> {
  audioEncoder?.kill();
  audioEncoder = new AudioEncoder(config!);
  for (let from = 0; from < toMs; from += STOP_WINDOW_MS) {
    const to = Math.min(toMs, from + STOP_WINDOW_MS);
    let w: ComposedWindow | null;
    try {
      w = await composeWindow(usable, t0, from, to, false, remaining(), undefined, true);
    } catch (err) {
      if (err instanceof WindowFailed) throw composeFatal(err.result, timeoutMs);
      throw err;
    }
    if (!w?.pcm)
      throw new Fatal(RecordingCodes.conversionFailed, 'the audio of the call could not be planned');
    try {
      await audioEncoder.write(w.pcm);
    } catch (err) {
      throw composeFatal({ code: null, stderr: `${String(err)} ${audioEncoder.stderr}` }, timeoutMs);
    }
  }
}

// ---- recovery after a crash (journal.ts) --------------------------------------------------------

/**
 * Where a capture's media end, in its chunks' timestamps (ms): the end of the last packet of its
 * last chunk that has one. A chunk cut short by the crash is read up to its last whole packet.
 */
async function captureEndMs(seg: Segment): Promise<number | null> {
  let last = 0;
  while (existsSync(chunkFile(seg.base, last + 1))) last++;
  for (let j = last; j >= 0; j--) {
    const file = chunkFile(seg.base, j);
    if (!(await fileSize(file))) continue;
    const r = await runFfmpeg(
      ['-hide_banner', '-nostdin', '-v', 'error', '-copyts', '-i', file, '-map', '0:0', '-c', 'copy'].concat([
        '-f',
        'framecrc',
        '-',
      ]),
      { collect: true, timeoutMs: 60_000 },
    );
    // A truncated last packet makes ffmpeg complain (and maybe exit non-zero): the lines before it count.
    const text = r.stdout.toString();
    const tb = /^#tb 0: (\d+)\/(\d+)/m.exec(text);
    if (!tb) continue;
    let end: number | null = null;
    for (const m of text.matchAll(/^0,\s*(-?\d+),\s*(-?\d+),\s*(\d+),/gm)) {
      const e = Math.max(Number(m[1]), Number(m[2])) + Number(m[3]);
      end = Math.max(end ?? -Infinity, e);
    }
    if (end !== null) return (end * Number(tb[1]) * 1000) / Number(tb[2]);
  }
  return null;
}

/**
 * Finishes a recording whose process died with its server (the parent is a new server): rebuilds
 * the streams and captures from the journal, their ends from the chunks on disk, then composes
 * what is left and joins it to what was composed, as a stop does.
 */
async function recover(msg: ChildRecover): Promise<void> {
  const stopMono = now();
  const dir = path.join(msg.outputDir, `${msg.recordId}.parts`);
  const journal = await readJournal(dir);
  if (!journal) {
    throw new Fatal(RecordingCodes.streamsMissing, `no readable journal in ${dir}: nothing to recover`);
  }
  if (journal.done && (await fileSize(journal.done.file)) > 0) {
    // The file was complete; only storing it was cut short.
    finished = true;
    send({ type: 'done', summary: { ...journal.done, recovery: 'already-complete' } });
    exitSoon(0);
    return;
  }
  config = { type: 'init', ...journal.init, outputDir: msg.outputDir, ffmpegPath: msg.ffmpegPath };
  workDir = dir;
  journalClosed = true; // a crash during the recovery starts it again from the same journal
  stopping = true;
  windowSeq = journal.nextWindowSeq;
  const toMono = (epochMs: number) => epochMs - performance.timeOrigin;
  const open: StreamRecorder[] = [];
  for (const js of journal.streams) {
    const s = new StreamRecorder(js.info);
    s.closeSocket();
    s.removed = true;
    s.endReported = js.ended;
    streams.set(js.info.streamId, s);
    if (!js.ended) open.push(s);
    for (const jg of js.segments) {
      const seg = new Segment(
        jg.index,
        path.join(dir, jg.name),
        jg.payloadType,
        jg.codec,
        jg.firstRtpTs,
        jg.offsetMs,
        jg.chunkMs,
        toMono(jg.firstAt),
      );
      seg.placedMs = jg.placedMs;
      seg.correctionMs = jg.correctionMs;
      seg.synced = jg.synced;
      seg.stopRequested = true;
      seg.markExited();
      const end = await captureEndMs(seg);
      if (end !== null && end > jg.offsetMs) {
        seg.packets = 1; // the count died with the process: "has media" is what matters
        seg.lastMono = seg.firstMono + (end - jg.offsetMs);
        s.packets += 1;
      }
      s.segments.push(seg);
    }
  }
  timelineT0 = journal.t0At === null ? null : toMono(journal.t0At);
  const pieces = journal.pieces.map((p) => ({ file: path.join(dir, p.name), frames: p.frames }));
  const piecesThere = await Promise.all(pieces.map(async (p) => (await fileSize(p.file)) > 0));
  const audioOnly = journal.init.mediaType === 1;
  if (journal.composedMs > 0 && (audioOnly || piecesThere.every(Boolean))) {
    progress.composedMs = journal.composedMs;
    progress.pieces = audioOnly ? [] : pieces;
    progress.windows = journal.windows;
  }
  const usable = await mediaSegments();
  for (const s of open) {
    send({
      type: 'streamEnded',
      streamId: s.info.streamId,
      ok: usable.some((u) => u.s === s),
      packets: s.packets,
    });
  }
  if (usable.length === 0) {
    throw new Fatal(RecordingCodes.streamsMissing, 'no media was captured before the crash');
  }
  await finalize(usable, stopMono, now(), true);
}

/**
 * Composes the rest of the call at stop, at full speed: one ffmpeg does not keep 2 cores busy (its
 * filter graph is one thread), so the rest is cut in parts composed side by side, joined in order.
 */
async function composeRest(
  usable: Media[],
  t0: number,
  durationMs: number,
  timeoutMs: number,
  remaining: () => number,
): Promise<void> {
  const bounds = stopWindows(progress.composedMs, durationMs, availableParallelism());
  const parallel = Math.min(availableParallelism(), MAX_PARALLEL_WINDOWS);
  const tasks: Promise<ComposedWindow | null>[] = [];
  const begin = (i: number) => {
    const task = composeWindow(usable, t0, bounds[i]!, bounds[i + 1]!, false, remaining());
    task.catch(() => undefined); // awaited in order below
    tasks[i] = task;
  };
  for (let i = 0; i < Math.min(parallel, bounds.length - 1); i++) begin(i);
  for (let i = 0; i + 1 < bounds.length; i++) {
    send({ type: 'progress', phase: 'composing', percent: Math.round((i / (bounds.length - 1)) * 95) });
    let w: ComposedWindow | null;
    try {
      w = await tasks[i]!;
    } catch (err) {
      if (err instanceof WindowFailed) throw composeFatal(err.result, timeoutMs);
      throw err;
    }
    if (!w) throw new Fatal(RecordingCodes.conversionFailed, 'a window of the call could not be planned');
    if (i + parallel < bounds.length - 1) begin(i + parallel);
    try {
      await commitWindow(w);
    } catch (err) {
      throw composeFatal({ code: null, stderr: `${String(err)} ${audioEncoder?.stderr ?? ''}` }, timeoutMs);
    }
  }
}

/** The final MP4: the video pieces joined and the AAC, copied (see the header). */
async function joinPieces(
  durationMs: number,
  output: string,
  timeoutMs: number,
  remaining: () => number,
): Promise<void> {
  const cfg = config!;
  send({ type: 'progress', phase: 'composing', percent: 96 });
  let audioFile: string | null = null;
  if (cfg.mediaType !== 2 && audioEncoder) {
    const code = await audioEncoder.finish();
    if (code !== 0) throw composeFatal({ code, stderr: audioEncoder.stderr }, timeoutMs);
    audioFile = audioEncoder.file;
  }
  let videoList: string | null = null;
  if (cfg.mediaType !== 1) {
    videoList = path.join(workDir, 'pieces.ffconcat');
    await writeFile(videoList, concatList(progress.pieces, cfg.layout.fps));
  }
  lastMuxArgs = planMux({ videoList, audioFile, audioOffsetS: -AAC_PRIMING_S, durationMs, output });
  const mux = await runFfmpeg(lastMuxArgs, { timeoutMs: remaining() });
  if (mux.code !== 0) throw composeFatal(mux, timeoutMs);
}

/**
 * The windows left at stop, [from, durationMs) cut at whole seconds: in `cores` parts (not under
 * MIN_STOP_PART_MS each) when short, else in STOP_WINDOW_MS windows.
 */
function stopWindows(from: number, durationMs: number, cores: number): number[] {
  const span = durationMs - from;
  if (span <= 0) return [from];
  const parts = Math.max(1, Math.min(cores, MAX_PARALLEL_WINDOWS, Math.floor(span / MIN_STOP_PART_MS)));
  const len = Math.min(STOP_WINDOW_MS, Math.max(1000, Math.ceil(span / parts / 1000) * 1000));
  const bounds = [from];
  while (durationMs - bounds.at(-1)! > len) bounds.push(bounds.at(-1)! + len);
  // No sliver at the end: the last window takes it.
  if (bounds.length > 1 && durationMs - bounds.at(-1)! < 1000) bounds.pop();
  bounds.push(durationMs);
  return bounds;
}

/** The failure a broken step of the finalization means (100106 when the disk is full). */
function composeFatal(
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

interface RunResult {
  code: number | null;
  stderr: string;
  stdout: Buffer;
  timedOut?: boolean;
  error?: string;
}

/** Runs ffmpeg to its end (killed past timeoutMs); background runs are niced. */
function runFfmpeg(
  args: string[],
  opts: { background?: boolean; collect?: boolean; timeoutMs: number },
): Promise<RunResult> {
  const cfg = config!;
  if (opts.background && stopping) {
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

// ---- IPC --------------------------------------------------------------------------------------

let queue: Promise<void> = Promise.resolve();

function handle(msg: ParentToChild): void {
  if (finished) return;
  const run = async () => {
    switch (msg.type) {
      case 'init':
        return init(msg);
      case 'addStream':
        return addStream(msg);
      case 'removeStream':
        // Not queued behind other work: stopping a capture must not wait for a compose.
        void removeStream(msg.streamId).catch((err: unknown) => onError(err));
        return;
      case 'stop':
        return stopAll();
      case 'recover':
        return recover(msg);
    }
  };
  queue = queue.then(run).catch((err: unknown) => onError(err));
}

function onError(err: unknown): void {
  if (err instanceof Fatal) fail(err);
  else
    fail(
      new Fatal(
        RecordingCodes.conversionFailed,
        `recorder error: ${err instanceof Error ? err.message : String(err)}`,
      ),
    );
}

process.on('message', (m) => handle(m as ParentToChild));
// The parent is gone (or let us go): nothing can be reported any more; leave nothing behind.
process.on('disconnect', () => {
  if (finished) return;
  finished = true;
  killAll();
  process.exit(1);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(1);
});
