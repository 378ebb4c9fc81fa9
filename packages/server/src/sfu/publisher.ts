/**
 * The publisher side: a PublisherTransport receives one participant's audio/video. Its
 * SourceTracks forward every RTP packet byte for byte to their sinks (subscribers of either model,
 * taps), forward the publisher's sender reports, and talk RTCP to the publisher themselves (no
 * libdatachannel media handler on this leg, so that incoming sender reports reach us): receiver
 * reports + REMB every second, PLI on keyframe requests, NACK for packets lost on the way in.
 */
import { performance } from 'node:perf_hooks';
import type { Track } from 'node-datachannel';
import { SfuError } from './errors.js';
import {
  buildNack,
  buildPli,
  buildReceiverReport,
  buildRemb,
  isRtcp,
  parseSenderReport,
  RTCP_SR,
  rtcpPackets,
  senderReportOnly,
  type ReportBlock,
} from '../rtp/rtcp.js';
import { NackTracker, ReceiveStats } from '../rtp/rtp-stats.js';
import {
  closeQuietly,
  raceTimeout,
  randomSsrc,
  Transport,
  watchTrack,
  type Counters,
  type RouterContext,
} from './transport.js';
import type { PublishedTrack, TrackArrival, TrackDescription, TrackEndReason } from './types.js';

/** Where a SourceTrack sends what it forwards. */
export interface PacketSink {
  sendRtp(packet: Buffer): void;
  sendRtcp(packet: Buffer): void;
  /** The source ended; the sink must not expect more packets. `emit`: whether events may go out. */
  sourceEnded(emit: boolean): void;
}

export class SourceTrack {
  readonly sinks = new Set<PacketSink>();
  native: Track | null = null;
  open = false;
  ended = false;
  readonly stats: ReceiveStats;
  readonly nack: NackTracker | null;
  /** Last SR of the publisher for this SSRC (standalone copy), replayed to new subscribers. */
  lastSenderReport: Buffer | null = null;
  /** Why the track ended (set before its sinks hear of it). */
  endReason: TrackEndReason | null = null;
  /** What arrived from the publisher (plain increments on the packet path; see trackArrival()). */
  readonly arrival = { packets: 0, bytes: 0, frames: 0, lastPacketMono: -1 };
  #lastPliMs = -Infinity;
  #pliTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly info: PublishedTrack,
    readonly cname: string,
    readonly headerExtensions: { id: number; uri: string }[],
    private readonly transport: PublisherTransport,
  ) {
    this.stats = new ReceiveStats(info.codecs[0]?.clockRate ?? 90000);
    this.nack = info.kind === 'video' ? new NackTracker() : null;
  }

  /** Asks the publisher for a keyframe (PLI), merging requests closer than the minimum interval. */
  requestKeyFrame(): void {
    if (this.ended || this.info.kind !== 'video' || this.#pliTimer) return;
    const wait = this.#lastPliMs + this.transport.minPliIntervalMs - performance.now();
    if (wait <= 0) this.#sendPli();
    else
      this.#pliTimer = setTimeout(() => {
        this.#pliTimer = null;
        this.#sendPli();
      }, wait);
  }

  #sendPli(): void {
    if (this.ended || !this.open) return; // a publisher's first frame is a keyframe anyway
    this.#lastPliMs = performance.now();
    if (this.transport.sendRtcp(buildPli(this.transport.senderSsrc, this.info.ssrc))) {
      this.transport.ctxCounters.keyFrameRequestsSent++;
    }
  }

  /** Codec, SSRC and header extensions (copies): MediaRouter.describeTrack(). */
  describe(): TrackDescription {
    return {
      trackId: this.info.id,
      participantId: this.info.participantId,
      kind: this.info.kind,
      ssrc: this.info.ssrc,
      cname: this.cname,
      codecs: this.info.codecs.map((c) => ({ ...c, rtcpFeedback: [...c.rtcpFeedback] })),
      headerExtensions: this.headerExtensions.map((e) => ({ ...e })),
      ended: this.ended,
    };
  }

  /** What arrived so far: MediaRouter.trackArrival(). */
  arrivalInfo(): TrackArrival {
    const a = this.arrival;
    return {
      trackId: this.info.id,
      packets: a.packets,
      bytes: a.bytes,
      frames: a.frames,
      lastPacketAt: a.lastPacketMono < 0 ? null : Math.round(performance.timeOrigin + a.lastPacketMono),
    };
  }

  end(reason: TrackEndReason, emit: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason;
    if (this.#pliTimer) clearTimeout(this.#pliTimer);
    this.#pliTimer = null;
    const sinks = [...this.sinks];
    this.sinks.clear();
    if (emit) this.transport.trackEnded(this.info, reason);
    for (const s of sinks) s.sourceEnded(emit);
  }
}

