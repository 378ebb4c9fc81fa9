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
 *   setAnswer(transportId, answerSdp) → Promise<void>    (subscriber connections: below)
 *   openSubscriber(participantId, { autoSubscribe?, restart? }?) → { transportId }
 *       The participant's ONE subscriber connection (BUNDLE): every track it receives, on one
 *       PeerConnection the SFU renegotiates, always as the offerer (the browser only answers, so
 *       no glare). Carries every live track of every OTHER participant by default, tracks
 *       published later included; ended tracks leave it. Offers come as 'subscriberOffer' events
 *       (the first within iceGatheringTimeoutMs). Idempotent while open (options then ignored);
 *       restart: close it and open a new one. autoSubscribe false: nobody until setSubscribed().
 *   setSubscriberAnswer(transportId, version, answerSdp) → Promise<void>
 *       The answer to offer `version`; one for any other offer throws 'offer-superseded'.
 *   setSubscribed(subscriberId, publisherId, subscribed)   stop/resume receiving a publisher's
 *       tracks on that connection. The choice outlives a restart (until removeParticipant).
 *   pendingSubscriberOffer(participantId) → SubscriberOfferEvent | null   the one awaiting its
 *       answer (to send again after the signaling reconnects).
 *   addRemoteCandidate(transportId, candidate, mid?)   trickle from the browser ("candidate:..."
 *       as in RTCIceCandidate.candidate, mid = sdpMid). May come before setAnswer (queued).
 *       Candidates for an unknown or already closed transport are ignored (they race with close).
 *   unpublish(participantId, kind?)        ends that participant's tracks (of that kind)
 *   unsubscribe(subscriberId, publisherId) closes the subscriber's per-pair transports for that
 *       publisher (its subscriber connection: setSubscribed)
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
 *   subscriberOffer({ participantId, transportId, version, offerSdp, tracks })
 *                                  version 1, 2, ... per connection; tracks: { mid, trackId,
 *                                  publisherId, kind, streamId, ssrc } per sending m-line (a
 *                                  browser keeps the first MediaStreamTrack of an m-line when the
 *                                  m-line is reused: map by mid). At most one offer waits for its
 *                                  answer: changes meanwhile, and changes in one tick (a
 *                                  publisher's audio and video), make one next offer, sent as soon
 *                                  as the answer is set. An offer not answered within
 *                                  connectTimeoutMs closes the connection.
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
 *   subscriber transport left without a live track closes: transportState 'closed'; subscriber
 *   connections drop the track, and offer again in the next tick), then the publisher
 *   transport's own 'closed'; then p's subscriber transports and connection ('closed').
 *   unpublish(p, kind) → those tracks end (trackEnded; subscribers get an RTCP BYE for the SSRC);
 *   a transport left with no live track closes as above. A subscriber connection stays open
 *   with no track (a later one costs an offer, not a new handshake).
 *
 * Design choices:
 * - Two subscriber models. subscribe(): one PeerConnection per (subscriber, publisher) pair,
 *   never renegotiated; n·(n-1) handshakes and UDP ports for n publishers (or udpMux). The
 *   subscriber connection (openSubscriber): one per participant, renegotiated by the SFU, the
 *   offerer (subscriber-connection.ts): a data channel in the first offer so it connects before
 *   any track; an ended track's m-line turns inactive and is reused by the next track of its
 *   kind, so the SDP does not grow with the call's history. Payload types must agree across one
 *   BUNDLE: a track whose sent codec's payload type means another codec there is not carried
 *   on that connection (logged); clashing secondary codecs and extension ids are left out.
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
import { resolveSfuConfig } from './config.js';
import { SfuError } from './errors.js';
import { TypedEventEmitter } from './events.js';
import { PublisherTransport, type SourceTrack } from './publisher.js';
import { trimPublisherOffer } from './sdp.js';
import { SubscriberTransport } from './subscriber.js';
import { SubscriberConnection } from './subscriber-connection.js';
import { SubscriberConnections } from './subscriber-connections.js';
import { RtpTap, tapBindAddress, TapSockets } from './tap.js';
import {
  newCounters,
  newId,
  normaliseAddress,
  type Counters,
  type ResolvedConfig,
  type RouterContext,
  type Transport,
} from './transport.js';
import type {
  MediaKind,
  MediaRouterEvents,
  OpenSubscriberOptions,
  PublishedTrack,
  PublishResult,
  RouterStats,
  SfuConfig,
  SfuLogger,
  SubscribeOptions,
  SubscribeResult,
  SubscriberOfferEvent,
  TapOptions,
  TapStats,
  TapTarget,
  TrackArrival,
  TrackDescription,
  TrackEndReason,
} from './types.js';

