/**
 * Transports (one libdatachannel PeerConnection each) and the tracks they carry. Internal to the
 * SFU: the public surface is MediaRouter (router.ts).
 *
 * - PublisherTransport: receives a participant's audio/video. Its SourceTracks forward every RTP
 *   packet byte for byte to their sinks, forward the publisher's sender reports, and talk RTCP to
 *   the publisher themselves (no libdatachannel media handler on this leg, so that incoming sender
 *   reports reach us): receiver reports + REMB every second, PLI on keyframe requests, NACK for
 *   packets lost on the way in.
 * - SubscriberTransport: sends one publisher's tracks to one subscriber. Its SinkTracks declare
 *   the publisher's SSRC, payload types and header extension ids, so forwarded packets need no
 *   rewriting; a RtcpNackResponder on each video sink answers the subscriber's NACKs; PLI/FIR from
 *   the subscriber become keyframe requests to the publisher.
 *
 * node-datachannel pitfalls handled here: every Track object is referenced until closed (a
 * collected Track silently loses its callbacks); every Track and PeerConnection is closed
 * explicitly (their native callbacks otherwise keep the process alive); media bytes are counted
 * here, not with bytesReceived().
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  Audio,
  PeerConnection,
  RtcpNackResponder,
  Video,
  type RtcConfig,
  type Track,
} from 'node-datachannel';
import { SfuError } from './errors.js';
import {
  buildBye,
  buildNack,
  buildPli,
  buildReceiverReport,
  buildRemb,
  feedbackMediaSsrcs,
  isRtcp,
  parseRemb,
  parseSenderReport,
  RTCP_PSFB,
  RTCP_RR,
  RTCP_RTPFB,
  RTCP_SR,
  rtcpPackets,
  senderReportOnly,
  type ReportBlock,
} from '../rtp/rtcp.js';
import { NackTracker, ReceiveStats } from '../rtp/rtp-stats.js';
import {
  candidateKey,
  rewriteCandidate,
  rewriteSdpCandidates,
  sdpCandidates,
  splitSdpCandidates,
} from './sdp.js';
import type {
  LocalCandidateEvent,
  RemoteDeniedEvent,
  PublishedTrack,
  SfuLogger,
  TrackEndReason,
  TransportRole,
  TransportState,
  TransportStateEvent,
  TransportStats,
  RouterCounters,
  VideoCodecName,
} from './types.js';

/** Counters shared by every transport of a router. */
export type Counters = RouterCounters;

export function newCounters(): Counters {
  return {
    receivedPackets: 0,
    receivedBytes: 0,
    forwardedPackets: 0,
    forwardedBytes: 0,
    droppedPackets: 0,
    keyFrameRequestsReceived: 0,
    keyFrameRequestsSent: 0,
    nacksReceived: 0,
    nacksSent: 0,
    senderReportsForwarded: 0,
    receiverReportsSent: 0,
    remoteDenied: 0,
  };
}

export interface ResolvedConfig {
  rtc: RtcConfig;
  videoCodecs: readonly VideoCodecName[];
  announcedIps: readonly string[];
  maxIncomingBitrate: number;
  iceGatheringTimeoutMs: number;
  keyFrameRequestMinIntervalMs: number;
  connectTimeoutMs: number;
  nackBufferPackets: number;
}

/** What transports need from their router. */
export interface RouterContext {
  readonly config: ResolvedConfig;
  readonly log: SfuLogger;
  readonly counters: Counters;
  transportState(e: TransportStateEvent): void;
  localCandidate(e: LocalCandidateEvent): void;
  trackEnded(track: PublishedTrack, reason: TrackEndReason): void;
  /** The transport has closed (by us or by the peer); the router forgets it. */
  transportClosed(t: Transport): void;
  /** Remote addresses media may come from and go to; null: any. */
  remotePolicy(): ReadonlySet<string> | null;
  remoteDenied(e: RemoteDeniedEvent): void;
}

