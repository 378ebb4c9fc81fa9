/**
 * The receiving side of a room: ONE RTCPeerConnection carrying every remote track this
 * terminal receives, whatever the room's size. The server is always its offerer (no glare):
 *
 *   openSubscriber {autoSubscribe, restart?}      → {transportId}
 *   subscriberOffer {transportId, version, sdp, tracks}   (server event; versions 1, 2, 3...)
 *   subscriberAnswer {transportId, version, sdp}  → {}
 *   setSubscribed {participantId, subscribed}     → {}   (room.subscribe / room.unsubscribe)
 *
 * Offers: applied one at a time (setRemoteDescription → createAnswer → setLocalDescription →
 * subscriberAnswer), in version order. While one is applied, only the newest offer that came
 * meanwhile waits (a newer one means the server superseded the older). An offer whose version
 * is not newer than the last applied is not applied again: sent again after a signaling
 * resume, it gets the answer already made, once more. An offer may come before the
 * openSubscriber response naming its transport: it waits for it. Offers for any other
 * transport are dropped.
 *
 * Tracks: whose a track is comes from the applied offer's `tracks` (mid → publisher and
 * trackId) and the transceiver with that mid, never from ontrack (Chromium fires nothing when
 * an m-line goes inactive, and the server reuses an inactive m-line for a later track, maybe
 * another participant's, with the same transceiver and receiver track object). After every
 * applied offer the receiver compares what each mid carries with what it handed out:
 * `trackUnsubscribed` for what changed or went, then `trackSubscribed` for what came. Each
 * participant has one MediaStream, kept while they are in the room; `participant.stream` is it
 * while it holds a track, else null.
 *
 * The peer connection is made with the first offer (a room where nobody publishes costs none)
 * and its connect timeout starts with the first offer that carries a track. Failures are
 * detected by connections.ts; the Room then calls restart(), which asks the server for a fresh
 * connection (openSubscriber restart): every track is unsubscribed, the old peer connection
 * closed, and a new one follows the new transport's offers. The same happens, quietly within the
 * rebuild budget, when the server no longer knows the transport an answer was for.
 */
import type { ServerMessage, SubscribedTrack } from '@parley/protocol';
import type { Connections } from './connections.js';
import { ParleyError } from './errors.js';
import type { RemoteParticipant } from './room.js';
import type { SignalingConnection } from './signaling.js';
import type { MediaEnvironment, Transport } from './transport.js';

export type SubscriberOffer = Extract<ServerMessage, { type: 'subscriberOffer' }>;

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

/** What one participant's media costs on the receiving connection. */
export interface SubscriptionStats {
  participantId: string;
  uid: string;
  /** The receiving connection's state (shared by every participant). */
  state: RTCPeerConnectionState;
  /** Only this participant's tracks. */
  inbound: InboundStats[];
}

/** What the receiver needs from its room. */
export interface ReceiverHost {
  readonly signaling: SignalingConnection;
  readonly media: MediaEnvironment;
  readonly autoSubscribe: boolean;
  /** Makes, registers and drops the peer connection, and keeps the rebuild budget. */
  readonly connections: Connections;
  participant(participantId: string): RemoteParticipant | undefined;
  trackSubscribed(participant: RemoteParticipant, track: MediaStreamTrack, stream: MediaStream): void;
  trackUnsubscribed(participant: RemoteParticipant, track: MediaStreamTrack, stream: MediaStream): void;
  /** A background failure (dropped quietly once the room has ended). */
  error(err: unknown, message: string): void;
}

interface Handed {
  participantId: string;
  trackId: string;
  track: MediaStreamTrack;
}

interface Applied {
  version: number;
  /** The answer made for it, sent again when the offer comes again. */
  sdp: string;
  answering: boolean;
}

