/**
 * What a live call needs from the media plane for its room. The SFU implements it; the call
 * never touches RTP, and the SFU never sees credentials, rooms or sockets.
 */
import type { MediaKind } from '@parley/protocol';
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

export interface RoomMediaEvents {
  /** A server ICE candidate for a participant's transport, to trickle to the terminal. */
  onCandidate(participantId: string, transportId: string, candidate: string, mid: string): void;
  /** The kinds a participant still publishes changed without a request (its transport failed). */
  onPublishedKindsChanged(participantId: string, kinds: MediaKind[]): void;
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
    readonly code: 'TRANSPORT_NOT_FOUND' | 'NOT_PUBLISHING' | 'MEDIA_FAILED' | 'PARTICIPANT_NOT_FOUND',
    message: string,
  ) {
    super(message);
  }
}