export class PublisherTransport extends Transport {
  readonly role = 'publisher' as const;
  /** Negotiated and announced (trackPublished): its tracks may go to subscriber connections. */
  published = false;
  readonly sources: SourceTrack[];
  readonly senderSsrc = randomSsrc();
  readonly #bySsrc = new Map<number, SourceTrack>();
  readonly #byMid = new Map<string, SourceTrack>();
  #rtcpTimer: NodeJS.Timeout | null = null;
  #nackTimer: NodeJS.Timeout | null = null;
  #tracksBound: Promise<void>;
  #resolveTracksBound!: () => void;
  #sentFirstRemb = false;

  constructor(
    ctx: RouterContext,
    id: string,
    participantId: string,
    sources: { info: PublishedTrack; cname: string; headerExtensions: { id: number; uri: string }[] }[],
  ) {
    super(ctx, id, participantId);
    this.sources = sources.map((s) => new SourceTrack(s.info, s.cname, s.headerExtensions, this));
    for (const s of this.sources) {
      this.#bySsrc.set(s.info.ssrc, s);
      this.#byMid.set(s.info.mid, s);
    }
    this.#tracksBound = new Promise((r) => (this.#resolveTracksBound = r));
    this.pc.onTrack((track) => this.#onTrack(track));
  }

  get publisherId(): string {
    return this.participantId;
  }

  get minPliIntervalMs(): number {
    return this.ctx.config.keyFrameRequestMinIntervalMs;
  }

  get ctxCounters(): Counters {
    return this.ctx.counters;
  }

  trackIds(): string[] {
    return this.sources.filter((s) => !s.ended).map((s) => s.info.id);
  }

  liveSources(): SourceTrack[] {
    return this.sources.filter((s) => !s.ended);
  }

  trackEnded(info: PublishedTrack, reason: TrackEndReason): void {
    this.ctx.trackEnded(info, reason);
  }

  /** Applies the (trimmed) offer; libdatachannel answers by itself. */
  async negotiate(offerSdp: string): Promise<string> {
    try {
      this.pc.setRemoteDescription(offerSdp, 'offer');
    } catch (err) {
      throw new SfuError('invalid-sdp', `offer refused: ${String(err)}`);
    }
    this.remoteDescriptionSet();
    await raceTimeout(this.#tracksBound, 5000);
    if (this.sources.some((s) => !s.native)) {
      throw new SfuError(
        'negotiation-failed',
        'libdatachannel did not create a track for every offered m-line',
      );
    }
    return this.localSdp();
  }

  #onTrack(track: Track): void {
    this.nativeTracks.push(track);
    watchTrack(track);
    if (this.closed) {
      closeQuietly(track); // arrived after close(): close it too, or its callbacks keep the process alive
      return;
    }
    const source = this.#byMid.get(track.mid());
    if (!source || source.native) return; // a section we do not forward; kept referenced, closed with us
    source.native = track;
    track.onOpen(() => {
      source.open = true;
      this.#startRtcp();
    });
    track.onMessage((msg) => this.#onMessage(source, msg));
    if (this.sources.every((s) => s.native)) this.#resolveTracksBound();
  }

  #onMessage(source: SourceTrack, msg: Buffer): void {
    if (source.ended) return;
    // Under a remote-address policy, nothing is taken before the peer's address passed it.
    if (!this.mayCarryMedia()) return;
    if (isRtcp(msg)) {
      this.#onRtcp(msg);
      return;
    }
    if (msg.length < 12) return;
    const counters = this.ctx.counters;
    counters.receivedPackets++;
    counters.receivedBytes += msg.length;
    const seq = msg.readUInt16BE(2);
    const now = performance.now();
    const arrival = source.arrival;
    arrival.packets++;
    arrival.bytes += msg.length;
    arrival.lastPacketMono = now;
    if (msg[1]! & 0x80 && source.info.kind === 'video') arrival.frames++;
    const gap = source.stats.onRtp(seq, msg.readUInt32BE(4), now);
    if (source.nack) {
      const missing = source.nack.onRtp(seq, gap, now);
      if (missing.length > 0) this.#sendNack(source, missing);
    }
    for (const sink of source.sinks) sink.sendRtp(msg);
  }

  #onRtcp(msg: Buffer): void {
    for (const p of rtcpPackets(msg)) {
      if (p.type !== RTCP_SR) continue;
      const sr = parseSenderReport(msg, p);
      if (!sr) continue;
      const source = this.#bySsrc.get(sr.ssrc);
      if (!source || source.ended) continue;
      source.stats.onSenderReport(sr.ntpMsw, sr.ntpLsw, performance.now());
      const copy = senderReportOnly(msg, p);
      source.lastSenderReport = copy;
      for (const sink of source.sinks) sink.sendRtcp(copy);
    }
  }

