/**
 * Every live call of this server. The one place a call is made (when its room is created, by a
 * terminal or through the API, in the same tick) and ended (when its room closes, however).
 */
import { RoomError, type RoomRegistry, type RoomScope } from '../rooms/room.js';
import { LiveCall, type LiveCallDeps } from './live-call.js';

export interface LiveCallsOptions extends LiveCallDeps {
  rooms: RoomRegistry;
}

/** What follows each call from its start (the recordings module: auto-recording). */
export type CallStarted = (call: LiveCall) => void;

export class LiveCalls {
  readonly rooms: RoomRegistry;
  readonly #calls = new Map<string, LiveCall>();
  readonly #started: CallStarted[] = [];

  constructor(options: LiveCallsOptions) {
    const { rooms, ...deps } = options;
    this.rooms = rooms;
    rooms.on('roomCreated', (e) => {
      const room = rooms.get(e.bizName, e.roomId);
      const call = new LiveCall(room, deps);
      this.#calls.set(room.roomId, call);
      room.onClose(() => {
        this.#calls.delete(room.roomId);
        call.ended();
      });
      for (const fn of this.#started) fn(call);
    });
  }

  /** Runs `fn` for every call from its start (register before the first room is made). */
  onCallStarted(fn: CallStarted): void {
    this.#started.push(fn);
  }

  /** A new room (and its call) with its creator about to join, or (uid '') an empty one for the API. */
  create(scope: RoomScope, uid: string): LiveCall {
    const room = this.rooms.create(scope, uid);
    return this.#calls.get(room.roomId)!;
  }

  /** A live call of this bizName (a call of another bizName is reported as not existing). */
  get(bizName: string, roomId: string): LiveCall {
    const call = this.#calls.get(roomId);
    if (!call || call.scope.bizName !== bizName || call.closed) {
      throw new RoomError('ROOM_NOT_FOUND', `No room ${roomId} for this bizName.`);
    }
    return call;
  }

  /** The call of a room, if it is live. */
  find(bizName: string, roomId: string): LiveCall | undefined {
    const call = this.#calls.get(roomId);
    return call && call.scope.bizName === bizName && !call.closed ? call : undefined;
  }

  list(): LiveCall[] {
    return [...this.#calls.values()];
  }

  get size(): number {
    return this.#calls.size;
  }

  /** Idempotent: ends every call (each room sends its leave and destroy events). */
  close(reason = 'shutdown'): void {
    this.rooms.close(reason);
  }
}
