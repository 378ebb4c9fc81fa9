/**
 * The room model: rooms scoped by bizName, participants, and the typed events the callbacks
 * issue delivers (room created, user joined, user left, room destroyed). Knows nothing of
 * HTTP, WebSockets or media.
 *
 * Close cascade: RoomRegistry.close() → every Room.close() → every Participant leaves
 * (userLeft) → roomDestroyed. Each close() is idempotent.
 */
import { randomBytes } from 'node:crypto';
import type { MediaKind, ParticipantInfo, RoomState, TrackInfo } from '@parley/protocol';
import { TypedEmitter } from './typed-events.js';

export interface RoomScope {
  bizName: string;
  appId: string;
  workspaceId: string;
}

/** One event of a room's life, carrying everything a room-status callback needs. */
export interface RoomEvent extends RoomScope {
  roomId: string;
  /** The user who caused the event (for created/destroyed: the creator / the last to leave, or '' for the API). */
  uid: string;
  time: number;
}

export type LeaveReason = 'left' | 'disconnected' | 'removed' | 'replaced' | 'roomClosed';

export interface RoomEvents {
  roomCreated: [RoomEvent];
  userJoined: [RoomEvent & { participantId: string }];
  userLeft: [RoomEvent & { participantId: string; reason: LeaveReason }];
  roomDestroyed: [RoomEvent & { reason: string }];
}

export interface ParticipantEvents {
  tracksChanged: [TrackInfo[]];
  left: [LeaveReason];
}

export class Participant extends TypedEmitter<ParticipantEvents> {
  readonly participantId = `p_${randomBytes(8).toString('hex')}`;
  readonly #tracks = new Map<MediaKind, TrackInfo>();
  #left = false;

  constructor(
    readonly room: Room,
    readonly uid: string,
    readonly joinedAt: number,
  ) {
    super();
  }

  get hasLeft(): boolean {
    return this.#left;
  }