/** 1.2.3.4 for ::ffff:1.2.3.4, lower case for IPv6: the form policies are compared in. */
export function normaliseAddress(address: string): string {
  const a = address.trim().toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

// ---- native object accounting (diagnostics and tests) ----------------------------------------

const native = { peerConnections: 0, tracks: 0 };

/** Native PeerConnections / Tracks created by the SFU whose 'closed' callback has not run yet. */
export function sfuNativeStats(): { peerConnections: number; tracks: number } {
  return { ...native };
}

function watchTrack(track: Track): void {
  native.tracks++;
  let counted = true;
  // Also required by node-datachannel: a Track's native cleanup only runs from this callback.
  track.onClosed(() => {
    if (counted) {
      counted = false;
      native.tracks--;
    }
  });
}

/** Waits for `p` at most `ms` milliseconds (never rejects on timeout; the timer is cleared). */
async function raceTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function closeQuietly(what: { close(): void }): void {
  try {
    what.close();
  } catch {
    // already closed or destroyed
  }
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

function randomSsrc(): number {
  return randomBytes(4).readUInt32BE(0) || 1;
}

const STATES: ReadonlySet<string> = new Set([
  'new',
  'connecting',
  'connected',
  'disconnected',
  'failed',
  'closed',
]);

// ---- base transport --------------------------------------------------------------------------

export abstract class Transport {
  abstract readonly role: TransportRole;
  readonly pc: PeerConnection;
  #state: TransportState = 'new';
  #closed = false;
  #sdpReturned = false;
  readonly #sdpCandidateKeys = new Set<string>();
  #remoteDescriptionSet = false;
  readonly #pendingRemoteCandidates: [string, string][] = [];
  /** Local candidates held back until the answer is set (offerer legs only; see localSdp). */
  readonly #heldLocalCandidates: [string, string][] = [];
  readonly #gathered: Promise<void>;
  readonly #described: Promise<void>;
  /** Every native Track of this PeerConnection, kept referenced until close. */
  protected readonly nativeTracks: Track[] = [];
  #connectTimer: NodeJS.Timeout | null = null;

  constructor(
    protected readonly ctx: RouterContext,
    readonly id: string,
    readonly participantId: string,
  ) {
    this.pc = new PeerConnection(id, ctx.config.rtc);
    native.peerConnections++;
    let pcCounted = true;
    let resolveGathered!: () => void;
    let resolveDescribed!: () => void;
    this.#gathered = new Promise((r) => (resolveGathered = r));
    this.#described = new Promise((r) => (resolveDescribed = r));
    this.pc.onStateChange((state) => {
      if (state === 'closed' && pcCounted) {
        pcCounted = false;
        native.peerConnections--;
      }
      this.#onState(state);
    });
    this.pc.onGatheringStateChange((s) => {
      if (s === 'complete') resolveGathered();
    });
    this.pc.onLocalDescription(() => resolveDescribed());
    this.pc.onLocalCandidate((candidate, mid) => this.#onLocalCandidate(candidate, mid));
    // A transport whose peer never shows up (no answer, ICE never completes) must not live on.
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (this.#closed || this.#state === 'connected') return;
      this.ctx.log.warn(
        { transportId: this.id, participantId: this.participantId, state: this.#state },
        'sfu: transport did not connect in time, closing it',
      );
      this.close('transport-closed', true);
    }, ctx.config.connectTimeoutMs);
    this.#connectTimer.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get state(): TransportState {
    return this.#state;
  }

  abstract get publisherId(): string;
  abstract trackIds(): string[];

  stats(): TransportStats {
    return {
      transportId: this.id,
      participantId: this.participantId,
      role: this.role,
      state: this.#state,
      trackIds: this.trackIds(),
      publisherId: this.publisherId,
    };
  }

  #onState(raw: string): void {
    if (this.#closed) return;
    if (!STATES.has(raw)) return;
    const state = raw as TransportState;
    if (state === this.#state) return;
    this.#state = state;
    this.ctx.log.debug(
      { transportId: this.id, participantId: this.participantId, state },
      'sfu transport state',
    );
    if (state === 'connected' && this.#connectTimer) {
      clearTimeout(this.#connectTimer);
      this.#connectTimer = null;
    }
    if (state === 'connected' && !this.checkRemote()) return;
    if (state === 'failed' || state === 'closed') {
      // The peer is gone (ICE failed, or it closed DTLS): tear down as if asked to.
      this.close('transport-closed', true);
      return;
    }
    this.ctx.transportState({
      transportId: this.id,
      participantId: this.participantId,
      role: this.role,
      state,
    });
  }

  /**
   * Where the SFU is the offerer, the peer must not reach it before the SFU holds the answer:
   * libdatachannel lets ICE complete on early connectivity checks and then verifies the DTLS
   * fingerprint against a remote description it does not have yet, so the handshake fails (seen
   * under load, when the answer travels slower than the browser's checks). Keeping every local
   * candidate until the answer is set closes that window for one signaling hop of setup time.
   */
  #holdsCandidatesUntilAnswer(): boolean {
    return this.role === 'subscriber' && !this.#remoteDescriptionSet;
  }

  /**
   * Whether the peer's address (of the selected candidate pair) is allowed; if not, the
   * transport is closed and reported, so no media flows to or from that address. Checked when
   * the transport connects, and by the router from time to time (the selected pair may change).
   */
  checkRemote(): boolean {
    const policy = this.ctx.remotePolicy();
    if (!policy || this.#closed) {
      this.remoteVerified = !this.#closed;
      return !this.#closed;
    }
    let pair: ReturnType<PeerConnection['getSelectedCandidatePair']> = null;
    try {
      pair = this.pc.getSelectedCandidatePair();
    } catch {
      pair = null;
    }
    if (!pair) return true; // not connected yet: media cannot flow
    if (policy.has(normaliseAddress(pair.remote.address))) {
      this.remoteVerified = true;
      return true;
    }
    this.remoteVerified = false;
    this.ctx.remoteDenied({
      transportId: this.id,
      participantId: this.participantId,
      role: this.role,
      address: pair.remote.address,
      port: pair.remote.port,
    });
    this.close('transport-closed', true);
    return false;
  }

  /** Set once the peer's address passed the remote-address policy (always, without one). */
  remoteVerified = false;

  /**
   * Media may flow: no remote-address policy, or the peer's address passed it. Checked here too
   * (until it passes), because packets can arrive before the 'connected' callback has run.
   */
  mayCarryMedia(): boolean {
    if (this.remoteVerified || this.ctx.remotePolicy() === null) return true;
    this.checkRemote();
    return this.remoteVerified;
  }

  #onLocalCandidate(candidate: string, mid: string): void {
    // Candidates found before the SDP was handed out are in that SDP already (or held with it).
    if (this.#closed || !this.#sdpReturned) return;
    if (this.#holdsCandidatesUntilAnswer()) {
      this.#heldLocalCandidates.push([candidate, mid]);
      return;
    }
    this.#emitLocalCandidate(candidate, mid);
  }

  #emitLocalCandidate(candidate: string, mid: string): void {
    for (const c of rewriteCandidate(candidate, this.ctx.config.announcedIps)) {
      const key = candidateKey(c);
      if (this.#sdpCandidateKeys.has(key)) continue;
      this.#sdpCandidateKeys.add(key);
      this.ctx.localCandidate({ transportId: this.id, participantId: this.participantId, candidate: c, mid });
    }
  }

  /**
   * The local SDP once gathering completes or the configured wait ends (candidates found later go
   * out as localCandidate events), host candidates rewritten to the announced addresses.
   */
  async localSdp(): Promise<string> {
    const timeout = this.ctx.config.iceGatheringTimeoutMs;
    if (this.pc.localDescription() === null) await raceTimeout(this.#described, 5000);
    if (timeout > 0 && !this.#closed && this.pc.gatheringState() !== 'complete') {
      await raceTimeout(this.#gathered, timeout);
    }
    if (this.#closed) throw new SfuError('negotiation-failed', 'the transport closed during negotiation');
    const desc = this.pc.localDescription();
    if (!desc) throw new SfuError('negotiation-failed', 'libdatachannel produced no local description');
    this.#sdpReturned = true;
    if (this.#holdsCandidatesUntilAnswer()) {
      const split = splitSdpCandidates(desc.sdp);
      this.#heldLocalCandidates.push(...split.candidates);
      return rewriteSdpCandidates(split.sdp, this.ctx.config.announcedIps);
    }
    const sdp = rewriteSdpCandidates(desc.sdp, this.ctx.config.announcedIps);
    for (const c of sdpCandidates(sdp)) this.#sdpCandidateKeys.add(candidateKey(c));
    return sdp;
  }

  protected remoteDescriptionSet(): void {
    this.#remoteDescriptionSet = true;
    for (const [c, mid] of this.#heldLocalCandidates.splice(0)) this.#emitLocalCandidate(c, mid);
    for (const [c, mid] of this.#pendingRemoteCandidates.splice(0)) this.#addCandidate(c, mid);
  }

  addRemoteCandidate(candidate: string, mid: string): void {
    if (this.#closed) return;
    const c = candidate.trim();
    if (c === '' || c === 'a=end-of-candidates' || c === 'end-of-candidates') return;
    if (!this.#remoteDescriptionSet) this.#pendingRemoteCandidates.push([c, mid]);
    else this.#addCandidate(c, mid);
  }

  #addCandidate(candidate: string, mid: string): void {
    try {
      this.pc.addRemoteCandidate(candidate, mid);
    } catch (err) {
      this.ctx.log.debug(
        { transportId: this.id, candidate, err: String(err) },
        'sfu: remote candidate refused',
      );
    }
  }

  /**
   * Idempotent. Cascade: this transport's tracks end (publisher: trackEnded for each live track,
   * then subscriber transports left with no live track close), native Tracks close, the
   * PeerConnection closes, the router forgets the transport, and (when `emit`) a 'closed'
   * transportState event goes out last.
   */
  close(reason: TrackEndReason, emit: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.onClose(reason, emit);
    for (const t of this.nativeTracks) closeQuietly(t);
    closeQuietly(this.pc);
    this.ctx.transportClosed(this);
    if (emit) {
      this.ctx.transportState({
        transportId: this.id,
        participantId: this.participantId,
        role: this.role,
        state: 'closed',
      });
    }
    this.#state = 'closed';
  }

  protected abstract onClose(reason: TrackEndReason, emit: boolean): void;
}

// ---- publisher side --------------------------------------------------------------------------

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

// ---- subscriber side -------------------------------------------------------------------------

export class SinkTrack implements PacketSink {
  open = false;
  ended = false;
  /** Latest REMB estimate from the subscriber (bits/s), 0 if none. */
  remb = 0;
  /** Latest fraction lost (0..1) the subscriber reported for this stream. */
  fractionLost = 0;

  constructor(
    readonly source: SourceTrack,
    readonly native: Track,
    private readonly transport: SubscriberTransport,
    private readonly counters: Counters,
    /** Kept referenced for as long as the track lives. */
    readonly nackResponder: RtcpNackResponder | null,
  ) {}

  sendRtp(packet: Buffer): void {
    if (!this.open || !this.transport.mayCarryMedia()) {
      this.counters.droppedPackets++;
      return;
    }
    try {
      if (this.native.sendMessageBinary(packet)) {
        this.counters.forwardedPackets++;
        this.counters.forwardedBytes += packet.length;
      } else {
        this.counters.droppedPackets++;
      }
    } catch {
      this.counters.droppedPackets++;
    }
  }

  sendRtcp(packet: Buffer): void {
    if (!this.open) return;
    try {
      if (this.native.sendMessageBinary(packet) && packet[1] === RTCP_SR)
        this.counters.senderReportsForwarded++;
    } catch {
      // closing
    }
  }

  onOpen(): void {
    this.open = true;
    if (this.ended) return;
    if (this.source.lastSenderReport) this.sendRtcp(this.source.lastSenderReport);
    // A new subscriber needs a keyframe to start decoding: ask now rather than wait for its PLI.
    this.source.requestKeyFrame();
  }

  onRtcp(msg: Buffer): void {
    if (this.ended) return;
    const ssrc = this.source.info.ssrc;
    for (const p of rtcpPackets(msg)) {
      if (p.type === RTCP_PSFB && (p.count === 1 || p.count === 4)) {
        if (feedbackMediaSsrcs(msg, p).includes(ssrc)) {
          this.counters.keyFrameRequestsReceived++;
          this.source.requestKeyFrame();
        }
      } else if (p.type === RTCP_RTPFB && p.count === 1) {
        if (feedbackMediaSsrcs(msg, p).includes(ssrc)) this.counters.nacksReceived++;
      } else if (p.type === RTCP_PSFB && p.count === 15) {
        this.remb = parseRemb(msg, p) ?? this.remb;
      } else if (p.type === RTCP_RR) {
        for (let o = p.offset + 8; o + 24 <= p.offset + p.length; o += 24) {
          if (msg.readUInt32BE(o) === ssrc) this.fractionLost = msg[o + 4]! / 256;
        }
      }
    }
  }

  sourceEnded(emit: boolean): void {
    if (this.ended) return;
    this.ended = true;
    // Tell the subscriber's browser the stream is over, then let the transport decide whether
    // anything is left to carry.
    this.sendRtcp(buildBye([this.source.info.ssrc]));
    this.transport.sinkEnded(emit);
  }
}

export class SubscriberTransport extends Transport {
  readonly role = 'subscriber' as const;
  readonly sinks: SinkTrack[] = [];

  constructor(
    ctx: RouterContext,
    id: string,
    participantId: string,
    readonly publisherId: string,
  ) {
    super(ctx, id, participantId);
  }

  /** Adds one sending track per source (same SSRC, payload types and extension ids). */
  addSources(sources: SourceTrack[]): void {
    const ctx = this.ctx;
    sources.forEach((source, index) => {
      const mid = String(index);
      const info = source.info;
      const media = info.kind === 'video' ? new Video(mid, 'SendOnly') : new Audio(mid, 'SendOnly');
      for (const codec of info.codecs) {
        const name = codec.mimeType.split('/')[1] ?? '';
        if (media instanceof Video) {
          // addVideoCodec declares nack, nack pli and goog-remb. Not "ccm fir": a FIR carries its
          // target SSRC only in its FCI, and libdatachannel 0.24 drops RTCP it cannot map to a
          // track by its header SSRCs (on a connection with more than one track), so
          // subscribers must use PLI.
          if (codec.fmtp !== undefined) media.addVideoCodec(codec.payloadType, name, codec.fmtp);
          else media.addVideoCodec(codec.payloadType, name);
        } else {
          const enc = `${name}/${codec.clockRate}/${codec.channels ?? 2}`;
          if (codec.fmtp !== undefined) media.addAudioCodec(codec.payloadType, enc, codec.fmtp);
          else media.addAudioCodec(codec.payloadType, enc);
        }
      }
      for (const ext of source.headerExtensions) media.parseSdpLine(`a=extmap:${ext.id} ${ext.uri}`);
      media.addSSRC(info.ssrc, source.cname, info.streamId, info.id);
      const track = this.pc.addTrack(media);
      this.nativeTracks.push(track);
      watchTrack(track);
      let responder: RtcpNackResponder | null = null;
      if (info.kind === 'video') {
        responder = new RtcpNackResponder(this.ctx.config.nackBufferPackets);
        track.setMediaHandler(responder);
      }
      const sink = new SinkTrack(source, track, this, ctx.counters, responder);
      track.onOpen(() => sink.onOpen());
      track.onMessage((msg) => {
        if (isRtcp(msg)) sink.onRtcp(msg);
      });
      this.sinks.push(sink);
      source.sinks.add(sink);
    });
  }

  trackIds(): string[] {
    return this.sinks.filter((s) => !s.ended).map((s) => s.source.info.id);
  }

  /** Creates the offer (libdatachannel is the offerer on this leg). */
  async offer(): Promise<string> {
    try {
      this.pc.setLocalDescription();
    } catch (err) {
      throw new SfuError('negotiation-failed', `could not create the offer: ${String(err)}`);
    }
    return this.localSdp();
  }

  setAnswer(answerSdp: string): void {
    if (this.pc.remoteDescription() !== null) {
      throw new SfuError('negotiation-failed', 'this transport already has an answer');
    }
    try {
      this.pc.setRemoteDescription(answerSdp, 'answer');
    } catch (err) {
      throw new SfuError('invalid-sdp', `answer refused: ${String(err)}`);
    }
    this.remoteDescriptionSet();
  }

  sinkEnded(emit: boolean): void {
    if (this.sinks.every((s) => s.ended)) this.close('transport-closed', emit);
  }

  protected onClose(): void {
    for (const sink of this.sinks) {
      sink.ended = true;
      sink.source.sinks.delete(sink);
    }
  }
}