export { resolveSfuConfig } from './config.js';
export type { PublishResult, SubscribeOptions, SubscribeResult } from './types.js';

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
  readonly #subscribers: SubscriberConnections;

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
    this.#subscribers = new SubscriberConnections({
      ctx: this.#ctx,
      register: (c) => this.#transports.set(c.id, c),
      offer: (e) => {
        if (!this.#closed) this.emit('subscriberOffer', e);
      },
      liveSources: () =>
        this.#publishers()
          .filter((t) => t.published)
          .flatMap((t) => t.liveSources()),
    });
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
    return [...this.#transports.values()].filter(
      (t): t is PublisherTransport =>
        t instanceof PublisherTransport && (participantId ?? t.participantId) === t.participantId,
    );
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
    transport.published = true;
    for (const t of tracks) this.emit('trackPublished', t);
    this.#subscribers.published(transport.sources);
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
        t instanceof SubscriberConnection
          ? `${transportId} is a subscriber connection: answer with setSubscriberAnswer()`
          : `${transportId} is a publisher transport; it takes no answer`,
      );
    }
    t.setAnswer(answerSdp);
  }

  /**
   * The participant's subscriber connection: the one open, or a new one (see the header). Its
   * offers come as 'subscriberOffer' events, the first within iceGatheringTimeoutMs.
   */
  openSubscriber(participantId: string, options: OpenSubscriberOptions = {}): { transportId: string } {
    this.#assertOpen();
    const connection = this.#subscribers.open(participantId, options);
    this.#log.info(
      { routerId: this.id, participantId, transportId: connection.id },
      'sfu: subscriber connection',
    );
    return { transportId: connection.id };
  }

  /** The browser's answer to offer `version` of a subscriber connection. */
  async setSubscriberAnswer(transportId: string, version: number, answerSdp: string): Promise<void> {
    this.#assertOpen();
    const t = this.#transport(transportId);
    if (!(t instanceof SubscriberConnection)) {
      throw new SfuError('wrong-transport-role', `${transportId} is not a subscriber connection`);
    }
    t.setAnswer(version, answerSdp);
  }

  /** Receive (or stop receiving) one publisher's tracks on the subscriber's connection. */
  setSubscribed(subscriberId: string, publisherId: string, subscribed: boolean): void {
    this.#assertOpen();
    this.#subscribers.setSubscribed(subscriberId, publisherId, subscribed);
  }

  /** The offer of the participant's subscriber connection that waits for its answer, if any. */
  pendingSubscriberOffer(participantId: string): SubscriberOfferEvent | null {
    this.#assertOpen();
    return this.#subscribers.pendingOffer(participantId);
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
    this.#subscribers.forget(participantId);
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
    const { bind, family } = tapBindAddress(target, this.#config.rtc.bindAddress);
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
    const socket = this.#tapSockets.get(bind, family);
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
    return this.#source(trackId)?.describe();
  }

  /** Packets, bytes, frames and last arrival of a track, as counted on the packet path. */
  trackArrival(trackId: string): TrackArrival | undefined {
    return this.#source(trackId)?.arrivalInfo();
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
    this.#subscribers.clear();
    this.#log.info({ routerId: this.id, ...this.#counters }, 'sfu: router closed');
  }
}
