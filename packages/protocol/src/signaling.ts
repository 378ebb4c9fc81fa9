/**
 * Signaling protocol v1: JSON text frames over the WebSocket at `/signal/v1`.
 * Every client message is validated against these schemas; see docs/signaling.md.
 *
 * Requests carry an `id` chosen by the client; the server answers each with exactly one
 * `response` carrying the same id. Events from the server carry no id.
 */
import { Type, type Static } from 'typebox';
import { CredentialSchema } from './api.js';

export const signalingVersion = 1;
export const signalingPath = '/signal/v1';

const strict = { additionalProperties: false } as const;
const RequestId = Type.Union([Type.String({ maxLength: 64 }), Type.Integer()]);
const Kind = Type.Union([Type.Literal('audio'), Type.Literal('video')]);
export type MediaKind = Static<typeof Kind>;
const Sdp = Type.String({ minLength: 1, maxLength: 60_000 });
const Id = Type.String({ minLength: 1, maxLength: 128 });

export const HelloSchema = Type.Object(
  {
    type: Type.Literal('hello'),
    v: Type.Literal(1),
    credential: CredentialSchema,
    /** Present when reconnecting within the grace period: the session continues, no leave/join. */
    resume: Type.Optional(Type.Object({ sessionId: Id, resumeToken: Id }, strict)),
  },
  strict,
);

export const ClientMessageSchema = Type.Union([
  HelloSchema,
  Type.Object({ type: Type.Literal('createRoom'), id: RequestId }, strict),
  Type.Object({ type: Type.Literal('joinRoom'), id: RequestId, roomId: Id }, strict),
  Type.Object({ type: Type.Literal('leaveRoom'), id: RequestId }, strict),
  Type.Object({ type: Type.Literal('publish'), id: RequestId, sdp: Sdp }, strict),
  Type.Object({ type: Type.Literal('unpublish'), id: RequestId, kind: Type.Optional(Kind) }, strict),
  Type.Object({ type: Type.Literal('subscribe'), id: RequestId, participantId: Id }, strict),
  Type.Object({ type: Type.Literal('unsubscribe'), id: RequestId, participantId: Id }, strict),
  Type.Object({ type: Type.Literal('answer'), id: RequestId, transportId: Id, sdp: Sdp }, strict),
  /**
   * Opens the participant's one receiving connection: every remote track it receives, in one
   * peer connection the server renegotiates (subscriberOffer events, answered by
   * subscriberAnswer). restart: replace the current one (after an ICE failure).
   */
  Type.Object(
    {
      type: Type.Literal('openSubscriber'),
      id: RequestId,
      autoSubscribe: Type.Optional(Type.Boolean()),
      restart: Type.Optional(Type.Boolean()),
    },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('subscriberAnswer'),
      id: RequestId,
      transportId: Id,
      version: Type.Integer({ minimum: 1 }),
      sdp: Sdp,
    },
    strict,
  ),
  /** Receive (or stop receiving) one participant's tracks on the receiving connection. */
  Type.Object(
    { type: Type.Literal('setSubscribed'), id: RequestId, participantId: Id, subscribed: Type.Boolean() },
    strict,
  ),
  Type.Object(
    {
      type: Type.Literal('candidate'),
      transportId: Id,
      candidate: Type.String({ maxLength: 1024 }),
      mid: Type.String({ maxLength: 64 }),
    },
    strict,
  ),
  Type.Object({ type: Type.Literal('mute'), id: RequestId, kind: Kind, muted: Type.Boolean() }, strict),
  Type.Object({ type: Type.Literal('ping'), id: RequestId }, strict),
]);
export type ClientMessage = Static<typeof ClientMessageSchema>;
export type ClientRequest = Extract<ClientMessage, { id: unknown }>;

export interface TrackInfo {
  kind: MediaKind;
  muted: boolean;
}

export interface ParticipantInfo {
  participantId: string;
  uid: string;
  joinedAt: number;
  tracks: TrackInfo[];
}

