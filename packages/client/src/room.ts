/**
 * A room as one terminal sees it: the other participants, the local publication (one
 * sendonly RTCPeerConnection, client offer → server answer) and one receiving
 * RTCPeerConnection per subscribed participant (server offer → client answer).
 *
 * Lifecycle: created by ParleyClient.createRoom/joinRoom; ends once with `closed` (after
 * leave(), a `roomClosed` from the server, or `disconnected`). Ending closes every peer
 * connection and stops the camera/microphone tracks the SDK opened.
 */
import type { MediaKind, ParticipantInfo, RoomState, ServerMessage, TrackInfo } from '@parley/protocol';
import { Emitter } from './emitter.js';
import { ParleyError, asParleyError } from './errors.js';
import type { SignalingConnection, Welcome } from './signaling.js';
import { Transport, type MediaEnvironment } from './transport.js';

/** Another participant of the room. Fields update in place as events arrive. */
export class RemoteParticipant {
  tracks: TrackInfo[];
  /** The stream of this participant's received tracks while subscribed, else null. */
  stream: MediaStream | null = null;

  constructor(
    readonly participantId: string,
    readonly uid: string,
    readonly joinedAt: number,
    tracks: TrackInfo[],
  ) {
    this.tracks = tracks;
  }

  hasTrack(kind: MediaKind): boolean {
    return this.tracks.some((t) => t.kind === kind);
  }

  /** True when the participant muted this kind (or does not publish it). */
  isMuted(kind: MediaKind): boolean {
    return this.tracks.find((t) => t.kind === kind)?.muted ?? true;
  }
}

export interface MediaStateChange {
  transport: 'publish' | 'subscribe';
  /** The participant whose media this connection receives; null for the publication. */
  participant: RemoteParticipant | null;
  state: RTCPeerConnectionState;
}

export interface RoomEvents {
  participantJoined: [participant: RemoteParticipant];
  participantLeft: [participant: RemoteParticipant, reason: string];
  /** A remote track arrived; `stream` holds all of this participant's received tracks. */
  trackSubscribed: [participant: RemoteParticipant, track: MediaStreamTrack, stream: MediaStream];
  trackUnsubscribed: [participant: RemoteParticipant, track: MediaStreamTrack, stream: MediaStream];
  /** A participant published, unpublished, muted or unmuted. */
  tracksChanged: [participant: RemoteParticipant, tracks: TrackInfo[]];
  /** A peer connection changed state (`connected`, `failed`, ...). */
  mediaStateChanged: [change: MediaStateChange];
  /** The signaling connection dropped; the SDK is resuming the session. Media may keep flowing. */
  reconnecting: [cause: ParleyError];
  /** The session was resumed; the room state was refreshed and failed media reconnected. */
  reconnected: [];
  /** The session ended (resume failed or gave up, server bye). `closed` follows. */
  disconnected: [error: ParleyError];
  /** The room ended for this terminal: `left`, `disconnected`, or the server's roomClosed reason. */
  closed: [reason: string];
  /** Something failed in the background (ICE, a subscription); the room goes on. */
  error: [error: ParleyError];
}

export interface PublishOptions {
  /** true, false, or constraints for getUserMedia. Default: true when neither audio nor video is given. */
  audio?: boolean | MediaTrackConstraints;
  video?: boolean | MediaTrackConstraints;
  /** Tracks to publish instead of opening devices (e.g. a screen capture). Not stopped by the SDK. */
  tracks?: MediaStreamTrack[];
}

export interface InboundStats {
  kind: string;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  framesDecoded?: number;
  frameWidth?: number;
  frameHeight?: number;
  jitter?: number;
}

export interface OutboundStats {
  kind: string;
  packetsSent: number;
  bytesSent: number;
  framesEncoded?: number;
}

export interface RoomStats {
  publication: { state: RTCPeerConnectionState; outbound: OutboundStats[] } | null;
  subscriptions: {
    participantId: string;
    uid: string;
    state: RTCPeerConnectionState;
    inbound: InboundStats[];
  }[];
}

/** What a Room needs from its client. */
export interface RoomContext {
  signaling: SignalingConnection;
  media: MediaEnvironment;
  iceServers(): RTCIceServer[];
  /** 'relay' when the call application's media must go through its proxy. */
  iceTransportPolicy(): RTCIceTransportPolicy;
  /** The media-stream proxy (host[:port]), or null. */
  mediaProxy(): string | null;
  autoSubscribe: boolean;
  /** Called once when the room ends. */
  onEnded(room: Room): void;
}

