/**
 * Public types of the media plane (see router.ts for the API and its semantics). The RTP types
 * it shares with the recorder live in rtp/types.ts and are re-exported here.
 */
import type { MediaKind, RtpCodec, RtpHeaderExtension } from '../rtp/types.js';

export type { MediaKind, RtpCodec, RtpHeaderExtension } from '../rtp/types.js';

export type VideoCodecName = 'VP8' | 'H264';
export type TransportRole = 'publisher' | 'subscriber';
/** PeerConnection state as libdatachannel reports it, plus 'closed' when we close it. */
export type TransportState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** A STUN/TURN server: a libdatachannel URL string ("stun:host:port", "turn:user:pass@host:port")
 * or the browser's RTCIceServer shape. */
export type IceServerConfig = string | { urls: string | string[]; username?: string; credential?: string };

export interface SfuConfig {
  /** UDP port range for ICE; both 0 or absent = the OS picks. One port per transport. */
  portRangeBegin?: number;
  portRangeEnd?: number;
  /** All transports share one UDP port (portRangeBegin === portRangeEnd): one firewall rule,
   * no port range to size. libjuice demultiplexes by ICE credentials and remote address. */
  udpMux?: boolean;
  /** Local address to bind (e.g. '127.0.0.1' in tests, a private interface on a server). */
  bindAddress?: string;
  /** Public addresses written into host candidates instead of the local ones (server behind NAT). */
  announcedIps?: string[];
  /** STUN/TURN servers the SFU itself uses to gather candidates. */
  iceServers?: IceServerConfig[];
  /** Video codecs accepted from publishers, in order of preference (the first one is what the
   * browser sends). Default ['VP8', 'H264']. Audio is always Opus. */
  videoCodecs?: VideoCodecName[];
  /** Bitrate (bits/s) the SFU announces to each publisher with REMB. Default 3_000_000. */
  maxIncomingBitrate?: number;
  /** How long publish()/subscribe() wait for ICE gathering before returning the SDP; candidates
   * found later are emitted as 'localCandidate' events. 0 = return at once (full trickle).
   * Default 1000. */
  iceGatheringTimeoutMs?: number;
  /** Keyframe requests (PLI) to one publisher track are sent at most this often; extra requests
   * in between are merged into one sent when the interval ends. Default 300. */
  keyFrameRequestMinIntervalMs?: number;
  /** A transport not connected this long after it was created (no answer, ICE never completing)
   * is closed, with a 'closed' transportState event. Default 30000. */
  connectTimeoutMs?: number;
  /** Video packets kept per subscriber to answer its NACKs (RtcpNackResponder). ~1.2 KB each;
   * 512 is ~3 s of 1.5 Mbit/s video. Default 512. */
  nackBufferPackets?: number;
}

/** A track a participant publishes; plain data, safe to serialise for signaling. */
export interface PublishedTrack {
  /** Opaque id; also the msid track id subscribers see (MediaStreamTrack.id in Chrome). */
  id: string;
  participantId: string;
  /** The publisher transport that carries it. */
  transportId: string;
  kind: MediaKind;
  /** mid in the publisher's SDP. */
  mid: string;
  ssrc: number;
  /** msid stream id subscribers see: one per publishing participant, so audio and video of a
   * participant land in one MediaStream (browsers lip-sync tracks of one stream). */
  streamId: string;
  codecs: RtpCodec[];
}

/** MediaRouter.publish() */
export interface PublishResult {
  transportId: string;
  answerSdp: string;
  tracks: PublishedTrack[];
}

/** MediaRouter.subscribe() */
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

export interface SfuLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface TransportStateEvent {
  transportId: string;
  participantId: string;
  role: TransportRole;
  state: TransportState;
}

export interface LocalCandidateEvent {
  transportId: string;
  participantId: string;
  /** "candidate:..." (no "a=" prefix), ready for RTCIceCandidate({ candidate, sdpMid }). */
  candidate: string;
  mid: string;
}

export type TrackEndReason = 'unpublished' | 'participant-removed' | 'transport-closed';

/** Where a tap sends its packets (plain UDP). */
export interface TapTarget {
  /** An IP address (no host names): '127.0.0.1' for a consumer on this machine. */
  address: string;
  port: number;
}

export interface TapOptions {
  /** Tap this track (a live track of the publisher, of the kind asked). Default: the publisher's
   * most recently published live track of that kind. */
  trackId?: string;
  /** Also forward the publisher's RTCP sender reports for this SSRC (same port, RFC 5761 mux), the
   * last one at once. Default true. */
  senderReports?: boolean;
  /** Video only: keyframe requests (PLI) to the publisher when the tap starts, then every
   * intervalMs until forMs have passed. false = none. Default { intervalMs: 2000, forMs: 6000 }. */
  keyFrames?: { intervalMs: number; forMs: number } | false;
}

