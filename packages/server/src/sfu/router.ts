/**
 * MediaRouter: the media plane of one room. It knows nothing of rooms, credentials or
 * WebSockets; participants are opaque string ids and the signaling layer drives it.
 *
 * API (all SDP strings are complete session descriptions; errors are SfuError with a stable
 * `code`, see errors.ts):
 *   new MediaRouter(config: SfuConfig, log: SfuLogger)     config validated once (invalid-config)
 *   publish(participantId, offerSdp) → Promise<{ transportId, answerSdp, tracks: PublishedTrack[] }>
 *       The browser's sendonly offer (Opus audio and/or VP8/H.264 video). RTX, RED/FEC,
 *       transport-cc, sdes:mid and simulcast are cut from the answer, so the browser never sends
 *       them. One call = one publisher transport; a participant may publish several times (e.g.
 *       camera, then screen); each call's tracks are independent.
 *   subscribe(subscriberId, publisherId, { trackIds?, kinds? }?) → Promise<{ transportId, offerSdp, tracks }>
 *       A server offer carrying the publisher's live tracks (all by default; recvonly for the
 *       browser), which the browser answers; pass that answer to setAnswer(). One transport per
 *       call, i.e. per (subscriber, publisher) pair. The browser sees one MediaStream per
 *       publishing participant (msid = PublishedTrack.streamId) and MediaStreamTrack.id =
 *       PublishedTrack.id.
 *   setAnswer(transportId, answerSdp) → Promise<void>
 *   addRemoteCandidate(transportId, candidate, mid?)   trickle from the browser ("candidate:..."
 *       as in RTCIceCandidate.candidate, mid = sdpMid). May come before setAnswer (queued).
 *       Candidates for an unknown or already closed transport are ignored (they race with close).
 *   unpublish(participantId, kind?)        ends that participant's tracks (of that kind)
 *   unsubscribe(subscriberId, publisherId) closes the subscriber's transports for that publisher
 *   closeTransport(transportId)
 *   requestKeyFrame(publisherId)           PLI to each live video track of that publisher
 *   removeParticipant(participantId)       everything of that participant, both directions
 *   participantOf(transportId) → string | undefined   the owner, for the signaling to check that
 *       setAnswer / addRemoteCandidate / closeTransport come from the participant it belongs to
 *   tracks(participantId?) → PublishedTrack[]   stats() → RouterStats   close()
 *   addTap(publisherId, kind, { address, port }, { trackId?, senderReports?, keyFrames? }?) → tapId
 *   removeTap(tapId) → boolean   requestTapKeyFrame(tapId)   tapStats(tapId) → TapStats | undefined
 *   describeTrack(trackId) → TrackDescription | undefined   (codecs, SSRC, cname, header extensions)
 *   trackArrival(trackId) → TrackArrival | undefined        (packets, bytes, frames, lastPacketAt)
 *
 * Taps (for the recorder, or any local consumer that reads plain RTP, e.g. ffmpeg with an SDP):
 * addTap() sends a copy of one live track's RTP packets, byte for byte (the publisher's SSRC,
 * payload type, sequence numbers and header extensions), unencrypted, over UDP to the target,
 * from a socket bound to loopback when the target is loopback. The publisher's sender reports for
 * that SSRC go to the same port (RFC 5761 mux; the last one at once). A video tap asks the
 * publisher for a keyframe at once and then every 2 s for 6 s (options.keyFrames); call
 * requestTapKeyFrame() when the consumer needs another (e.g. after a loss it could not repair).
 * A tap lives until removeTap(), close(), or the end of its track, which emits 'tapEnded'.
 * Nothing is sent back to the publisher on the tap's behalf: losses between SFU and publisher are
 * repaired (NACK) for every consumer alike; losses between tap and consumer are not.
 *
 * ICE: the SDPs returned carry the candidates gathered within iceGatheringTimeoutMs (host
 * candidates on a server: a few ms); later ones come as 'localCandidate' events, to relay to the
 * browser (pc.addIceCandidate({ candidate, sdpMid: mid })). Browsers that hide their addresses
 * behind mDNS names still connect: the SFU learns them from their connectivity checks. So the
 * SFU's own candidates must be reachable: behind NAT, set announcedIps.
 *
 * Keyframes: the SFU asks the publisher for one (PLI) by itself when a subscriber's video starts
 * and when a subscriber sends PLI (merged to one per keyFrameRequestMinIntervalMs). Call
 * requestKeyFrame() only for reasons it cannot see (e.g. a client reporting a frozen picture).
 *
 * Events:
 *   trackPublished(track)          once per track, just before publish() resolves.
 *   trackEnded(track, reason)      'unpublished' | 'participant-removed' | 'transport-closed'
 *                                  (its publisher transport failed, timed out or was closed).
 *   transportState({ transportId, participantId, role, state })
 *                                  'connecting' | 'connected' | 'disconnected' as libdatachannel
 *                                  reports them ('disconnected' is final there: 'closed' follows),
 *                                  and 'closed' exactly once when a transport goes away (API call,
 *                                  ICE failure, peer closed DTLS, not connected within
 *                                  connectTimeoutMs, or no live track left). 'failed' is never
 *                                  emitted on its own: a failed transport closes.
 *   localCandidate({ transportId, participantId, candidate, mid })
 *                                  host candidates already rewritten to announcedIps.
 *   tapEnded({ tapId, trackId, participantId, kind, reason })
 *                                  a tap stopped because its track ended (right after that
 *                                  track's trackEnded); not after removeTap() or close().
 * Listeners run synchronously, often from native callbacks; one that throws is logged and the
 * others still run.
 *
 * Close cascade (each close() idempotent):
 *   router.close() → every transport closes → its tracks end (and their taps) → native Tracks
 *   close → its PeerConnection closes; the taps' sockets close. Silent: no trackEnded /
 *   transportState / tapEnded events (the caller asked), and every later call throws
 *   SfuError('router-closed') (but removeTap(), which stays a harmless no-op).
 *   removeParticipant(p) → p's publisher transports: trackEnded for each live track (each
 *   subscriber transport left without a live track closes: transportState 'closed'), then the
 *   publisher transport's own 'closed'; then p's subscriber transports ('closed').
 *   unpublish(p, kind) → those tracks end (trackEnded; subscribers get an RTCP BYE for the SSRC);
 *   a transport left with no live track closes as above.
 *
 * Design choices:
 * - One subscriber PeerConnection per (subscriber, publisher) pair rather than one per subscriber
 *   with renegotiation. node-datachannel can add tracks to a live PeerConnection but cannot
 *   remove them, and every renegotiation risks glare with the browser; per-pair connections need
 *   no renegotiation at all, fail independently, and Chromium handles them reliably. The cost is
 *   one ICE/DTLS handshake and one UDP port per pair (n·(n-1) subscriber connections for n
 *   publishing participants): size the port range accordingly, or set udpMux to put every
 *   transport on one port. Fine for small rooms.
 * - Packets are forwarded byte for byte: the subscriber SDP declares the publisher's SSRC,
 *   payload types and header-extension ids, so nothing is rewritten on the hot path.
 * - RTCP towards publishers is generated here (RR every second with loss/jitter/LSR, REMB with
 *   maxIncomingBitrate, PLI, NACK for packets lost on the way in) rather than by libdatachannel's
 *   RtcpReceivingSession, because that handler swallows the publisher's sender reports, which
 *   subscribers need for lip sync. The SRs are forwarded unchanged (report blocks stripped), and
 *   the last one is replayed to a subscriber as soon as its track opens.
 * - Without transport-cc, Chrome's send-side estimate follows REMB and RR loss; an early REMB
 *   (sent as soon as DTLS is up, inside Chrome's 2 s start phase) lets it start at full rate.
 *   Subscribers' own REMBs are recorded, not acted on (no simulcast/layer switching yet).
 */
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { IceServer, RtcConfig } from 'node-datachannel';
import { SfuError } from './errors.js';
import { TypedEventEmitter } from './events.js';
import { trimPublisherOffer } from './sdp.js';
import { RtpTap, TapSockets } from './tap.js';
import {
  newCounters,
  newId,
  normaliseAddress,
  PublisherTransport,
  SubscriberTransport,
  type Counters,
  type ResolvedConfig,
  type RouterContext,
  type SourceTrack,
  type Transport,
} from './transports.js';
import type {
  IceServerConfig,
  MediaKind,
  MediaRouterEvents,
  PublishedTrack,
  RouterStats,
  SfuConfig,
  SfuLogger,
  TapOptions,
  TapStats,
  TapTarget,
  TrackArrival,
  TrackDescription,
  TrackEndReason,
  VideoCodecName,
} from './types.js';