interface Subscription {
  transport: Transport;
  kinds: string;
  stream: MediaStream;
  tracks: MediaStreamTrack[];
}

/** Codes meaning "what you asked about is gone" (they left, unpublished, or the transport closed). */
const vanishedCodes = new Set(['PARTICIPANT_NOT_FOUND', 'NOT_PUBLISHING', 'TRANSPORT_NOT_FOUND']);
/** Codes meaning "the room or session is gone": background work stops quietly. */
const endedCodes = new Set(['ROOM_LEFT', 'CLIENT_CLOSED', 'NOT_IN_ROOM', 'ROOM_CLOSED']);
const restartWindowMs = 60_000;
/** How long a failed connection waits for the signaling event that may explain it. */
const failureGraceMs = 1_500;
const maxRestartsPerWindow = 3;

const kindsKey = (tracks: readonly { kind: MediaKind }[]) =>
  [...new Set(tracks.map((t) => t.kind))].sort().join(',');

export class Room extends Emitter<RoomEvents> {
  readonly roomId: string;
  readonly createdAt: number;
  #selfId: string;
  #state: 'joined' | 'reconnecting' | 'closed' = 'joined';
  readonly #ctx: RoomContext;
  readonly #participants = new Map<string, RemoteParticipant>();
  readonly #transports = new Map<string, Transport>();
  /** Candidates for transport ids we do not know yet (they can overtake the response). */
  readonly #orphanCandidates = new Map<string, { candidate: string; mid: string }[]>();

  // publication
  #publisher: Transport | null = null;
  #localStream: MediaStream | null = null;
  readonly #localTracks = new Map<MediaKind, MediaStreamTrack>();
  /** Tracks the SDK opened (and so stops); tracks handed in by the application are not stopped. */
  readonly #ownedTracks = new Set<MediaStreamTrack>();
  readonly #muted: Record<MediaKind, boolean> = { audio: false, video: false };
  #pubChain: Promise<unknown> = Promise.resolve();

  // subscriptions
  readonly #subs = new Map<string, Subscription>();
  readonly #subChains = new Map<string, Promise<void>>();
  readonly #wanted = new Map<string, boolean>();
  /** Participants the server may still hold a subscription for (a subscribe whose answer was lost). */
  readonly #staleServerSubs = new Set<string>();
  readonly #restarts = new Map<string, number[]>();

  constructor(state: RoomState, ctx: RoomContext) {
    super();
    this.roomId = state.roomId;
    this.createdAt = state.createdAt;
    this.#selfId = state.self;
    this.#ctx = ctx;
    for (const info of state.participants) {
      if (info.participantId !== state.self) this.#participants.set(info.participantId, toRemote(info));
    }
  }

