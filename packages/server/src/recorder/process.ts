/**
 * The recorder child process: one per recording, started by recording.ts with child_process.fork
 * and driven over IPC (protocol.ts). It never touches the SFU: the parent taps each recorded track
 * to a UDP port this process owns on 127.0.0.1.
 *
 * Per stream (one tapped track):
 *   tap (parent) ──RTP+SR──▶ relay socket (here) ──RTP──▶ ffmpeg (SDP input, -c copy) ──▶ NUT file
 * The relay is what makes the timing exact and the capture robust:
 * - video is held back until a keyframe starts (keyframes are asked for until one comes), so the
 *   first packet ffmpeg sees is the first frame of the file and its arrival time is the segment's
 *   start offset; audio starts with its first packet;
 * - it buffers packets while ffmpeg starts and flushes them once ffmpeg's socket is bound (so none
 *   is lost), then forwards each packet as it comes;
 * - it counts packets, frames and keyframes, keeps the publisher's last sender report (for lip
 *   sync) and raises the stream warnings (500301 disconnected, 500302 low frame rate);
 * - when ffmpeg ends while the stream goes on (ffmpeg's RTP input gives up after 10 s without
 *   packets; or it died), the next packets open a new segment: a stream is a list of segments,
 *   each one file with its own start offset.
 * Capture files are NUT written with -flush_packets 1: every packet is on disk as soon as ffmpeg
 * has it, and the file needs no trailer, so stopping a capture is a signal, not a handshake (an
 * ffmpeg blocked on a silent UDP input cannot be stopped gracefully at once), and a capture killed
 * by any means is still readable.
 *
 * At stop: every capture stops, then one ffmpeg composes the final MP4 (layout.ts), which is
 * moved into place; the summary goes back to the parent and this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { isRtcp, parseSenderReport, rtcpPackets } from '../sfu/rtcp.js';
import { frameStartInfo, videoPayloadCodec, type VideoPayloadCodec } from '../sfu/rtp-payload.js';
import type { MediaKind, RtpCodec } from '../sfu/types.js';
import { planCompose, type ComposeStream } from './layout.js';
import {
  RecordingCodes,
  type ChildAddStream,
  type ChildInit,
  type ChildToParent,
  type ParentToChild,
  type RecordingFailureCode,
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

  constructor(
    readonly index: number,
    readonly file: string,
    readonly payloadType: number,
    readonly codec: RtpCodec,
    readonly firstRtpTs: number,
  ) {
    this.firstMono = now();
    this.lastMono = this.firstMono;
    this.exited = new Promise((r) => (this.#resolveExited = r));
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

  #startSegment(pt: number, codec: RtpCodec, firstRtpTs: number): Segment {
    const cfg = config!;
    const index = this.#segmentSeq++;
    const safe = this.info.uid.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
    const file = path.join(workDir, `${this.info.streamId}-${safe}-${this.info.kind}-${index}.nut`);
    const seg = new Segment(index, file, pt, codec, firstRtpTs);
    this.segments.push(seg);
    this.current = seg;
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
      const sdpFile = seg.file.replace(/\.nut$/, '.sdp');
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
        '-flush_packets',
        '1',
        '-f',
        'nut',
        '-y',
        seg.file,
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
        throw new Fatal(RecordingCodes.diskFull, `writing ${seg.file} failed: disk full or write error`, {
          stderr: text.slice(-500),
        });
      }
      if (seg.bytes > 0 && seg.packets > 0 && CREATE_TEXT.test(text) && !(await fileSize(seg.file))) {
        throw new Fatal(RecordingCodes.fileCreationFailed, `cannot create ${seg.file}`, {
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

  /** Stops capturing (idempotent); resolves when every capture process has exited. */
  stop(): Promise<void> {
    this.removed = true;
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    // Packets already relayed are read by ffmpeg within a few ms.
    await sleep(50);
    for (const seg of this.segments) {
      seg.stopRequested = true;
      if (seg.proc && seg.state === 'running') stopProcess(seg.proc);
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
      const size = await fileSize(seg.file);
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

/** SIGINT, then SIGKILL: the NUT file is complete either way (see the header). */
function stopProcess(proc: ChildProcess): void {
  try {
    proc.kill('SIGINT');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }, 200);
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
  const timer = setInterval(checkWarnings, 250);
  timer.unref();
  send({ type: 'ready' });
}

async function addStream(msg: ChildAddStream): Promise<void> {
  if (streams.has(msg.streamId) || stopping) return;
  const s = new StreamRecorder(msg);
  streams.set(msg.streamId, s);
  const port = await s.open();
  send({ type: 'streamReady', streamId: msg.streamId, port });
}

async function removeStream(streamId: string): Promise<void> {
  const s = streams.get(streamId);
  if (!s || s.removed) return;
  await s.stop();
  const usable = await s.usableSegments();
  send({ type: 'streamEnded', streamId, ok: usable.length > 0, packets: s.packets });
}

/** Lip sync: place each video segment relative to its participant's audio by the publisher's clock. */
function captureMs(s: StreamRecorder, seg: Segment): number | null {
  if (!s.lastSr) return null;
  const diff = (seg.firstRtpTs - s.lastSr.rtpTs) | 0;
  return s.lastSr.ntpMs + (diff / seg.codec.clockRate) * 1000;
}

async function stopAll(): Promise<void> {
  const cfg = config!;
  const stopMono = now();
  stopping = true;
  send({ type: 'progress', phase: 'stopping', percent: 0 });
  const pending = [...streams.values()].filter((s) => !s.removed);
  // Also waits for removals still in progress: their files must be complete before the compose.
  await Promise.all([...streams.values()].map((s) => s.stop()));

  interface Usable {
    s: StreamRecorder;
    segs: Segment[];
  }
  const usable: Usable[] = [];
  for (const s of streams.values()) {
    const segs = await s.usableSegments();
    if (pending.includes(s)) {
      send({ type: 'streamEnded', streamId: s.info.streamId, ok: segs.length > 0, packets: s.packets });
    }
    if (segs.length > 0) usable.push({ s, segs });
  }
  const wanted = usable.filter(({ s }) =>
    cfg.mediaType === 1 ? s.info.kind === 'audio' : cfg.mediaType === 2 ? s.info.kind === 'video' : true,
  );
  if (wanted.length === 0) {
    throw new Fatal(RecordingCodes.streamsMissing, 'no subscribed stream delivered any media', {
      streams: [...streams.values()].map((s) => ({ uid: s.info.uid, kind: s.info.kind, packets: s.packets })),
    });
  }

  const t0 = Math.min(...wanted.flatMap(({ segs }) => segs.map((g) => g.firstMono)));
  const recordStartTime = epochOf(t0);
  const startOf = new Map<Segment, number>();
  for (const { segs } of wanted) for (const g of segs) startOf.set(g, g.firstMono - t0);
  // Lip sync from sender reports (same participant's audio as the reference).
  const corrections = new Map<StreamRecorder, number>();
  for (const { s, segs } of wanted) {
    if (s.info.kind !== 'video') continue;
    const audio = wanted.find(
      (u) => u.s.info.kind === 'audio' && u.s.info.participantId === s.info.participantId,
    );
    if (!audio) continue;
    for (const v of segs) {
      const cv = captureMs(s, v);
      const vStart = startOf.get(v)!;
      const a =
        audio.segs.find((g) => startOf.get(g)! <= vStart && vStart <= g.lastMono - t0) ??
        audio.segs.reduce((best, g) =>
          Math.abs(startOf.get(g)! - vStart) < Math.abs(startOf.get(best)! - vStart) ? g : best,
        );
      const ca = captureMs(audio.s, a);
      if (cv === null || ca === null) continue;
      const synced = startOf.get(a)! + (cv - ca);
      const correction = synced - vStart;
      if (Math.abs(correction) < 1000) {
        startOf.set(v, Math.max(0, synced));
        if (!corrections.has(s)) corrections.set(s, Math.round(correction));
      }
    }
  }
  const durationMs = Math.max(
    1,
    Math.round(Math.max(...wanted.flatMap(({ segs }) => segs.map((g) => g.lastMono - t0)))),
  );

  const composeStreams: ComposeStream[] = wanted.map(({ s, segs }) => ({
    streamId: s.info.streamId,
    kind: s.info.kind,
    segments: segs.map((g) => ({ file: g.file, startMs: startOf.get(g)!, endMs: g.lastMono - t0 })),
  }));
  const capturesStoppedMono = now();
  const finalFile = path.join(cfg.outputDir, `${cfg.recordId}.mp4`);
  const partial = path.join(cfg.outputDir, `${cfg.recordId}.partial.mp4`);
  const plan = planCompose({
    streams: composeStreams,
    durationMs,
    mediaType: cfg.mediaType,
    maxMixedStreams: cfg.maxMixedStreams,
    layout: cfg.layout,
    output: partial,
  });
  await writeFile(path.join(workDir, 'compose.txt'), `${plan.args.join(' \\\n  ')}\n`).catch(() => undefined);
  await runCompose(cfg, plan.args, durationMs);

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
  if (!cfg.keepParts) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);

  const summaries: StreamSummary[] = [...streams.values()].map((s) => {
    const u = wanted.find((x) => x.s === s);
    const segs: SegmentSummary[] = (u?.segs ?? []).map((g) => ({
      file: g.file,
      startAt: epochOf(g.firstMono),
      startMs: Math.round(startOf.get(g)!),
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
      syncCorrectionMs: corrections.get(s) ?? 0,
    };
  });
  finished = true;
  send({
    type: 'done',
    summary: {
      file: finalFile,
      bytes: size,
      recordStartTime,
      durationMs,
      mediaType: cfg.mediaType,
      streams: summaries,
      finalizeMs: Math.round(now() - stopMono),
      captureStopMs: Math.round(capturesStoppedMono - stopMono),
    },
  });
  exitSoon(0);
}

async function runCompose(cfg: ChildInit, args: string[], durationMs: number): Promise<void> {
  const proc = spawn(cfg.ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  let lastProgress = 0;
  proc.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-6000);
  });
  let carry = '';
  proc.stdout.on('data', (d: Buffer) => {
    carry += d.toString();
    const lines = carry.split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^out_time_(?:ms|us)=(\d+)/.exec(line);
      if (m && now() - lastProgress > 500) {
        lastProgress = now();
        const percent = Math.min(99, Math.round((Number(m[1]) / 1000 / durationMs) * 100));
        send({ type: 'progress', phase: 'composing', percent });
      }
    }
  });
  const timeoutMs = cfg.composeTimeoutMs > 0 ? cfg.composeTimeoutMs : 120_000 + 3 * durationMs;
  const result = await new Promise<{ code: number | null; error?: string; timedOut?: boolean }>((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve({ code: null, timedOut: true });
    }, timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, error: String(err) });
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code });
    });
  });
  children.delete(proc);
  if (result.code === 0) return;
  const tail = stderr.trim().split('\n').slice(-8).join('\n');
  if (DISK_TEXT.test(stderr)) {
    throw new Fatal(RecordingCodes.diskFull, 'writing the final file failed: disk full or write error', {
      stderr: tail,
    });
  }
  throw new Fatal(
    RecordingCodes.conversionFailed,
    result.timedOut
      ? `composing the final file took longer than ${timeoutMs} ms`
      : `ffmpeg could not compose the final file (${result.error ?? `exit code ${result.code}`})`,
    { stderr: tail },
  );
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