export interface PublishResult {
  transportId: string;
  answerSdp: string;
  tracks: PublishedTrack[];
}

export interface SubscribeResult {
  transportId: string;
  offerSdp: string;
  tracks: PublishedTrack[];
}

export interface SubscribeOptions {
  /** Only these tracks (ids from PublishedTrack.id). */
  trackIds?: string[];
  /** Only tracks of these kinds. */
  kinds?: MediaKind[];
}

function invalidConfig(message: string): never {
  throw new SfuError('invalid-config', message);
}

/** Browser-style { urls, username, credential } → libdatachannel IceServer entries. */
function toIceServers(list: IceServerConfig[]): (string | IceServer)[] {
  const out: (string | IceServer)[] = [];
  for (const entry of list) {
    if (typeof entry === 'string') {
      out.push(entry);
      continue;
    }
    for (const url of Array.isArray(entry.urls) ? entry.urls : [entry.urls]) {
      const m = /^(stuns?|turns?):(\[[^\]]+\]|[^:?]+)(?::(\d+))?(?:\?transport=(udp|tcp))?$/i.exec(
        url.trim(),
      );
      if (!m) invalidConfig(`unsupported ICE server URL: ${url}`);
      const scheme = m[1]!.toLowerCase();
      const hostname = m[2]!.replace(/^\[|\]$/g, '');
      const tls = scheme === 'turns' || scheme === 'stuns';
      const port = m[3] ? Number(m[3]) : tls ? 5349 : 3478;
      if (scheme.startsWith('stun')) {
        out.push({ hostname, port });
      } else {
        const server: IceServer = {
          hostname,
          port,
          relayType: tls ? 'TurnTls' : m[4]?.toLowerCase() === 'tcp' ? 'TurnTcp' : 'TurnUdp',
        };
        if (entry.username !== undefined) server.username = entry.username;
        if (entry.credential !== undefined) server.password = entry.credential;
        out.push(server);
      }
    }
  }
  return out;
}