  /** Starts the subscriptions to the participants already there. Called by the client. */
  start(): void {
    for (const id of this.#participants.keys()) this.#reconcile(id);
  }

  /** This terminal's participantId in the room. */
  get participantId(): string {
    return this.#selfId;
  }

  get state(): 'joined' | 'reconnecting' | 'closed' {
    return this.#state;
  }

  get participants(): RemoteParticipant[] {
    return [...this.#participants.values()];
  }

  getParticipant(participantId: string): RemoteParticipant | undefined {
    return this.#participants.get(participantId);
  }

  /** The published local tracks (kept as one stream object across republishes), or null. */
  get localStream(): MediaStream | null {
    return this.#localStream;
  }

  /** The kinds currently published. */
  get publishedKinds(): MediaKind[] {
    return this.#publisher ? [...this.#localTracks.keys()].sort() : [];
  }

  isMuted(kind: MediaKind): boolean {
    return this.#muted[kind];
  }

  // --- publishing ------------------------------------------------------------------------

  /**
   * Opens the camera/microphone (or takes `tracks`) and publishes them, replacing any current
   * publication: `publish({audio: true})` after an audio+video publish leaves only audio.
   * Live tracks of a kind already published are reused. Resolves with the local stream.
   */
  publish(options: PublishOptions = {}): Promise<MediaStream> {
    return this.#serial(() => this.#publish(options));
  }

  /** Stops publishing one kind, or everything; the SDK stops the device tracks it opened. */
  unpublish(kind?: MediaKind): Promise<void> {
    return this.#serial(() => this.#unpublish(kind));
  }

  /**
   * Mutes or unmutes a local kind: the track is disabled (nothing is sent) and the others
   * get `tracksChanged`. Remembered across republishes; allowed before publishing.
   */
  setMuted(kind: MediaKind, muted: boolean): Promise<void> {
    return this.#serial(async () => {
      this.#assertActive();
      this.#muted[kind] = muted;
      const track = this.#localTracks.get(kind);
      if (track) track.enabled = !muted;
      if (this.#publisher && track) await this.#ctx.signaling.request('mute', { kind, muted });
    });
  }

  async #publish(options: PublishOptions): Promise<MediaStream> {
    this.#assertActive();
    const given = options.tracks ?? [];
    const noKinds = options.audio === undefined && options.video === undefined && given.length === 0;
    const want: Partial<Record<MediaKind, boolean | MediaTrackConstraints>> = noKinds
      ? { audio: true, video: true }
      : { audio: options.audio ?? false, video: options.video ?? false };
    const next = new Map<MediaKind, MediaStreamTrack>();
    for (const track of given) {
      if ((track.kind === 'audio' || track.kind === 'video') && !next.has(track.kind))
        next.set(track.kind, track);
    }
    const toOpen: MediaStreamConstraints = {};
    for (const kind of ['audio', 'video'] as const) {
      const wanted = want[kind];
      if (next.has(kind) || !wanted) continue;
      const current = this.#localTracks.get(kind);
      if (wanted === true && current && current.readyState === 'live') next.set(kind, current);
      else toOpen[kind] = wanted;
    }
    if (toOpen.audio || toOpen.video) {
      let stream: MediaStream;
      try {
        stream = await this.#ctx.media.getUserMedia(toOpen);
      } catch (err) {
        throw asParleyError(err, 'MEDIA_DEVICE_FAILED', describeMediaError(err));
      }
      for (const track of stream.getTracks()) {
        const kind = track.kind as MediaKind;
        if (next.has(kind)) track.stop();
        else {
          next.set(kind, track);
          this.#ownedTracks.add(track);
        }
      }
      if (this.#state === 'closed') {
        for (const t of stream.getTracks()) t.stop();
        throw new ParleyError('ROOM_LEFT', 'The room was left while the devices were opening.');
      }
    }
    if (next.size === 0) {
      await this.#unpublish(undefined, true);
      return this.#ensureLocalStream();
    }
    // Release the tracks no longer published.
    for (const [kind, track] of this.#localTracks) {
      if (next.get(kind) !== track) this.#releaseTrack(track);
    }
    this.#localTracks.clear();
    const stream = this.#ensureLocalStream();
    for (const t of stream.getTracks()) stream.removeTrack(t);
    for (const [kind, track] of next) {
      track.enabled = !this.#muted[kind];
      this.#localTracks.set(kind, track);
      stream.addTrack(track);
    }
    await this.#startPublisher();
    return stream;
  }

  /** (Re)creates the publishing peer connection for the current local tracks. */
  async #startPublisher(retried = false): Promise<void> {
    const signaling = this.#ctx.signaling;
    if (this.#publisher) {
      this.#dropTransport(this.#publisher);
      this.#publisher = null;
      await this.#ignoreCodes(signaling.request('unpublish', {}), ['NOT_PUBLISHING']);
    }
    const transport = this.#newTransport('publish', null);
    this.#publisher = transport;
    const stream = this.#ensureLocalStream();
    for (const track of this.#localTracks.values()) {
      transport.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    }
    try {
      const offer = await transport.pc.createOffer();
      await transport.pc.setLocalDescription(offer);
      const sdp = transport.pc.localDescription?.sdp ?? offer.sdp ?? '';
      const res = await signaling.request('publish', { sdp });
      if (transport.closed) return;
      this.#registerTransport(transport, res.transportId);
      await transport.setRemoteDescription({ type: 'answer', sdp: res.sdp });
      for (const kind of this.#localTracks.keys()) {
        if (this.#muted[kind]) await signaling.request('mute', { kind, muted: true });
      }
    } catch (err) {
      if (this.#publisher === transport) {
        this.#dropTransport(transport);
        this.#publisher = null;
      }
      const error = asParleyError(err, 'MEDIA_FAILED', 'Publishing failed');
      if (error.code === 'CONNECTION_LOST' && !retried && this.#state !== 'closed') {
        // The answer was lost with the socket: once resumed, publish again from scratch.
        await this.#whenResumed();
        return this.#startPublisher(true);
      }
      throw error;
    }
  }