  get tracks(): TrackInfo[] {
    return [...this.#tracks.values()].sort((a, b) => a.kind.localeCompare(b.kind));
  }

  setTracks(kinds: MediaKind[]): void {
    const next = new Map<MediaKind, TrackInfo>();
    for (const kind of kinds) next.set(kind, { kind, muted: this.#tracks.get(kind)?.muted ?? false });
    this.#tracks.clear();
    for (const [k, v] of next) this.#tracks.set(k, v);
    this.emit('tracksChanged', this.tracks);
  }

  setMuted(kind: MediaKind, muted: boolean): boolean {
    const track = this.#tracks.get(kind);
    if (!track) return false;
    track.muted = muted;
    this.emit('tracksChanged', this.tracks);
    return true;
  }

  info(): ParticipantInfo {
    return { participantId: this.participantId, uid: this.uid, joinedAt: this.joinedAt, tracks: this.tracks };
  }

  /** Idempotent. Called by the room; use Room.leave() from outside. */
  markLeft(reason: LeaveReason): boolean {
    if (this.#left) return false;
    this.#left = true;
    this.emit('left', reason);
    return true;
  }
}

export class RoomError extends Error {
  constructor(
    readonly code: 'ROOM_NOT_FOUND' | 'ROOM_FULL' | 'ROOM_CLOSED',
    message: string,
  ) {
    super(message);
  }
}

export class Room {
  readonly participants = new Map<string, Participant>();
  #closed = false;
  /** The uid a roomDestroyed event names: the last to leave. */
  #lastUid = '';
  #emptyTimer: NodeJS.Timeout | null = null;
  /** Per-room resources (the media router) closed with the room. */
  readonly #onClose: (() => void)[] = [];

  constructor(
    readonly registry: RoomRegistry,
    readonly roomId: string,
    readonly scope: RoomScope,
    readonly createdAt: number,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  onClose(fn: () => void): void {
    this.#onClose.push(fn);
  }

  state(self: Participant): RoomState {
    return {
      roomId: this.roomId,
      createdAt: this.createdAt,
      participants: [...this.participants.values()].map((p) => p.info()),
      self: self.participantId,
    };
  }

  join(uid: string): Participant {
    if (this.#closed) throw new RoomError('ROOM_CLOSED', 'The room has been closed.');
    if (this.participants.size >= this.registry.options.maxParticipants) {
      throw new RoomError(
        'ROOM_FULL',
        `The room already has ${this.registry.options.maxParticipants} participants.`,
      );
    }
    this.#cancelEmptyTimer();
    const participant = new Participant(this, uid, this.registry.now());
    this.participants.set(participant.participantId, participant);
    this.registry.emitEvent('userJoined', { ...this.#event(uid), participantId: participant.participantId });
    return participant;
  }

  /** Idempotent per participant. The room is destroyed after the grace once empty. */
  leave(participant: Participant, reason: LeaveReason): void {
    if (!this.participants.has(participant.participantId)) return;
    this.participants.delete(participant.participantId);
    participant.markLeft(reason);
    this.#lastUid = participant.uid;
    this.registry.emitEvent('userLeft', {
      ...this.#event(participant.uid),
      participantId: participant.participantId,
      reason,
    });
    if (this.participants.size === 0 && !this.#closed) {
      this.#emptyTimer = setTimeout(
        () => this.close('empty', participant.uid),
        this.registry.options.emptyRoomGraceMs,
      );
      this.#emptyTimer.unref();
    }
  }

  /** Destroys the room if still empty after `ms` (rooms made through the API start empty). */
  closeIfStillEmptyAfter(ms: number): void {
    this.#cancelEmptyTimer();
    this.#emptyTimer = setTimeout(() => this.close('idle'), ms);
    this.#emptyTimer.unref();
  }

  #cancelEmptyTimer(): void {
    if (this.#emptyTimer) clearTimeout(this.#emptyTimer);
    this.#emptyTimer = null;
  }

  /**
   * Idempotent: every participant leaves (userLeft each), then roomDestroyed, naming `uid` (''
   * when an operator closed it) or else the last participant to leave.
   */
  close(reason: string, uid?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelEmptyTimer();
    for (const p of [...this.participants.values()]) this.leave(p, 'roomClosed');
    this.#cancelEmptyTimer();
    for (const fn of this.#onClose.splice(0)) fn();
    this.registry.forget(this);
    this.registry.emitEvent('roomDestroyed', { ...this.#event(uid ?? this.#lastUid), reason });
  }

  #event(uid: string): RoomEvent {
    return { ...this.scope, roomId: this.roomId, uid, time: this.registry.now() };
  }
}

export interface RoomRegistryOptions {
  maxParticipants: number;
  /** How long an empty room waits for someone to (re)join before it is destroyed. */
  emptyRoomGraceMs: number;
  /** How long a room created without a participant (REST API) waits for its first one. */
  idleRoomTimeoutMs: number;
  now?: () => number;
}

/** Every live room of this server, looked up by bizName and roomId together. */
export class RoomRegistry extends TypedEmitter<RoomEvents> {
  readonly #rooms = new Map<string, Room>();
  #closed = false;
  readonly now: () => number;

  constructor(readonly options: RoomRegistryOptions) {
    super();
    this.now = options.now ?? Date.now;
  }

  /** A room with its creator about to join, or (uid '') an empty room made through the API. */
  create(scope: RoomScope, uid: string): Room {
    if (this.#closed) throw new RoomError('ROOM_CLOSED', 'The server is shutting down.');
    let roomId: string;
    do roomId = randomRoomId();
    while (this.#rooms.has(roomId));
    const room = new Room(this, roomId, { ...scope }, this.now());
    this.#rooms.set(roomId, room);
    this.emitEvent('roomCreated', { ...scope, roomId, uid, time: room.createdAt });
    if (uid === '') room.closeIfStillEmptyAfter(this.options.idleRoomTimeoutMs);
    return room;
  }

  /** A room of another bizName is reported as not existing. */
  get(bizName: string, roomId: string): Room {
    const room = this.#rooms.get(roomId);
    if (!room || room.scope.bizName !== bizName || room.closed) {
      throw new RoomError('ROOM_NOT_FOUND', `No room ${roomId} for this bizName.`);
    }
    return room;
  }

  list(bizName?: string): Room[] {
    return [...this.#rooms.values()].filter((r) => bizName === undefined || r.scope.bizName === bizName);
  }

  forget(room: Room): void {
    if (this.#rooms.get(room.roomId) === room) this.#rooms.delete(room.roomId);
  }

  emitEvent<K extends keyof RoomEvents & string>(event: K, ...args: RoomEvents[K]): void {
    this.emit(event, ...args);
  }

  /** Idempotent: closes every room (each emitting its leave and destroy events). */
  close(reason = 'shutdown'): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.close(reason);
  }
}

/** 10 digits, the form people can read out over the phone; 10^10 ids make guessing useless. */
function randomRoomId(): string {
  const n = randomBytes(8).readBigUInt64BE() % 10_000_000_000n;
  return n.toString().padStart(10, '0');
}