export class Receiver {
  readonly #host: ReceiverHost;
  #phase: 'idle' | 'opening' | 'open' | 'closed' = 'idle';
  /** Bumped whenever the connection is replaced or closed: work for an older one stops. */
  #generation = 0;
  #working = -1;
  #opens = 0;
  #transportId: string | null = null;
  #transport: Transport | null = null;
  /** Offers for transports not known yet (the openSubscriber response is on its way). */
  readonly #early = new Map<string, SubscriberOffer>();
  #next: SubscriberOffer | null = null;
  #applying = 0;
  #applied: Applied | null = null;
  /** What each mid carries by the last applied offer, and the SSRCs it announced. */
  #carried = new Map<string, SubscribedTrack>();
  #ssrcs = new Map<string, Set<string>>();
  /** What was handed out with trackSubscribed, by mid. */
  readonly #handed = new Map<string, Handed>();
  readonly #streams = new Map<string, MediaStream>();
  /** subscribe()/unsubscribe() choices, stated again to a fresh connection. */
  readonly #wanted = new Map<string, boolean>();
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(host: ReceiverHost) {
    this.#host = host;
  }

  /** The peer connection's transport, once the first offer made it. */
  get transport(): Transport | null {
    return this.#transport;
  }

  /** Opens the receiving connection unless it is open or opening (start, after a resume, retries). */
  open(): void {
    if (this.#phase !== 'idle' || this.#host.signaling.state !== 'open') return;
    void this.#open();
  }

  /** Replaces the connection (after it failed, or the server lost it). */
  restart(): void {
    if (this.#phase === 'closed') return;
    this.#reset();
    this.open();
  }

  /** The room ended: every track is unsubscribed and the connection closed. */
  close(): void {
    if (this.#phase === 'closed') return;
    this.#reset();
    this.#phase = 'closed';
    this.#streams.clear();
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  /** A subscriberOffer event. */
  handleOffer(offer: SubscriberOffer): void {
    if (this.#phase === 'closed') return;
    if (this.#transportId === null) {
      const held = this.#early.get(offer.transportId);
      if (!held || held.version < offer.version) this.#early.set(offer.transportId, offer);
      if (this.#early.size > 4) this.#early.delete(this.#early.keys().next().value!);
      return;
    }
    if (offer.transportId !== this.#transportId) return; // a replaced connection's
    const applied = this.#applied;
    if (offer.version <= (applied?.version ?? 0) || offer.version <= this.#applying) {
      // Sent again after a resume: its answer once more, unless that is already on its way.
      if (applied && offer.version === applied.version && !applied.answering) {
        void this.#answer(this.#generation, this.#transportId, applied);
      }
      return;
    }
    if (this.#next && this.#next.version >= offer.version) return;
    this.#next = offer;
    if (this.#working !== this.#generation) void this.#work(this.#generation);
  }

  /**
   * Participants joined (or the room was refreshed): hand out tracks that were waiting for
   * them, and open the connection if an earlier attempt failed.
   */
  participantsChanged(): void {
    if (this.#phase === 'closed') return;
    this.#sync();
    this.open();
  }

  /** They left: their tracks are unsubscribed and their stream forgotten. */
  removeParticipant(participant: RemoteParticipant): void {
    for (const [mid, handed] of [...this.#handed]) {
      if (handed.participantId === participant.participantId) this.#detach(mid, handed, participant);
    }
    this.#streams.delete(participant.participantId);
    this.#wanted.delete(participant.participantId);
    participant.stream = null;
  }

  /**
   * Receive (or stop receiving) one participant. Resolves once the server accepted; the media
   * comes or goes with its next offer. A participant who left meanwhile is not an error.
   */
  async setSubscribed(participantId: string, subscribed: boolean): Promise<void> {
    this.#wanted.set(participantId, subscribed);
    for (let attempt = 0; ; attempt++) {
      await this.#whenOpen();
      if (this.#phase === 'closed' || this.#wanted.get(participantId) !== subscribed) return;
      try {
        await this.#host.signaling.request('setSubscribed', { participantId, subscribed });
        return;
      } catch (err) {
        const code = err instanceof ParleyError ? err.code : '';
        if (code === 'PARTICIPANT_NOT_FOUND') return; // their participantLeft is on its way
        // Lost with the socket: asked again once resumed (it is idempotent).
        if (code !== 'CONNECTION_LOST' || attempt >= 3) throw err;
      }
    }
  }

  /** Per participant with received tracks: the connection's state and their inbound RTP. */
  async stats(): Promise<SubscriptionStats[]> {
    const transport = this.#transport;
    const inbound = new Map<string, InboundStats[]>();
    for (const h of this.#handed.values()) inbound.set(h.participantId, []);
    if (!transport || inbound.size === 0) return [];
    const byTrack = new Map([...this.#handed.values()].map((h) => [h.track.id, h.participantId]));
    const allSsrcs = new Set([...this.#ssrcs.values()].flatMap((s) => [...s]));
    const report = await transport.pc.getStats();
    report.forEach((s: Record<string, unknown>) => {
      if (s['type'] !== 'inbound-rtp') return;
      const mid = typeof s['mid'] === 'string' ? s['mid'] : null;
      // A reused m-line keeps the stats of its earlier tracks: only the SSRCs announced now count.
      const current = mid !== null ? this.#ssrcs.get(mid) : allSsrcs;
      if (current && current.size > 0 && s['ssrc'] !== undefined && !current.has(String(s['ssrc']))) return;
      const owner =
        mid !== null ? this.#handed.get(mid)?.participantId : byTrack.get(String(s['trackIdentifier']));
      const opt = (key: string) => (s[key] !== undefined ? { [key]: Number(s[key]) } : {});
      inbound.get(owner ?? '')?.push({
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
    return [...inbound].map(([participantId, list]) => ({
      participantId,
      uid: this.#host.participant(participantId)?.uid ?? '',
      state: transport.pc.connectionState,
      inbound: list,
    }));
  }

  // --- internals -------------------------------------------------------------------------

  async #open(): Promise<void> {
    const generation = this.#generation;
    this.#phase = 'opening';
    // Any later open may find the server holding a connection (a lost response): replace it.
    const restart = this.#opens++ > 0;
    let transportId: string;
    try {
      ({ transportId } = await this.#host.signaling.request('openSubscriber', {
        autoSubscribe: this.#host.autoSubscribe,
        ...(restart ? { restart: true } : {}),
      }));
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#phase = 'idle'; // opened again after the resume, or on the next participant event
      if (err instanceof ParleyError && err.code === 'CONNECTION_LOST') return;
      for (const w of this.#waiters.splice(0)) w.reject(err);
      this.#host.error(err, 'Opening the receiving connection failed');
      return;
    }
    if (generation !== this.#generation) return;
    this.#phase = 'open';
    this.#transportId = transportId;
    const early = this.#early.get(transportId);
    this.#early.clear();
    if (restart) {
      for (const [participantId, subscribed] of this.#wanted) {
        if (subscribed === this.#host.autoSubscribe) continue;
        this.setSubscribed(participantId, subscribed).catch((err: unknown) =>
          this.#host.error(err, 'Subscribing failed'),
        );
      }
    }
    for (const w of this.#waiters.splice(0)) w.resolve();
    if (early) this.handleOffer(early);
  }

  #whenOpen(): Promise<void> {
    if (this.#phase === 'open' || this.#phase === 'closed') return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Applies the waiting offer, then any newer one that came meanwhile. */
  async #work(generation: number): Promise<void> {
    this.#working = generation;
    try {
      while (generation === this.#generation && this.#next) {
        const offer = this.#next;
        this.#next = null;
        await this.#apply(offer, generation);
      }
    } finally {
      if (this.#working === generation) this.#working = -1;
    }
  }

  async #apply(offer: SubscriberOffer, generation: number): Promise<void> {
    this.#applying = offer.version;
    let applied: Applied;
    try {
      const transport = this.#transport ?? this.#makeTransport(offer.transportId);
      await transport.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
      if (generation !== this.#generation) return;
      const answer = await transport.pc.createAnswer();
      if (generation !== this.#generation) return;
      await transport.pc.setLocalDescription(answer);
      if (generation !== this.#generation) return;
      const sdp = transport.pc.localDescription?.sdp ?? answer.sdp ?? '';
      applied = { version: offer.version, sdp, answering: false };
      this.#applied = applied;
      this.#carried = new Map(offer.tracks.map((t) => [t.mid, t]));
      this.#ssrcs = ssrcsByMid(offer.sdp);
      if (offer.tracks.length > 0) transport.armConnectTimeout();
    } catch (err) {
      if (generation === this.#generation) this.#failed(err, "Applying the server's offer failed");
      return;
    } finally {
      if (generation === this.#generation) this.#applying = 0;
    }
    this.#sync();
    await this.#answer(generation, offer.transportId, applied);
  }

  async #answer(generation: number, transportId: string, applied: Applied): Promise<void> {
    applied.answering = true;
    try {
      const { version, sdp } = applied;
      await this.#host.signaling.request('subscriberAnswer', { transportId, version, sdp });
    } catch (err) {
      if (generation !== this.#generation) return;
      const code = err instanceof ParleyError ? err.code : '';
      // A newer offer is on its way; or the socket dropped and the server sends this one again.
      if (code === 'OFFER_SUPERSEDED' || code === 'CONNECTION_LOST' || code === 'REQUEST_TIMEOUT') return;
      if (code === 'TRANSPORT_NOT_FOUND') {
        // The server closed the connection: ask for a fresh one, quietly while within budget.
        if (this.#host.connections.mayRestart('subscribe')) this.restart();
        else this.#host.error(err, 'The receiving connection was closed by the server');
        return;
      }
      this.#failed(err, "Answering the server's offer failed");
    } finally {
      applied.answering = false;
    }
  }

  #failed(err: unknown, message: string): void {
    this.#host.error(err, message);
    if (this.#phase !== 'closed' && this.#host.connections.mayRestart('subscribe')) this.restart();
  }

  #makeTransport(transportId: string): Transport {
    const transport = this.#host.connections.create('subscribe');
    this.#transport = transport;
    this.#host.connections.register(transport, transportId);
    return transport;
  }

  /** Forgets the connection: every track handed out is unsubscribed. */
  #reset(): void {
    this.#generation++;
    this.#phase = 'idle';
    this.#transportId = null;
    this.#early.clear();
    this.#next = null;
    this.#applying = 0;
    this.#applied = null;
    this.#carried = new Map();
    this.#ssrcs = new Map();
    this.#sync();
    if (this.#transport) this.#host.connections.drop(this.#transport);
    this.#transport = null;
  }

  /** Hands out what each mid carries now, after taking back what it no longer carries. */
  #sync(): void {
    const receiving = new Map<string, MediaStreamTrack>();
    if (this.#carried.size > 0) {
      for (const t of this.#transport?.pc.getTransceivers() ?? []) {
        if (t.mid !== null) receiving.set(t.mid, t.receiver.track);
      }
    }
    const now = new Map<string, Handed>();
    for (const { mid, participantId, trackId } of this.#carried.values()) {
      const track = receiving.get(mid);
      if (track && this.#host.participant(participantId)) now.set(mid, { participantId, trackId, track });
    }
    for (const [mid, was] of [...this.#handed]) {
      const is = now.get(mid);
      if (is?.participantId !== was.participantId || is.trackId !== was.trackId || is.track !== was.track) {
        this.#detach(mid, was);
      }
    }
    for (const [mid, is] of now) if (!this.#handed.has(mid)) this.#attach(mid, is);
  }

  #attach(mid: string, handed: Handed): void {
    const participant = this.#host.participant(handed.participantId);
    if (!participant) return;
    let stream = this.#streams.get(handed.participantId);
    if (!stream) {
      stream = new this.#host.media.MediaStream([]);
      this.#streams.set(handed.participantId, stream);
    }
    this.#handed.set(mid, handed);
    stream.addTrack(handed.track);
    participant.stream = stream;
    this.#host.trackSubscribed(participant, handed.track, stream);
  }

  #detach(mid: string, handed: Handed, participant = this.#host.participant(handed.participantId)): void {
    this.#handed.delete(mid);
    const stream = this.#streams.get(handed.participantId);
    if (!stream) return;
    stream.removeTrack(handed.track);
    if (!participant) return;
    const holdsMore = [...this.#handed.values()].some((h) => h.participantId === handed.participantId);
    if (!holdsMore && participant.stream === stream) participant.stream = null;
    this.#host.trackUnsubscribed(participant, handed.track, stream);
  }
}

/** The SSRCs each m-section of an SDP announces (`a=ssrc:`), by its mid. */
function ssrcsByMid(sdp: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const section of sdp.split(/\r?\n(?=m=)/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    if (mid === undefined) continue;
    out.set(mid, new Set([...section.matchAll(/^a=ssrc:(\d+)/gm)].map((m) => m[1]!)));
  }
  return out;
}
