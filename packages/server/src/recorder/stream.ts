/**
 * One recorded stream (one tapped track) in the recorder child:
 *   tap (parent) ──RTP+SR──▶ relay socket (here) ──RTP──▶ ffmpeg (SDP input, -c copy) ──▶ NUT chunks
 * The relay is what makes the timing exact and the capture robust:
 * - video is held back until a keyframe starts (keyframes are asked for until one comes), so the
 *   first packet ffmpeg sees is the first frame of the capture and its arrival time is the
 *   segment's start offset; audio starts with its first packet;
 * - it buffers packets while ffmpeg starts and flushes them once ffmpeg's socket is bound (so none
 *   is lost), then forwards each packet as it comes;
 * - it counts packets, frames and keyframes, keeps the publisher's last sender report (for lip
 *   sync) and raises the stream warnings (500301 disconnected, 500302 low frame rate: warnings.ts);
 * - when ffmpeg ends while the stream goes on (ffmpeg's RTP input gives up after 10 s without
 *   packets; or it died), the next packets open a new segment: a stream is a list of segments,
 *   each one capture with its own start offset (segment.ts).
 */
import { spawn } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isRtcp, parseSenderReport, rtcpPackets } from '../rtp/rtcp.js';
import { frameStartInfo, videoPayloadCodec, type VideoPayloadCodec } from '../rtp/rtp-payload.js';
import type { RtpCodec } from '../rtp/types.js';
import { epochOf, now, sleep } from './clock.js';
import { CREATE_TEXT, DISK_ERRNOS, DISK_TEXT, errnoOf, Fatal } from './failures.js';
import { fileSize } from './files.js';
import { send } from './parent-link.js';
import { RecordingCodes, type ChildAddStream, type ChildInit } from './protocol.js';
import { stopProcess } from './run-ffmpeg.js';
import { sdpFor, Segment } from './segment.js';
import type { RecorderSession } from './session.js';
import { chunkLengthMs, CUT_LEAD_MS } from './timing.js';
import { freePortPair, udpPortBound } from './udp-ports.js';

export class StreamRecorder {
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
  readonly #session: RecorderSession;

  constructor(
    session: RecorderSession,
    readonly info: ChildAddStream,
  ) {
    this.#session = session;
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
    if (this.removed || this.#session.stopping) return;
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
    const session = this.#session;
    const cfg = session.config!;
    const index = this.#segmentSeq++;
    const safe = this.info.uid.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
    const base = path.join(session.workDir, `${this.info.streamId}-${safe}-${this.info.kind}-${index}`);
    // Chunk cuts on the window grid (see windows.ts): audio at the window boundaries, video a
    // little before them (a window's tiles need a keyframe before its start). The recording's
    // start is not final yet for the first captures: a wrong guess only costs some decoding.
    const t = now();
    session.firstMediaMono ??= t;
    const lead = this.#video ? CUT_LEAD_MS : 0;
    const chunkMs = chunkLengthMs(cfg);
    const offsetMs =
      (((t - (session.timelineT0 ?? session.firstMediaMono) + lead) % chunkMs) + chunkMs) % chunkMs;
    const seg = new Segment(index, base, pt, codec, firstRtpTs, Math.round(offsetMs), chunkMs);
    this.segments.push(seg);
    this.current = seg;
    session.saveJournal();
    void this.#launch(seg, cfg).catch((err: unknown) => {
      if (err instanceof Fatal) session.fail(err);
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
      if (seg.stopRequested || this.#session.finished) {
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
        // Chunks on the composer's grid (see windows.ts), one timeline across them.
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
      const children = this.#session.children;
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
      if (!seg.stopRequested && !this.#session.stopping && !this.removed) {
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
