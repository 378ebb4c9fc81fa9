/**
 * One live call: the single owner of what a room holds while it lives. The room model (its
 * participants and the events the callbacks deliver), the terminals' sessions in it, its media
 * (the SFU router), the proxy egress rule its media follows, and its recording all hang here,
 * so signaling, recording and the REST API talk to this object, not to each other's maps.
 *
 * Made by LiveCalls when the room is created (by a terminal or through the API); ended by the
 * room's close, whichever way it comes (last one out after the grace, an operator, shutdown).
 *
 * Order when a participant leaves (any reason): the others hear participantLeft, its media goes
 * (its transports close), the recording drops its streams, and its own terminal hears
 * roomClosed when it was removed or the room closed. Order when the call ends: every
 * participant leaves as above, then the recording finishes, then the media closes (taps first
 * end with their tracks), then the room's destroy event goes out. Each step is idempotent.
 */
import type { MediaKind, ServerMessage } from '@parley/protocol';
import type { LeaveReason, Participant, Room, RoomScope } from '../rooms/room.js';
import type { MediaRouter } from '../sfu/index.js';
import type { MediaPlane, RoomMedia, SubscriberOffer } from './room-media.js';

/** A terminal in the call: where its messages go. */
export interface CallMember {
  send(message: ServerMessage): void;
}

/** The call's recording, as the call sees it (the recordings module runs it). */
export interface CallRecording {
  readonly recordId: string;
  readonly pid: number | null;
  addParticipant(participantId: string, uid: string): void;
  removeParticipant(participantId: string): void;
  /** The call ended: stop and finish the file. Idempotent. */
  finish(): void;
}

/** A transport of the call connected from an address outside its call application's egress IPs. */
export interface RemoteDenied {
  bizName: string;
  roomId: string;
  uid: string;
  address: string;
  port: number;
}

export interface LiveCallDeps {
  media: MediaPlane;
  onRemoteDenied(e: RemoteDenied): void;
}

export class LiveCall {
  readonly #deps: LiveCallDeps;
  /** The terminals in the call, by participant id; one leaves with its participant. */
  readonly #members = new Map<string, CallMember>();
  #media: RoomMedia | null = null;
  #egress: readonly string[] | null = null;
  #ended = false;
  /** The recording under way, set and cleared by the recordings module. */
  recording: CallRecording | null = null;
  /** Auto-recordings restarted after a recorder crash (bounded by the recordings module). */
  recordingRestarts = 0;

  constructor(
    readonly room: Room,
    deps: LiveCallDeps,
  ) {
    this.#deps = deps;
  }

  get roomId(): string {
    return this.room.roomId;
  }

  get scope(): RoomScope {
    return this.room.scope;
  }

  get closed(): boolean {
    return this.#ended || this.room.closed;
  }

  /** Everyone in the call now: participant id → uid. */
  participants(): Map<string, string> {
    return new Map([...this.room.participants.values()].map((p) => [p.participantId, p.uid]));
  }

  /** The participant ids whose terminals are in the call (for diagnostics and tests). */
  memberIds(): string[] {
    return [...this.#members.keys()];
  }

  member(participantId: string): CallMember | undefined {
    return this.#members.get(participantId);
  }

  /**
   * A terminal joins: a new participant of the room (RoomError when full or closed); the others
   * hear participantJoined once its member is in place, and its track changes from then on.
   */
  join(uid: string, member: CallMember): Participant {
    const participant = this.room.join(uid);
    this.#members.set(participant.participantId, member);
    participant.on('tracksChanged', (tracks) =>
      this.broadcast(
        { type: 'tracksChanged', participantId: participant.participantId, tracks },
        participant.participantId,
      ),
    );
    participant.on('left', (reason) => this.#left(participant, reason));
    this.broadcast({ type: 'participantJoined', participant: participant.info() }, participant.participantId);
    this.recording?.addParticipant(participant.participantId, uid);
    return participant;
  }

  /** To every terminal of the call but one. */
  broadcast(message: ServerMessage, exceptParticipantId: string): void {
    for (const [participantId, member] of this.#members) {
      if (participantId !== exceptParticipantId) member.send(message);
    }
  }

  /**
   * Media only from and to these addresses (the call application's proxy egress IPs, as its
   * latest terminal's hello read them); null: any. Applies to the media already open too.
   */
  setEgress(addresses: readonly string[] | null): void {
    this.#egress = addresses === null ? null : [...addresses];
    this.#media?.setRemoteAddressPolicy(this.#egress);
  }

  /** The call's media, opened on first use (a terminal publishing, or the recorder tapping). */
  media(): RoomMedia {
    if (this.closed) throw new Error(`call ${this.roomId} has ended`);
    this.#media ??= this.#openMedia();
    return this.#media;
  }

  /** The call's media router, for the recorder's taps. */
  router(): MediaRouter {
    return this.media().router;
  }

  /** The unanswered offer of a participant's receiving connection, if the call has media. */
  pendingSubscriberOffer(participantId: string): SubscriberOffer | null {
    return this.#media?.pendingSubscriberOffer(participantId) ?? null;
  }

  /** The kinds a participant publishes, as the media plane has them. */
  unpublish(participantId: string, kind?: MediaKind): MediaKind[] {
    return this.media().unpublish(participantId, kind);
  }

  /** Ends the call (idempotent): see the header for the order. */
  close(reason: string, uid?: string): void {
    this.room.close(reason, uid);
  }

  #openMedia(): RoomMedia {
    const room = this.room;
    const media = this.#deps.media.createRoomMedia({
      onCandidate: (participantId, transportId, candidate, mid) => {
        this.#members.get(participantId)?.send({ type: 'candidate', transportId, candidate, mid });
      },
      onSubscriberOffer: (participantId, offer) => {
        this.#members
          .get(participantId)
          ?.send({ type: 'subscriberOffer', ...offer, tracks: [...offer.tracks] });
      },
      onPublishedKindsChanged: (participantId, kinds) => {
        const participant = room.participants.get(participantId);
        if (participant && participant.tracks.length !== kinds.length) participant.setTracks(kinds);
      },
      onRemoteDenied: (participantId, address, port) => {
        this.#members.get(participantId)?.send({
          type: 'error',
          error: {
            code: 'MEDIA_ADDRESS_DENIED',
            message:
              `Your media reached the server from ${address}, which is not one of this call ` +
              "application's media-proxy egress IPs, so the connection was closed. Check the proxy's " +
              'egress IPs on the feature-configuration page.',
          },
        });
        this.#deps.onRemoteDenied({
          bizName: room.scope.bizName,
          roomId: room.roomId,
          uid: room.participants.get(participantId)?.uid ?? '',
          address,
          port,
        });
      },
    });
    media.setRemoteAddressPolicy(this.#egress);
    return media;
  }

  #left(participant: Participant, reason: LeaveReason): void {
    const id = participant.participantId;
    const member = this.#members.get(id);
    this.#members.delete(id);
    this.broadcast({ type: 'participantLeft', participantId: id, uid: participant.uid, reason }, id);
    this.#media?.removeParticipant(id);
    this.recording?.removeParticipant(id);
    if (member && (reason === 'removed' || reason === 'roomClosed')) {
      member.send({
        type: 'roomClosed',
        roomId: this.roomId,
        reason: reason === 'removed' ? 'removed' : 'closed',
      });
    }
  }

  /** The room closed (every participant has left): called once by LiveCalls. */
  ended(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#members.clear();
    this.recording?.finish();
    this.#media?.close();
    this.#media = null;
  }
}
