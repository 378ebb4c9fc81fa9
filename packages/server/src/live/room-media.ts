/**
 * What a live call needs from the media plane for its room. The SFU implements it; the call
 * never touches RTP, and the SFU never sees credentials, rooms or sockets.
 */
import type { MediaKind, SubscribedTrack } from '@parley/protocol';
import type { MediaRouter } from '../sfu/index.js';

export interface RoomMedia {
  /** A participant's offer (sendonly audio/video) → the server's answer and the kinds it carries. */
  publish(
    participantId: string,
    offerSdp: string,
  ): Promise<{ transportId: string; answerSdp: string; kinds: MediaKind[] }>;
  /** The server's offer carrying the publisher's tracks to the subscriber. */
  subscribe(subscriberId: string, publisherId: string): Promise<{ transportId: string; offerSdp: string }>;
  unsubscribe(subscriberId: string, publisherId: string): void;
  /**
   * The participant's one receiving connection (every remote track, renegotiated by offers sent
   * through onSubscriberOffer). restart: replace the current one; autoSubscribe false: receive
   * nobody until setSubscribed.
   */
  openSubscriber(
    participantId: string,
    options: { autoSubscribe?: boolean; restart: boolean },
  ): { transportId: string };
  /** The answer to offer `version` of the participant's receiving connection. */
  setSubscriberAnswer(
    participantId: string,
    transportId: string,
    version: number,
    answerSdp: string,
  ): Promise<void>;
  /** Receive (or stop receiving) one publisher's tracks on the subscriber's receiving connection. */
  setSubscribed(subscriberId: string, publisherId: string, subscribed: boolean): void;
  /** The offer of the participant's receiving connection still waiting for its answer (to send again after a resume). */
  pendingSubscriberOffer(participantId: string): SubscriberOffer | null;
  setAnswer(participantId: string, transportId: string, answerSdp: string): Promise<void>;
  addRemoteCandidate(participantId: string, transportId: string, candidate: string, mid: string): void;
  unpublish(participantId: string, kind?: MediaKind): MediaKind[];
  removeParticipant(participantId: string): void;
  /** Media only from and to these addresses (a proxy's egress IPs); null: any. */
  setRemoteAddressPolicy(addresses: readonly string[] | null): void;
  /** The room's router, for local consumers of its tracks (the recorder's taps). */
  readonly router: MediaRouter;
  /** Idempotent. */
  close(): void;
}

/** A new description of a receiving connection, for its terminal to answer. */
export interface SubscriberOffer {
  transportId: string;
  version: number;
  sdp: string;
  tracks: SubscribedTrack[];
}

export interface RoomMediaEvents {
  /** A server ICE candidate for a participant's transport, to trickle to the terminal. */
  onCandidate(participantId: string, transportId: string, candidate: string, mid: string): void;
  /** The kinds a participant still publishes changed without a request (its transport failed). */
  onPublishedKindsChanged(participantId: string, kinds: MediaKind[]): void;
  /** A receiving connection has a new offer for its terminal. */
  onSubscriberOffer(participantId: string, offer: SubscriberOffer): void;
  /** A transport connected from an address the remote-address policy does not allow; it was closed. */
  onRemoteDenied(participantId: string, address: string, port: number): void;
}

export interface MediaPlane {
  /** A room's media: its own router, closed with RoomMedia.close(). */
  createRoomMedia(events: RoomMediaEvents): RoomMedia;
  /** Rooms whose media is open. */
  rooms(): number;
  /** Idempotent: closes every room's media still open. */
  close(): void;
}

/** Thrown by the media plane for a request it cannot serve; becomes a signaling error. */
export class MediaError extends Error {
  constructor(
    readonly code:
      | 'TRANSPORT_NOT_FOUND'
      | 'NOT_PUBLISHING'
      | 'MEDIA_FAILED'
      | 'PARTICIPANT_NOT_FOUND'
      | 'OFFER_SUPERSEDED',
    message: string,
  ) {
    super(message);
  }
}