  /** Sends RTCP to the publisher through any open track (all share one DTLS-SRTP transport). */
  sendRtcp(packet: Buffer): boolean {
    if (this.closed) return false;
    const track = this.sources.find((s) => s.open && s.native)?.native;
    if (!track) return false;
    try {
      return track.sendMessageBinary(packet);
    } catch {
      return false;
    }
  }

  #sendNack(source: SourceTrack, seqs: number[]): void {
    if (this.sendRtcp(buildNack(this.senderSsrc, source.info.ssrc, seqs))) this.ctx.counters.nacksSent++;
    if (!this.#nackTimer) {
      this.#nackTimer = setInterval(() => this.#retryNacks(), 40);
    }
  }

  #retryNacks(): void {
    const now = performance.now();
    let pending = 0;
    for (const s of this.sources) {
      if (!s.nack || s.ended) continue;
      const due = s.nack.due(now, 80);
      if (due.length > 0 && this.sendRtcp(buildNack(this.senderSsrc, s.info.ssrc, due))) {
        this.ctx.counters.nacksSent++;
      }
      pending += s.nack.pending;
    }
    if (pending === 0 && this.#nackTimer) {
      clearInterval(this.#nackTimer);
      this.#nackTimer = null;
    }
  }

  #startRtcp(): void {
    if (this.closed) return;
    if (!this.#sentFirstRemb) {
      // Chrome trusts REMB at once during its first seconds: announce the bitrate right away so
      // the publisher starts at full resolution instead of ramping up from ~300 kbps.
      this.#sentFirstRemb = true;
      this.#sendReports();
    }
    this.#rtcpTimer ??= setInterval(() => this.#sendReports(), 1000);
  }

  #sendReports(): void {
    const now = performance.now();
    const blocks: ReportBlock[] = [];
    for (const s of this.sources) {
      if (s.ended) continue;
      const b = s.stats.reportBlock(s.info.ssrc, now);
      if (b) blocks.push(b);
    }
    const live = this.liveSources().map((s) => s.info.ssrc);
    if (live.length === 0) return;
    const rr = buildReceiverReport(this.senderSsrc, blocks.slice(0, 31));
    const remb = buildRemb(this.senderSsrc, this.ctx.config.maxIncomingBitrate, live);
    if (this.sendRtcp(Buffer.concat([rr, remb]))) this.ctx.counters.receiverReportsSent++;
  }

  protected onClose(reason: TrackEndReason, emit: boolean): void {
    if (this.#rtcpTimer) clearInterval(this.#rtcpTimer);
    if (this.#nackTimer) clearInterval(this.#nackTimer);
    this.#rtcpTimer = null;
    this.#nackTimer = null;
    this.#resolveTracksBound();
    for (const s of this.sources) s.end(reason, emit);
  }
}