  /** `quiet`: nothing to tell the server when nothing was published (internal use). */
  async #unpublish(kind: MediaKind | undefined, quiet = false): Promise<void> {
    this.#assertActive();
    if (kind) {
      const track = this.#localTracks.get(kind);
      if (track) {
        this.#localTracks.delete(kind);
        this.#localStream?.removeTrack(track);
        const sender = this.#publisher?.pc.getSenders().find((s) => s.track === track);
        if (sender) await sender.replaceTrack(null).catch(() => undefined);
        this.#releaseTrack(track);
      }
    } else {
      for (const track of this.#localTracks.values()) {
        this.#localStream?.removeTrack(track);
        this.#releaseTrack(track);
      }
      this.#localTracks.clear();
    }
    const hadPublisher = this.#publisher !== null;
    if (this.#publisher && this.#localTracks.size === 0) {
      this.#dropTransport(this.#publisher);
      this.#publisher = null;
    }
    if (quiet && !hadPublisher) return;
    await this.#ctx.signaling.request('unpublish', kind ? { kind } : {});
  }

  #ensureLocalStream(): MediaStream {
    this.#localStream ??= new this.#ctx.media.MediaStream([]);
    return this.#localStream;
  }

  #releaseTrack(track: MediaStreamTrack): void {
    if (this.#ownedTracks.delete(track)) track.stop();
  }

  // --- subscribing -----------------------------------------------------------------------

  /**
   * Receives a participant's media (the default for everyone unless the client was made with
   * `autoSubscribe: false`). Resolves once the subscription is negotiated.
   */
  subscribe(participantId: string): Promise<void> {
    this.#wanted.set(participantId, true);
    return this.#reconcile(participantId, true);
  }

  /** Stops receiving a participant's media until subscribe() is called again. */
  unsubscribe(participantId: string): Promise<void> {
    this.#wanted.set(participantId, false);
    return this.#reconcile(participantId, true);
  }

  /**
   * Brings one participant's subscription in line with what is wanted: subscribed with the
   * kinds they publish, re-subscribed when that set changes or the connection failed.
   * Serialised per participant. Background calls report failures as `error` events.
   */
  #reconcile(participantId: string, propagate = false): Promise<void> {
    const prev = this.#subChains.get(participantId) ?? Promise.resolve();
    const run = prev.then(() => this.#reconcileNow(participantId));
    const tail = run.catch(() => undefined);
    this.#subChains.set(participantId, tail);
    void tail.then(() => {
      if (this.#subChains.get(participantId) === tail) this.#subChains.delete(participantId);
    });
    if (propagate) return run;
    run.catch((err: unknown) => this.#backgroundError(err, 'Subscribing failed'));
    return tail;
  }

  async #reconcileNow(participantId: string): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#ctx.signaling.state !== 'open') return; // redone after resume
    const signaling = this.#ctx.signaling;
    const participant = this.#participants.get(participantId);
    const wanted = this.#wanted.get(participantId) ?? this.#ctx.autoSubscribe;
    const want = participant && wanted ? kindsKey(participant.tracks) : '';
    const sub = this.#subs.get(participantId);
    if (sub && !sub.transport.failed && sub.kinds === want) return;
    if (!sub && want === '' && !this.#staleServerSubs.has(participantId)) return;
    if (sub) this.#closeSubscription(participantId, sub);
    if (participant && (sub || this.#staleServerSubs.has(participantId))) {
      this.#staleServerSubs.delete(participantId);
      await this.#ignoreCodes(signaling.request('unsubscribe', { participantId }), [
        'PARTICIPANT_NOT_FOUND',
        'TRANSPORT_NOT_FOUND',
        'NOT_PUBLISHING',
      ]);
    }
    if (!participant || want === '') return;
    await this.#subscribeNow(participant, want);
  }

  async #subscribeNow(participant: RemoteParticipant, kinds: string): Promise<void> {
    const { participantId } = participant;
    const signaling = this.#ctx.signaling;
    const transport = this.#newTransport('subscribe', participantId);
    const stream = new this.#ctx.media.MediaStream([]);
    const sub: Subscription = { transport, kinds, stream, tracks: [] };
    this.#subs.set(participantId, sub);
    transport.pc.ontrack = (ev) => {
      if (this.#subs.get(participantId) !== sub) return;
      const track = ev.track;
      if (!sub.tracks.includes(track)) {
        sub.tracks.push(track);
        stream.addTrack(track);
      }
      participant.stream = stream;
      this.emit('trackSubscribed', participant, track, stream);
    };
    const stillCurrent = () => this.#subs.get(participantId) === sub && !transport.closed;
    let res: { transportId: string; sdp: string };
    try {
      res = await signaling.request('subscribe', { participantId });
    } catch (err) {
      if (this.#subs.get(participantId) === sub) this.#closeSubscription(participantId, sub);
      const error = asParleyError(err, 'MEDIA_FAILED', 'Subscribing failed');
      if (error.code === 'CONNECTION_LOST') {
        this.#staleServerSubs.add(participantId); // redone after resume
        return;
      }
      // They left or unpublished meanwhile: the event that says so is on its way.
      if (vanishedCodes.has(error.code)) return;
      throw error;
    }
    if (!stillCurrent()) {
      // Superseded while waiting; tell the server we do not want this one.
      this.#staleServerSubs.add(participantId);
      return;
    }
    try {
      this.#registerTransport(transport, res.transportId);
      await transport.setRemoteDescription({ type: 'offer', sdp: res.sdp });
      const answer = await transport.pc.createAnswer();
      await transport.pc.setLocalDescription(answer);
      if (!stillCurrent()) return;
      const sdp = transport.pc.localDescription?.sdp ?? answer.sdp ?? '';
      await signaling.request('answer', { transportId: res.transportId, sdp });
    } catch (err) {
      const current = this.#subs.get(participantId) === sub;
      if (current) {
        this.#closeSubscription(participantId, sub);
        this.#staleServerSubs.add(participantId);
      }
      const error = asParleyError(err, 'MEDIA_FAILED', 'Subscribing failed');
      if (error.code === 'CONNECTION_LOST') return; // redone after resume
      if (vanishedCodes.has(error.code)) {
        // The server closed this transport meanwhile (they unpublished or left): try once more
        // in case they still publish; the event saying what happened is on its way.
        if (current && this.#mayRestart(participantId)) this.#reconcile(participantId);
        return;
      }
      throw error;
    }
  }

  #closeSubscription(participantId: string, sub: Subscription): void {
    if (this.#subs.get(participantId) === sub) this.#subs.delete(participantId);
    this.#dropTransport(sub.transport);
    const participant = this.#participants.get(participantId);
    if (participant && participant.stream === sub.stream) participant.stream = null;
    for (const track of sub.tracks) {
      sub.stream.removeTrack(track);
      if (participant) this.emit('trackUnsubscribed', participant, track, sub.stream);
    }
    sub.tracks = [];
  }

  // --- transports ------------------------------------------------------------------------

  #newTransport(role: 'publish' | 'subscribe', participantId: string | null): Transport {
    const pc = new this.#ctx.media.RTCPeerConnection({
      iceServers: this.#ctx.iceServers(),
      iceTransportPolicy: this.#ctx.iceTransportPolicy(),
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    return new Transport(
      role,
      participantId,
      pc,
      (msg) => this.#ctx.signaling.send(msg),
      (t, state) => this.#onTransportState(t, state),
    );
  }

  #registerTransport(transport: Transport, transportId: string): void {
    transport.setId(transportId);
    this.#transports.set(transportId, transport);
    const early = this.#orphanCandidates.get(transportId);
    this.#orphanCandidates.delete(transportId);
    for (const c of early ?? []) transport.addRemoteCandidate(c.candidate, c.mid);
  }

  #dropTransport(transport: Transport): void {
    if (transport.id !== null && this.#transports.get(transport.id) === transport) {
      this.#transports.delete(transport.id);
    }
    transport.close();
  }

  #onTransportState(transport: Transport, state: RTCPeerConnectionState): void {
    const participant = transport.participantId
      ? (this.#participants.get(transport.participantId) ?? null)
      : null;
    this.emit('mediaStateChanged', { transport: transport.role, participant, state });
    if (state !== 'failed' || this.#state === 'closed' || transport.failed) return;
    transport.failed = true;
    // The server closes a connection when its publisher leaves or unpublishes, and that can
    // reach the browser before the signaling event saying so. Wait a moment: if the SDK
    // replaced the connection meanwhile, it was not a failure.
    setTimeout(() => this.#onTransportFailed(transport), failureGraceMs);
  }

  #onTransportFailed(transport: Transport): void {
    if (transport.closed || this.#state === 'closed') return;
    const participant = transport.participantId
      ? (this.#participants.get(transport.participantId) ?? null)
      : null;
    const who =
      transport.role === 'publish'
        ? 'sending your media'
        : `receiving ${participant?.uid ?? 'a participant'}`;
    const retrying = this.#mayRestart(transport.participantId ?? '#publish');
    const proxy = this.#ctx.mediaProxy();
    const why = proxy
      ? `ICE could not connect through the media-stream proxy ${proxy}: check that the proxy is reachable ` +
        `(UDP/TCP), that its shared secret matches the call application's, and that its egress IPs are configured`
      : `ICE could not connect: check that UDP to the media server is allowed, or configure a TURN server`;
    this.emit(
      'error',
      new ParleyError(
        'ICE_FAILED',
        `The media connection for ${who} failed (${why})${retrying ? '; reconnecting it' : ''}.`,
      ),
    );
    if (!retrying) return;
    if (this.#ctx.signaling.state !== 'open') return; // restarted after resume
    this.#restartTransport(transport);
  }

  /** Allows at most 3 rebuilds a minute per connection (key: participantId or '#publish'); counts this one. */
  #mayRestart(key: string): boolean {
    const now = Date.now();
    const recent = (this.#restarts.get(key) ?? []).filter((t) => now - t < restartWindowMs);
    if (recent.length >= maxRestartsPerWindow) return false;
    recent.push(now);
    this.#restarts.set(key, recent);
    return true;
  }

  #restartTransport(transport: Transport): void {
    if (transport.role === 'subscribe' && transport.participantId) {
      void this.#reconcile(transport.participantId);
    } else if (transport === this.#publisher) {
      void this.#serial(() => this.#startPublisher()).catch((err: unknown) =>
        this.#backgroundError(err, 'Publishing again failed'),
      );
    }
  }

  // --- server events (routed by the client) ----------------------------------------------

  /** @internal */
  handleEvent(msg: ServerMessage): void {
    if (this.#state === 'closed') return;
    switch (msg.type) {
      case 'participantJoined': {
        const info = msg.participant;
        if (info.participantId === this.#selfId || this.#participants.has(info.participantId)) return;
        const participant = toRemote(info);
        this.#participants.set(info.participantId, participant);
        this.emit('participantJoined', participant);
        this.#reconcile(info.participantId);
        return;
      }
      case 'participantLeft':
        if (msg.participantId === this.#selfId) {
          this.#end(msg.reason || 'removed');
          return;
        }
        this.#removeParticipant(msg.participantId, msg.reason);
        return;
      case 'tracksChanged': {
        const participant = this.#participants.get(msg.participantId);
        if (!participant) return;
        participant.tracks = msg.tracks;
        this.emit('tracksChanged', participant, msg.tracks);
        this.#reconcile(msg.participantId);
        return;
      }
      case 'candidate': {
        const transport = this.#transports.get(msg.transportId);
        if (transport) transport.addRemoteCandidate(msg.candidate, msg.mid);
        else {
          // Early (the response naming it is on its way) or late (a connection already replaced).
          const list = this.#orphanCandidates.get(msg.transportId) ?? [];
          if (list.length < 50) list.push({ candidate: msg.candidate, mid: msg.mid });
          this.#orphanCandidates.set(msg.transportId, list);
          if (this.#orphanCandidates.size > 20) {
            const oldest = this.#orphanCandidates.keys().next().value;
            if (oldest !== undefined) this.#orphanCandidates.delete(oldest);
          }
        }
        return;
      }
      case 'roomClosed':
        if (msg.roomId === this.roomId) this.#end(msg.reason || 'roomClosed');
        return;
      default:
        return;
    }
  }

  /** @internal */
  handleReconnecting(cause: ParleyError): void {
    if (this.#state !== 'joined') return;
    this.#state = 'reconnecting';
    this.emit('reconnecting', cause);
  }

  /** @internal The session resumed: refresh the room state, then repair failed media. */
  handleResumed(welcome: Welcome): void {
    if (this.#state === 'closed') return;
    const state = welcome.room;
    if (!state || state.roomId !== this.roomId) {
      this.#state = 'joined';
      this.#end('roomClosed');
      return;
    }
    this.#state = 'joined';
    this.#selfId = state.self;
    const seen = new Set<string>();
    for (const info of state.participants) {
      if (info.participantId === state.self) continue;
      seen.add(info.participantId);
      const known = this.#participants.get(info.participantId);
      if (!known) {
        const participant = toRemote(info);
        this.#participants.set(info.participantId, participant);
        this.emit('participantJoined', participant);
      } else if (JSON.stringify(known.tracks) !== JSON.stringify(info.tracks)) {
        known.tracks = info.tracks;
        this.emit('tracksChanged', known, info.tracks);
      }
    }
    for (const id of [...this.#participants.keys()]) {
      if (!seen.has(id)) this.#removeParticipant(id, 'left');
    }
    this.emit('reconnected');
    // Publication: republish if its connection failed or the server lost our tracks.
    const self = state.participants.find((p) => p.participantId === state.self);
    const publisher = this.#publisher;
    if (publisher) {
      const serverKinds = kindsKey(self?.tracks ?? []);
      const localKinds = kindsKey([...this.#localTracks.keys()].map((kind) => ({ kind })));
      if (publisher.failed || publisher.pc.connectionState === 'failed' || serverKinds !== localKinds) {
        publisher.failed = true;
        this.#restartTransport(publisher);
      } else {
        for (const t of self?.tracks ?? []) {
          if (t.muted !== this.#muted[t.kind]) {
            void this.#serial(() =>
              this.#ctx.signaling.request('mute', { kind: t.kind, muted: this.#muted[t.kind] }),
            ).catch((err: unknown) => this.#backgroundError(err, 'Muting failed'));
          }
        }
        this.#checkLater(publisher);
      }
    }
    for (const [id, sub] of this.#subs) {
      if (sub.transport.pc.connectionState === 'failed') sub.transport.failed = true;
      else this.#checkLater(sub.transport);
      this.#reconcile(id);
    }
    for (const id of this.#participants.keys()) if (!this.#subs.has(id)) this.#reconcile(id);
  }

  /** @internal */
  handleDisconnected(error: ParleyError): void {
    if (this.#state === 'closed') return;
    this.emit('disconnected', error);
    this.#end('disconnected');
  }

  /** A connection still `disconnected` a little after a resume is not coming back by itself. */
  #checkLater(transport: Transport): void {
    const state = transport.pc.connectionState;
    if (state !== 'disconnected' && state !== 'connecting') return;
    setTimeout(() => {
      if (transport.closed || this.#state !== 'joined') return;
      const now = transport.pc.connectionState;
      if (now === 'connected') return;
      transport.failed = true;
      this.#restartTransport(transport);
    }, 4_000);
  }

  #removeParticipant(participantId: string, reason: string): void {
    const participant = this.#participants.get(participantId);
    if (!participant) return;
    const sub = this.#subs.get(participantId);
    if (sub) this.#closeSubscription(participantId, sub);
    this.#participants.delete(participantId);
    this.#wanted.delete(participantId);
    this.#staleServerSubs.delete(participantId);
    this.#restarts.delete(participantId);
    this.emit('participantLeft', participant, reason);
  }

  // --- leaving ---------------------------------------------------------------------------

  /** Leaves the room: tells the server, closes all media, stops the devices the SDK opened. */
  async leave(): Promise<void> {
    if (this.#state === 'closed') return;
    try {
      await this.#ctx.signaling.request('leaveRoom', {});
    } finally {
      this.#end('left');
    }
  }

  /** Media statistics per connection (`framesDecoded`, packets, bytes), from getStats(). */
  async getStats(): Promise<RoomStats> {
    const stats: RoomStats = { publication: null, subscriptions: [] };
    if (this.#publisher) {
      const outbound: OutboundStats[] = [];
      const report = await this.#publisher.pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s['type'] !== 'outbound-rtp') return;
        outbound.push({
          kind: String(s['kind'] ?? s['mediaType']),
          packetsSent: Number(s['packetsSent'] ?? 0),
          bytesSent: Number(s['bytesSent'] ?? 0),
          ...(s['framesEncoded'] !== undefined ? { framesEncoded: Number(s['framesEncoded']) } : {}),
        });
      });
      stats.publication = { state: this.#publisher.pc.connectionState, outbound };
    }
    for (const [participantId, sub] of this.#subs) {
      const inbound: InboundStats[] = [];
      const report = await sub.transport.pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s['type'] !== 'inbound-rtp') return;
        const opt = (key: string) => (s[key] !== undefined ? { [key]: Number(s[key]) } : {});
        inbound.push({
          kind: String(s['kind'] ?? s['mediaType']),
          packetsReceived: Number(s['packetsReceived'] ?? 0),
          bytesReceived: Number(s['bytesReceived'] ?? 0),
          packetsLost: Number(s['packetsLost'] ?? 0),
          ...opt('framesDecoded'),
          ...opt('frameWidth'),
          ...opt('frameHeight'),
          ...opt('jitter'),
        });
      });
      stats.subscriptions.push({
        participantId,
        uid: this.#participants.get(participantId)?.uid ?? '',
        state: sub.transport.pc.connectionState,
        inbound,
      });
    }
    return stats;
  }

  /** Ends the room locally (idempotent): closes every connection, stops owned tracks, emits `closed`. */
  #end(reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    for (const [id, sub] of [...this.#subs]) this.#closeSubscription(id, sub);
    if (this.#publisher) this.#dropTransport(this.#publisher);
    this.#publisher = null;
    for (const t of this.#transports.values()) t.close();
    this.#transports.clear();
    this.#orphanCandidates.clear();
    for (const track of this.#localTracks.values()) this.#releaseTrack(track);
    this.#localTracks.clear();
    for (const track of this.#ownedTracks) track.stop();
    this.#ownedTracks.clear();
    this.#ctx.onEnded(this);
    this.emit('closed', reason);
  }

  /** @internal Used by the client when it closes. */
  end(reason: string): void {
    this.#end(reason);
  }

  // --- helpers ---------------------------------------------------------------------------

  #assertActive(): void {
    if (this.#state === 'closed') throw new ParleyError('ROOM_LEFT', 'The room has been left or closed.');
  }

  /** Runs publication changes one at a time. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#pubChain.then(fn);
    this.#pubChain = run.catch(() => undefined);
    return run;
  }

  async #ignoreCodes(request: Promise<unknown>, codes: string[]): Promise<void> {
    try {
      await request;
    } catch (err) {
      if (err instanceof ParleyError && (codes.includes(err.code) || err.code === 'CONNECTION_LOST')) return;
      throw err;
    }
  }

  #whenResumed(): Promise<void> {
    if (this.#state === 'closed') {
      return Promise.reject(new ParleyError('ROOM_LEFT', 'The room has been left or closed.'));
    }
    if (this.#ctx.signaling.state === 'open' && this.#state === 'joined') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const offs = [
        this.once('reconnected', () => {
          offs.forEach((off) => off());
          resolve();
        }),
        this.once('closed', () => {
          offs.forEach((off) => off());
          reject(new ParleyError('ROOM_LEFT', 'The room ended before the connection came back.'));
        }),
      ];
    });
  }

  #backgroundError(err: unknown, message: string): void {
    const error = asParleyError(err, 'MEDIA_FAILED', message);
    if (this.#state === 'closed' || endedCodes.has(error.code)) return;
    this.emit('error', error);
  }
}

function toRemote(info: ParticipantInfo): RemoteParticipant {
  return new RemoteParticipant(info.participantId, info.uid, info.joinedAt, info.tracks);
}

function describeMediaError(err: unknown): string {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
      return 'Camera/microphone permission was denied';
    case 'NotFoundError':
      return 'No camera/microphone was found';
    case 'NotReadableError':
      return 'The camera/microphone is in use by another application';
    case 'OverconstrainedError':
      return 'No camera/microphone satisfies the requested constraints';
    default:
      return 'Could not open the camera/microphone';
  }
}