export interface TapStats {
  tapId: string;
  trackId: string;
  participantId: string;
  kind: MediaKind;
  address: string;
  port: number;
  /** RTP packets / bytes sent to the target. */
  packets: number;
  bytes: number;
  /** Video: frames (RTP marker bits) and keyframes seen; 0 for audio. */
  frames: number;
  keyFrames: number;
  senderReports: number;
  /** Server time (epoch ms) of the last packet, null before the first. */
  lastPacketAt: number | null;
  /** How long the tap has existed. */
  ageMs: number;
}

export interface TapEndedEvent {
  tapId: string;
  trackId: string;
  participantId: string;
  kind: MediaKind;
  /** Why its track ended. */
  reason: TrackEndReason;
}

/** What a consumer of a tap needs to describe the stream (e.g. an SDP for ffmpeg). */
export interface TrackDescription {
  trackId: string;
  participantId: string;
  kind: MediaKind;
  ssrc: number;
  cname: string;
  /** Negotiated codecs, preferred first (the payload type in the packets says which is used). */
  codecs: RtpCodec[];
  headerExtensions: RtpHeaderExtension[];
  ended: boolean;
}

/** What has arrived from the publisher for one track (counted on the packet path). */
export interface TrackArrival {
  trackId: string;
  packets: number;
  bytes: number;
  /** Video: RTP marker bits, i.e. frames; 0 for audio. */
  frames: number;
  /** Server time (epoch ms) of the last packet, null before the first. */
  lastPacketAt: number | null;
}

/** A track on a participant's subscriber connection, by the m-line (mid) that carries it. */
export interface SubscriberTrack {
  mid: string;
  /** PublishedTrack.id (the msid track id in the offer; a browser may keep the id of the first
   * track that used the mid, so map by mid). */
  trackId: string;
  publisherId: string;
  kind: MediaKind;
  /** msid stream id: one per publishing participant. */
  streamId: string;
  ssrc: number;
}

/** A new offer of a participant's subscriber connection (openSubscriber), to answer with
 * setSubscriberAnswer(transportId, version, answerSdp). */
export interface SubscriberOfferEvent {
  participantId: string;
  transportId: string;
  /** 1 for the first offer of the connection, then +1 per offer. */
  version: number;
  offerSdp: string;
  /** What each sending m-line carries; media m-lines not listed are inactive (free for reuse). */
  tracks: SubscriberTrack[];
}

export interface OpenSubscriberOptions {
  /** true: receive every other participant's tracks; false: nobody until setSubscribed().
   * Omitted: the participant's previous choices (all, for a participant never seen). */
  autoSubscribe?: boolean;
  /** Close the participant's open subscriber connection (if any) and open a new one. */
  restart?: boolean;
}

export interface MediaRouterEvents {
  trackPublished: [PublishedTrack];
  /** A participant's subscriber connection has a new offer (see SubscriberOfferEvent). */
  subscriberOffer: [SubscriberOfferEvent];
  trackEnded: [PublishedTrack, TrackEndReason];
  /** A tap stopped because its track ended (not after removeTap() or close()). */
  tapEnded: [TapEndedEvent];
  transportState: [TransportStateEvent];
  localCandidate: [LocalCandidateEvent];
  /** A transport connected from an address outside the remote-address policy; it was closed. */
  remoteDenied: [RemoteDeniedEvent];
}

export interface RemoteDeniedEvent {
  transportId: string;
  participantId: string;
  role: TransportRole;
  address: string;
  port: number;
}

export interface TransportStats {
  transportId: string;
  participantId: string;
  role: TransportRole;
  state: TransportState;
  /** publisher: tracks it carries; subscriber: tracks it receives. */
  trackIds: string[];
  /** publisher: the participant; subscriber: the publisher it receives ('' on a subscriber
   * connection, which receives from several: see publisherIds). */
  publisherId: string;
  /** Subscriber connections (openSubscriber) only: the publishers whose tracks it carries. */
  publisherIds?: string[];
}

/** Packet and RTCP counters of a router (plain increments on the packet path). */
export interface RouterCounters {
  /** RTP packets / bytes received from publishers. */
  receivedPackets: number;
  receivedBytes: number;
  /** RTP packets / bytes sent to subscribers (one count per subscriber). */
  forwardedPackets: number;
  forwardedBytes: number;
  /** Packets not sent to a subscriber whose transport was not connected yet, or whose send failed. */
  droppedPackets: number;
  /** Keyframe requests received from subscribers (PLI + FIR). */
  keyFrameRequestsReceived: number;
  /** PLIs sent to publishers (after merging). */
  keyFrameRequestsSent: number;
  /** NACKs received from subscribers (answered by RtcpNackResponder). */
  nacksReceived: number;
  /** NACKs the SFU sent to publishers for packets lost on the way in. */
  nacksSent: number;
  /** Sender reports forwarded to subscribers. */
  senderReportsForwarded: number;
  /** Receiver report + REMB compounds sent to publishers. */
  receiverReportsSent: number;
  /** Transports closed because their peer's address broke the remote-address policy. */
  remoteDenied: number;
}

export interface RouterStats extends RouterCounters {
  transports: number;
  publisherTransports: number;
  subscriberTransports: number;
  /** Live published tracks. */
  tracks: number;
  /** Live RTP taps (addTap). */
  taps: number;
  perTransport: TransportStats[];
}
