/**
 * A room as one terminal sees it: the other participants, the local publication (one
 * sendonly RTCPeerConnection, client offer → server answer) and the receiving side (one
 * RTCPeerConnection for every remote track, renegotiated by server offers: see receiver.ts).
 * A room costs the browser at most 2 peer connections, whatever its size.
 *
 * Both connections are made and watched by connections.ts (candidates, ICE_FAILED, the
 * rebuild budget); the room rebuilds a failed one (republish, or a fresh receiving connection).
 *
 * Lifecycle: created by ParleyClient.createRoom/joinRoom; ends once with `closed` (after
 * leave(), a `roomClosed` from the server, or `disconnected`). Ending closes every peer
 * connection and stops the camera/microphone tracks the SDK opened.
 */
import type { MediaKind, ParticipantInfo, RoomState, ServerMessage, TrackInfo } from '@parley/protocol';
import { Emitter } from './emitter.js';
import { Connections } from './connections.js';
import { ParleyError, asParleyError } from './errors.js';
import { Receiver, type SubscriptionStats } from './receiver.js';
import type { SignalingConnection, Welcome } from './signaling.js';
import type { MediaEnvironment, Transport } from './transport.js';

export type { InboundStats, SubscriptionStats } from './receiver.js';

/** Another participant of the room. Fields update in place as events arrive. */
export class RemoteParticipant {
  tracks: TrackInfo[];
  /** The stream of this participant's received tracks (one object for their stay) while it holds any, else null. */
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
  /** Always null: the receiving connection carries every participant's media. */
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

export interface OutboundStats {
  kind: string;
  packetsSent: number;
  bytesSent: number;
  framesEncoded?: number;
}

export interface RoomStats {
  publication: { state: RTCPeerConnectionState; outbound: OutboundStats[] } | null;
  /** One entry per remote participant whose tracks are received, all on the one receiving connection. */
  subscriptions: SubscriptionStats[];
  /** The RTCPeerConnections this room holds now: publication and receiving connection, 0 to 2. */
  peerConnections: number;
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

/** Codes meaning "the room or session is gone": background work stops quietly. */
const endedCodes = new Set(['ROOM_LEFT', 'CLIENT_CLOSED', 'NOT_IN_ROOM', 'ROOM_CLOSED']);

const kindsKey = (tracks: readonly { kind: MediaKind }[]) =>
  [...new Set(tracks.map((t) => t.kind))].sort().join(',');

export class Room extends Emitter<RoomEvents> {
  readonly roomId: string;
  readonly createdAt: number;
  #selfId: string;
  #state: 'joined' | 'reconnecting' | 'closed' = 'joined';
  readonly #ctx: RoomContext;
  readonly #participants = new Map<string, RemoteParticipant>();
  readonly #connections: Connections;
  readonly #receiver: Receiver;

  // publication
  #publisher: Transport | null = null;
  #localStream: MediaStream | null = null;
  readonly #localTracks = new Map<MediaKind, MediaStreamTrack>();
  /** Tracks the SDK opened (and so stops); tracks handed in by the application are not stopped. */
  readonly #ownedTracks = new Set<MediaStreamTrack>();
  readonly #muted: Record<MediaKind, boolean> = { audio: false, video: false };
  #pubChain: Promise<unknown> = Promise.resolve();