/** Validates the configuration once and fills in the defaults. */
export function resolveSfuConfig(config: SfuConfig): ResolvedConfig {
  const begin = config.portRangeBegin ?? 0;
  const end = config.portRangeEnd ?? 0;
  for (const [name, v] of [
    ['portRangeBegin', begin],
    ['portRangeEnd', end],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) invalidConfig(`${name} must be a port number`);
  }
  if ((begin === 0) !== (end === 0) || begin > end) {
    invalidConfig('portRangeBegin and portRangeEnd must both be set (begin <= end) or both be 0');
  }
  const announcedIps = config.announcedIps ?? [];
  for (const ip of announcedIps) if (!isIP(ip)) invalidConfig(`announcedIps: not an IP address: ${ip}`);
  if (config.bindAddress !== undefined && !isIP(config.bindAddress)) {
    invalidConfig(`bindAddress: not an IP address: ${config.bindAddress}`);
  }
  const videoCodecs: VideoCodecName[] = config.videoCodecs ?? ['VP8', 'H264'];
  if (videoCodecs.length === 0 || videoCodecs.some((c) => c !== 'VP8' && c !== 'H264')) {
    invalidConfig('videoCodecs must list VP8 and/or H264');
  }
  const maxIncomingBitrate = config.maxIncomingBitrate ?? 3_000_000;
  if (!(maxIncomingBitrate >= 30_000)) invalidConfig('maxIncomingBitrate must be at least 30000 bits/s');
  const iceGatheringTimeoutMs = config.iceGatheringTimeoutMs ?? 1000;
  if (!(iceGatheringTimeoutMs >= 0)) invalidConfig('iceGatheringTimeoutMs must be >= 0');
  const keyFrameRequestMinIntervalMs = config.keyFrameRequestMinIntervalMs ?? 300;
  if (!(keyFrameRequestMinIntervalMs >= 0)) invalidConfig('keyFrameRequestMinIntervalMs must be >= 0');
  const connectTimeoutMs = config.connectTimeoutMs ?? 30_000;
  if (!(connectTimeoutMs >= 1000)) invalidConfig('connectTimeoutMs must be >= 1000');
  const nackBufferPackets = config.nackBufferPackets ?? 512;
  if (!Number.isInteger(nackBufferPackets) || nackBufferPackets < 16) {
    invalidConfig('nackBufferPackets must be an integer >= 16');
  }

  const rtc: RtcConfig = { iceServers: toIceServers(config.iceServers ?? []) };
  if (begin > 0) {
    rtc.portRangeBegin = begin;
    rtc.portRangeEnd = end;
  }
  if (config.bindAddress !== undefined) rtc.bindAddress = config.bindAddress;
  if (config.udpMux === true) {
    if (begin === 0 || begin !== end)
      invalidConfig('udpMux needs one fixed port: portRangeBegin === portRangeEnd');
    rtc.enableIceUdpMux = true;
  }
  return Object.freeze({
    rtc,
    announcedIps: Object.freeze([...announcedIps]),
    videoCodecs: Object.freeze([...videoCodecs]),
    maxIncomingBitrate,
    iceGatheringTimeoutMs,
    keyFrameRequestMinIntervalMs,
    connectTimeoutMs,
    nackBufferPackets,
  });
}

