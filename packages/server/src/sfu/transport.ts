/**
 * The base of every SFU transport (one libdatachannel PeerConnection each) and what they share:
 * the router context, counters, ids, and the accounting of native objects. Internal to the SFU:
 * the public surface is MediaRouter (router.ts). The transports themselves are in publisher.ts
 * (PublisherTransport, SourceTrack), subscriber.ts (per-pair SubscriberTransport, SinkTrack) and
 * subscriber-connection.ts (one BUNDLE connection per subscriber, renegotiated by the SFU).
 *
 * node-datachannel pitfalls handled here: every Track object is referenced until closed (a
 * collected Track silently loses its callbacks); every Track and PeerConnection is closed
 * explicitly (their native callbacks otherwise keep the process alive); media bytes are counted
 * here, not with bytesReceived().
 */
import { randomBytes } from 'node:crypto';
import { PeerConnection, type RtcConfig, type Track } from 'node-datachannel';
import { SfuError } from './errors.js';
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

export function watchTrack(track: Track): void {
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
export async function raceTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

export function closeQuietly(what: { close(): void }): void {
  try {
    what.close();
  } catch {
    // already closed or destroyed
  }
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

export function randomSsrc(): number {
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
    rtcOverrides: Partial<RtcConfig> = {},
  ) {
    this.pc = new PeerConnection(id, { ...ctx.config.rtc, ...rtcOverrides });
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

  /**
   * The current local SDP (a later offer of a renegotiating transport, after the first one went
   * out through localSdp()), candidates rewritten to the announced addresses.
   */
  protected currentLocalSdp(): string {
    const desc = this.pc.localDescription();
    if (!desc) throw new SfuError('negotiation-failed', 'libdatachannel produced no local description');
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