  constructor(state: RoomState, ctx: RoomContext) {
    super();
    this.roomId = state.roomId;
    this.createdAt = state.createdAt;
    this.#selfId = state.self;
    this.#ctx = ctx;
    for (const info of state.participants) {
      if (info.participantId !== state.self) this.#participants.set(info.participantId, toRemote(info));
    }
    this.#connections = new Connections({
      ...ctx,
      roomState: () => this.#state,
      stateChanged: (t, state) =>
        this.emit('mediaStateChanged', { transport: t.role, participant: null, state }),
      failed: (error) => this.emit('error', error),
      rebuild: (t) => this.#rebuild(t),
    });
    this.#receiver = new Receiver({
      ...ctx,
      connections: this.#connections,
      participant: (id) => this.#participants.get(id),
      trackSubscribed: (p, track, stream) => this.emit('trackSubscribed', p, track, stream),
      trackUnsubscribed: (p, track, stream) => this.emit('trackUnsubscribed', p, track, stream),
      error: (err, message) => this.#backgroundError(err, message),
    });
  }

  /** Opens the receiving connection. Called by the client once the caller could add listeners. */
  start(): void {
    if (this.#state !== 'closed') this.#receiver.open();
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
      this.#connections.drop(this.#publisher);
      this.#publisher = null;
      await this.#ignoreCodes(signaling.request('unpublish', {}), ['NOT_PUBLISHING']);
    }
    const transport = this.#connections.create('publish');
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
      this.#connections.register(transport, res.transportId);
      await transport.setRemoteDescription({ type: 'answer', sdp: res.sdp });
      for (const kind of this.#localTracks.keys()) {
        if (this.#muted[kind]) await signaling.request('mute', { kind, muted: true });
      }
    } catch (err) {
      if (this.#publisher === transport) {
        this.#connections.drop(transport);
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
      this.#connections.drop(this.#publisher);
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

  // --- receiving -----------------------------------------------------------------------

  /**
   * Receives a participant's media (every participant is received unless the client was made
   * with `autoSubscribe: false`). Resolves once the server accepted; the tracks come with its
   * next offer (`trackSubscribed`).
   */
  subscribe(participantId: string): Promise<void> {
    return this.#receiver.setSubscribed(participantId, true);
  }

  /** Stops receiving a participant's media (`trackUnsubscribed` with the server's next offer). */
  unsubscribe(participantId: string): Promise<void> {
    return this.#receiver.setSubscribed(participantId, false);
  }

  /** Rebuilds a failed connection: republish, or a fresh receiving connection. */
  #rebuild(transport: Transport): void {
    if (transport === this.#receiver.transport) this.#receiver.restart();
    else if (transport === this.#publisher) {
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
        this.#receiver.participantsChanged();
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
        return;
      }
      case 'candidate':
        this.#connections.addCandidate(msg);
        return;
      case 'subscriberOffer':
        this.#receiver.handleOffer(msg);
        return;
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
        this.#rebuild(publisher);
      } else {
        for (const t of self?.tracks ?? []) {
          if (t.muted !== this.#muted[t.kind]) {
            void this.#serial(() =>
              this.#ctx.signaling.request('mute', { kind: t.kind, muted: this.#muted[t.kind] }),
            ).catch((err: unknown) => this.#backgroundError(err, 'Muting failed'));
          }
        }
        this.#connections.checkLater(publisher);
      }
    }
    // Receiving connection: a fresh one if it failed; opened again if its openSubscriber was lost.
    const receiving = this.#receiver.transport;
    if (receiving && (receiving.failed || receiving.pc.connectionState === 'failed')) {
      receiving.failed = true;
      this.#rebuild(receiving);
    } else if (receiving) this.#connections.checkLater(receiving);
    this.#receiver.participantsChanged();
  }

  /** @internal */
  handleDisconnected(error: ParleyError): void {
    if (this.#state === 'closed') return;
    this.emit('disconnected', error);
    this.#end('disconnected');
  }

  #removeParticipant(participantId: string, reason: string): void {
    const participant = this.#participants.get(participantId);
    if (!participant) return;
    this.#receiver.removeParticipant(participant);
    this.#participants.delete(participantId);
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

  /** Media statistics: the publication's, and per participant received (`framesDecoded`, packets, bytes). */
  async getStats(): Promise<RoomStats> {
    const receiving = this.#receiver.transport;
    const stats: RoomStats = {
      publication: null,
      subscriptions: [],
      peerConnections: [this.#publisher, receiving].filter((t) => t && !t.closed).length,
    };
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
    stats.subscriptions = await this.#receiver.stats();
    return stats;
  }

  /** Ends the room locally (idempotent): closes every connection, stops owned tracks, emits `closed`. */
  #end(reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#receiver.close();
    if (this.#publisher) this.#connections.drop(this.#publisher);
    this.#publisher = null;
    this.#connections.closeAll();
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