/** A track on the receiving connection: whose it is, by the m-line (mid) that carries it. */
export interface SubscribedTrack {
  mid: string;
  trackId: string;
  /** The publishing participant. */
  participantId: string;
  kind: MediaKind;
}

export interface RoomState {
  roomId: string;
  createdAt: number;
  /** You are included, marked by your participantId in `self`. */
  participants: ParticipantInfo[];
  self: string;
}

/** Results of each request type, as `response.data`. */
export interface ResponseData {
  createRoom: RoomState;
  joinRoom: RoomState;
  leaveRoom: Record<string, never>;
  publish: { transportId: string; sdp: string };
  unpublish: Record<string, never>;
  subscribe: { transportId: string; sdp: string };
  unsubscribe: Record<string, never>;
  answer: Record<string, never>;
  openSubscriber: { transportId: string };
  subscriberAnswer: Record<string, never>;
  setSubscribed: Record<string, never>;
  mute: Record<string, never>;
  ping: { time: number };
}

export interface SignalingError {
  /** A code of the error catalogue (docs/errors.md) or a signaling code below. */
  code: string;
  message: string;
  field?: string;
}

/** Signaling-only error codes (credential failures use the CREDENTIAL_* catalogue codes). */
export const signalingErrorCodes = [
  'MESSAGE_INVALID',
  'MESSAGE_TOO_LARGE',
  'RATE_LIMITED',
  'HELLO_REQUIRED',
  'HELLO_ALREADY_RECEIVED',
  'HELLO_TIMEOUT',
  'ALREADY_IN_ROOM',
  'NOT_IN_ROOM',
  'ROOM_NOT_FOUND',
  'ROOM_FULL',
  'PARTICIPANT_NOT_FOUND',
  'TRANSPORT_NOT_FOUND',
  'OFFER_SUPERSEDED',
  'NOT_PUBLISHING',
  'MEDIA_FAILED',
  'MEDIA_ADDRESS_DENIED',
  'RESUME_FAILED',
  'SESSION_REPLACED',
  'REMOVED',
  'ROOM_CLOSED',
  'SERVER_SHUTTING_DOWN',
] as const;
export type SignalingErrorCode = (typeof signalingErrorCodes)[number];

export type ServerMessage =
  | {
      type: 'welcome';
      v: 1;
      sessionId: string;
      resumeToken: string;
      uid: string;
      bizName: string;
      resumed: boolean;
      iceServers: { urls: string[]; username?: string; credential?: string }[];
      /** 'relay' when the call application's media goes through its proxy (TURN only). */
      iceTransportPolicy: 'all' | 'relay';
      /** The media-stream proxy (host[:port]) when there is one, for error messages. */
      mediaProxy: string | null;
      /** The room the session is in (after a resume). */
      room: RoomState | null;
      limits: { maxParticipants: number; maxMessageBytes: number; messagesPerSecond: number };
    }
  | { type: 'response'; id: string | number; ok: true; data: unknown }
  | { type: 'response'; id: string | number; ok: false; error: SignalingError }
  | { type: 'error'; error: SignalingError }
  | { type: 'participantJoined'; participant: ParticipantInfo }
  | { type: 'participantLeft'; participantId: string; uid: string; reason: string }
  | { type: 'tracksChanged'; participantId: string; tracks: TrackInfo[] }
  | { type: 'candidate'; transportId: string; candidate: string; mid: string }
  /**
   * A new description of the receiving connection (version counts up from 1 per connection):
   * answer it with subscriberAnswer. Mids not in `tracks` carry nothing now (inactive); the
   * server reuses them for later tracks. One offer is outstanding at a time; after a resume the
   * unanswered one is sent again.
   */
  | {
      type: 'subscriberOffer';
      transportId: string;
      version: number;
      sdp: string;
      tracks: SubscribedTrack[];
    }
  | { type: 'roomClosed'; roomId: string; reason: string }
  | { type: 'bye'; code: SignalingErrorCode; message: string };
