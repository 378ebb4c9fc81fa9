/**
 * @parley/client: the Parley browser SDK.
 *
 * ```ts
 * const client = new ParleyClient({ url: 'https://parley.example.com', credential });
 * const room = await client.createRoom(); // or client.joinRoom(roomId)
 * room.on('trackSubscribed', (participant, track, stream) => attach(participant.uid, stream));
 * await room.publish({ audio: true, video: true });
 * ```
 */
export { ParleyClient, signalingUrl, type ParleyClientOptions, type ClientEvents } from './client.js';
export {
  Room,
  RemoteParticipant,
  type RoomEvents,
  type PublishOptions,
  type MediaStateChange,
  type RoomStats,
  type InboundStats,
  type SubscriptionStats,
  type OutboundStats,
} from './room.js';
export { ParleyError, clientErrorCodes, type ClientErrorCode, type ParleyErrorCode } from './errors.js';
export {
  SignalingConnection,
  protocolVersion,
  signalingPath,
  closeCodeDropped,
  type SignalingOptions,
  type SignalingEvents,
  type SignalingState,
  type CredentialSource,
  type WebSocketLike,
  type WebSocketConstructor,
  type Welcome,
  type ServerEvent,
} from './signaling.js';
export { browserMedia, type MediaEnvironment } from './transport.js';
export { Emitter } from './emitter.js';
export type { Credential, MediaKind, TrackInfo, ParticipantInfo, RoomState } from '@parley/protocol';