export class MediaRouter extends TypedEventEmitter<MediaRouterEvents> {
  readonly id = newId('router');
  readonly #config: ResolvedConfig;
  readonly #log: SfuLogger;
  readonly #counters: Counters = newCounters();
  readonly #transports = new Map<string, Transport>();
  /** msid stream id per publishing participant (audio and video of one participant share it). */
  readonly #streamIds = new Map<string, string>();
  #closed = false;
  readonly #ctx: RouterContext;
  readonly #taps = new Map<string, RtpTap>();
  readonly #tapSockets: TapSockets;
  #remotePolicy: ReadonlySet<string> | null = null;
  #policyTimer: NodeJS.Timeout | null = null;

  constructor(config: SfuConfig, log: SfuLogger) {
    super();
    this.#config = resolveSfuConfig(config);
    this.#log = log;
    this.#tapSockets = new TapSockets((err) =>
      this.#log.warn({ routerId: this.id, err: String(err) }, 'sfu: tap socket error'),
    );
    this.#ctx = {
      config: this.#config,
      log,
      counters: this.#counters,
      transportState: (e) => this.emit('transportState', e),
      localCandidate: (e) => this.emit('localCandidate', e),
      trackEnded: (track, reason) => this.emit('trackEnded', track, reason),
      transportClosed: (t) => {
        this.#transports.delete(t.id);
      },
      remotePolicy: () => this.#remotePolicy,
      remoteDenied: (e) => {
        this.#counters.remoteDenied++;
        this.emit('remoteDenied', e);
      },
    };
  }

  /**
   * Media of this router may come from and go to these addresses only (a call application's
   * proxy egress IPs); null lifts the rule. Transports already connected from elsewhere are
   * closed at once (remoteDenied each); the selected pairs are re-checked every 2 s.
   */
  setRemoteAddressPolicy(addresses: readonly string[] | null): void {
    this.#assertOpen();
    this.#remotePolicy = addresses === null ? null : new Set(addresses.map(normaliseAddress));
    if (this.#remotePolicy && !this.#policyTimer) {
      this.#policyTimer = setInterval(() => this.#checkRemotes(), 2000);
      this.#policyTimer.unref();
    } else if (!this.#remotePolicy && this.#policyTimer) {
      clearInterval(this.#policyTimer);
      this.#policyTimer = null;
    }
    this.#checkRemotes();
  }

  #checkRemotes(): void {
    for (const t of [...this.#transports.values()]) if (t.state === 'connected') t.checkRemote();
  }

  get closed(): boolean {
    return this.#closed;
  }

  protected override listenerError(event: string, err: unknown): void {
    this.#log.error({ routerId: this.id, event, err }, 'sfu: event listener threw');
  }

  #assertOpen(): void {
    if (this.#closed) throw new SfuError('router-closed', 'this media router is closed');
  }

  #transport(transportId: string): Transport {
    const t = this.#transports.get(transportId);
    if (!t) throw new SfuError('unknown-transport', `no transport ${transportId}`);
    return t;
  }

  #publishers(participantId?: string): PublisherTransport[] {
    const out: PublisherTransport[] = [];
    for (const t of this.#transports.values()) {
      if (
        t instanceof PublisherTransport &&
        (participantId === undefined || t.participantId === participantId)
      ) {
        out.push(t);
      }
    }
    return out;
  }

  #liveSources(participantId?: string): SourceTrack[] {
    return this.#publishers(participantId).flatMap((t) => t.liveSources());
  }

  async publish(participantId: string, offerSdp: string): Promise<PublishResult> {
    this.#assertOpen();
    const trimmed = trimPublisherOffer(offerSdp, this.#config.videoCodecs);
    let streamId = this.#streamIds.get(participantId);
    if (!streamId) {
      streamId = newId('s');
      this.#streamIds.set(participantId, streamId);
    }
    const transportId = newId('pub');
    const sources = trimmed.tracks.map((t) => ({
      info: {
        id: newId('t'),
        participantId,
        transportId,
        kind: t.kind,
        mid: t.mid,
        ssrc: t.ssrc,
        streamId,
        codecs: t.codecs,
      } satisfies PublishedTrack,
      cname: t.cname,
      headerExtensions: t.headerExtensions,
    }));
    const transport = new PublisherTransport(this.#ctx, transportId, participantId, sources);
    this.#transports.set(transportId, transport);
    let answerSdp: string;
    try {
      answerSdp = await transport.negotiate(trimmed.sdp);
    } catch (err) {
      transport.close('transport-closed', false);
      throw err;
    }
    this.#assertOpen();
    if (transport.closed) throw new SfuError('negotiation-failed', 'the transport closed during negotiation');
    const tracks = sources.map((s) => s.info);
    this.#log.info(
      { routerId: this.id, participantId, transportId, tracks: tracks.map((t) => `${t.kind}:${t.ssrc}`) },
      'sfu: published',
    );
    for (const t of tracks) this.emit('trackPublished', t);
    return { transportId, answerSdp, tracks };
  }

  async subscribe(
    subscriberId: string,
    publisherId: string,
    options: SubscribeOptions = {},
  ): Promise<SubscribeResult> {
    this.#assertOpen();
    const sources = this.#liveSources(publisherId).filter(
      (s) =>
        (options.trackIds === undefined || options.trackIds.includes(s.info.id)) &&
        (options.kinds === undefined || options.kinds.includes(s.info.kind)),
    );
    if (sources.length === 0) {
      throw new SfuError('no-tracks', `participant ${publisherId} publishes no matching track`);
    }
    const transportId = newId('sub');
    const transport = new SubscriberTransport(this.#ctx, transportId, subscriberId, publisherId);
    this.#transports.set(transportId, transport);
    let offerSdp: string;
    try {
      transport.addSources(sources);
      offerSdp = await transport.offer();
    } catch (err) {
      transport.close('transport-closed', false);
      throw err instanceof SfuError ? err : new SfuError('negotiation-failed', String(err));
    }
    this.#assertOpen();
    if (transport.closed) {
      // Every source ended while we were gathering.
      throw new SfuError('no-tracks', `participant ${publisherId} stopped publishing`);
    }
    this.#log.info({ routerId: this.id, subscriberId, publisherId, transportId }, 'sfu: subscribed');
    return { transportId, offerSdp, tracks: sources.map((s) => s.info) };
  }

  async setAnswer(transportId: string, answerSdp: string): Promise<void> {
    this.#assertOpen();
    const t = this.#transport(transportId);
    if (!(t instanceof SubscriberTransport)) {
      throw new SfuError(
        'wrong-transport-role',
        `${transportId} is a publisher transport; it takes no answer`,
      );
    }
    t.setAnswer(answerSdp);
  }

  /** Candidates for a transport that no longer exists are ignored: they race with closing. */
  addRemoteCandidate(transportId: string, candidate: string, mid = ''): void {
    this.#assertOpen();
    this.#transports.get(transportId)?.addRemoteCandidate(candidate, mid);
  }

  unpublish(participantId: string, kind?: MediaKind): void {
    this.#assertOpen();
    this.#endSources(participantId, 'unpublished', kind);
  }

  #endSources(participantId: string, reason: TrackEndReason, kind?: MediaKind): void {
    for (const t of this.#publishers(participantId)) {
      for (const s of t.liveSources()) if (kind === undefined || s.info.kind === kind) s.end(reason, true);
      if (t.liveSources().length === 0) t.close(reason, true);
    }
  }

  unsubscribe(subscriberId: string, publisherId: string): void {
    this.#assertOpen();
    for (const t of [...this.#transports.values()]) {
      if (
        t instanceof SubscriberTransport &&
        t.participantId === subscriberId &&
        t.publisherId === publisherId
      ) {
        t.close('transport-closed', true);
      }
    }
  }

  closeTransport(transportId: string): void {
    this.#assertOpen();
    this.#transports.get(transportId)?.close('transport-closed', true);
  }

  requestKeyFrame(publisherId: string): void {
    this.#assertOpen();
    for (const s of this.#liveSources(publisherId)) s.requestKeyFrame();
  }

  removeParticipant(participantId: string): void {
    this.#assertOpen();
    this.#endSources(participantId, 'participant-removed');
    for (const t of [...this.#transports.values()]) {
      if (t.participantId === participantId) t.close('participant-removed', true);
    }
    this.#streamIds.delete(participantId);
  }

  /** The participant a transport belongs to (to check that a request comes from its owner). */
  participantOf(transportId: string): string | undefined {
    return this.#transports.get(transportId)?.participantId;
  }

  /** Live published tracks (of one participant, or all). */
  tracks(participantId?: string): PublishedTrack[] {
    return this.#liveSources(participantId).map((s) => s.info);
  }

  #source(trackId: string): SourceTrack | undefined {
    for (const t of this.#publishers()) {
      const s = t.sources.find((x) => x.info.id === trackId);
      if (s) return s;
    }
    return undefined;
  }

  /**
   * Starts forwarding a copy of one live track of `publisherId` (of `kind`) to `target` as plain
   * UDP, byte for byte; returns the tap id. See the header (Taps) for what is sent. Throws
   * SfuError 'no-tracks' when there is no such live track, 'invalid-config' for a bad target.
   */
  addTap(publisherId: string, kind: MediaKind, target: TapTarget, options: TapOptions = {}): string {
    this.#assertOpen();
    const family = isIP(target.address);
    if (family === 0)
      throw new SfuError('invalid-config', `tap address must be an IP address: ${target.address}`);
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      throw new SfuError('invalid-config', `tap port must be 1-65535: ${target.port}`);
    }
    const candidates = this.#liveSources(publisherId).filter(
      (s) => s.info.kind === kind && (options.trackId === undefined || s.info.id === options.trackId),
    );
    const source = candidates.at(-1);
    if (!source) {
      throw new SfuError(
        'no-tracks',
        `participant ${publisherId} publishes no live ${kind} track${options.trackId ? ` ${options.trackId}` : ''}`,
      );
    }
    const loopback = family === 4 ? target.address.startsWith('127.') : target.address === '::1';
    const configured = this.#config.rtc.bindAddress;
    const bind = loopback
      ? target.address
      : configured !== undefined && isIP(configured) === family
        ? configured
        : family === 6
          ? '::'
          : '0.0.0.0';
    const socket = this.#tapSockets.get(bind, family === 6 ? 6 : 4);
    const tapId = newId('tap');
    const keyFrames = options.keyFrames === undefined ? { intervalMs: 2000, forMs: 6000 } : options.keyFrames;
    const tap = new RtpTap(
      tapId,
      source,
      socket,
      target.address,
      target.port,
      options.senderReports ?? true,
      keyFrames === false ? null : keyFrames,
      (t, reason, emit) => {
        this.#taps.delete(t.id);
        if (emit) {
          const info = t.source.info;
          this.emit('tapEnded', {
            tapId: t.id,
            trackId: info.id,
            participantId: info.participantId,
            kind: info.kind,
            reason,
          });
        }
      },
    );
    source.sinks.add(tap);
    this.#taps.set(tapId, tap);
    this.#log.info(
      {
        routerId: this.id,
        tapId,
        trackId: source.info.id,
        publisherId,
        kind,
        target: `${target.address}:${target.port}`,
      },
      'sfu: tap added',
    );
    return tapId;
  }

  /** Stops a tap (no tapEnded event). Idempotent; also after close(). Returns whether it existed. */
  removeTap(tapId: string): boolean {
    const tap = this.#taps.get(tapId);
    if (!tap) return false;
    this.#taps.delete(tapId);
    tap.end();
    return true;
  }

  /** Asks the publisher of a tapped video track for a keyframe (merged like every PLI). */
  requestTapKeyFrame(tapId: string): void {
    this.#assertOpen();
    this.#taps.get(tapId)?.source.requestKeyFrame();
  }

  tapStats(tapId: string): TapStats | undefined {
    return this.#taps.get(tapId)?.stats();
  }

  /** Codec, SSRC and header extensions of a published track (while its transport exists). */
  describeTrack(trackId: string): TrackDescription | undefined {
    const s = this.#source(trackId);
    if (!s) return undefined;
    return {
      trackId,
      participantId: s.info.participantId,
      kind: s.info.kind,
      ssrc: s.info.ssrc,
      cname: s.cname,
      codecs: s.info.codecs.map((c) => ({ ...c, rtcpFeedback: [...c.rtcpFeedback] })),
      headerExtensions: s.headerExtensions.map((e) => ({ ...e })),
      ended: s.ended,
    };
  }

  /** Packets, bytes, frames and last arrival of a track, as counted on the packet path. */
  trackArrival(trackId: string): TrackArrival | undefined {
    const s = this.#source(trackId);
    if (!s) return undefined;
    const a = s.arrival;
    return {
      trackId,
      packets: a.packets,
      bytes: a.bytes,
      frames: a.frames,
      lastPacketAt: a.lastPacketMono < 0 ? null : Math.round(performance.timeOrigin + a.lastPacketMono),
    };
  }

  stats(): RouterStats {
    const perTransport = [...this.#transports.values()].map((t) => t.stats());
    const publisherTransports = perTransport.filter((t) => t.role === 'publisher').length;
    return {
      transports: perTransport.length,
      publisherTransports,
      subscriberTransports: perTransport.length - publisherTransports,
      tracks: this.#liveSources().length,
      taps: this.#taps.size,
      ...this.#counters,
      perTransport,
    };
  }

  /** Idempotent; silent cascade (see the header). The router refuses every call afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#policyTimer) clearInterval(this.#policyTimer);
    this.#policyTimer = null;
    for (const t of [...this.#transports.values()]) t.close('transport-closed', false);
    this.#transports.clear();
    for (const tap of this.#taps.values()) tap.end();
    this.#taps.clear();
    this.#tapSockets.close();
    this.#streamIds.clear();
    this.#log.info({ routerId: this.id, ...this.#counters }, 'sfu: router closed');
  }
}
