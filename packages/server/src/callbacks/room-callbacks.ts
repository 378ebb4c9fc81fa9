/**
 * Turns the room model's events into room-status callbacks (mPaaS eventCode 1-4), and keeps
 * room presence beside them so that rooms live at a crash are closed properly on restart.
 */
import type { RoomEvent, RoomRegistry } from '../rooms/room.js';
import type { Db } from '../store/schema.js';
import type { CallbackDispatcher } from './dispatcher.js';

export const roomEventCodes = { roomCreated: 1, userJoined: 2, userLeft: 3, roomDestroyed: 4 } as const;

/** The exact room-status body of the contract (bizRequestId is added by the outbox). */
export function roomCallbackPayload(eventCode: number, e: RoomEvent): Record<string, unknown> {
  return {
    uid: e.uid,
    bizName: e.bizName,
    appId: e.appId,
    workspaceId: e.workspaceId,
    roomId: e.roomId,
    eventCode,
    time: e.time,
  };
}

type PresenceChange = (trx: Db) => Promise<void>;

function presenceChange(eventCode: number, e: RoomEvent & { participantId?: string }): PresenceChange {
  const room = (trx: Db) =>
    trx.deleteFrom('room_presence').where('biz_name', '=', e.bizName).where('room_id', '=', e.roomId);
  const row = (participantId: string) => ({
    biz_name: e.bizName,
    room_id: e.roomId,
    participant_id: participantId,
    uid: e.uid,
    app_id: e.appId,
    workspace_id: e.workspaceId,
    since: e.time,
  });
  switch (eventCode) {
    case 1:
      return async (trx) => void (await trx.insertInto('room_presence').values(row('')).execute());
    case 2:
      return async (trx) =>
        void (await trx
          .insertInto('room_presence')
          .values(row(e.participantId ?? '?'))
          .execute());
    case 3:
      return async (trx) =>
        void (await room(trx)
          .where('participant_id', '=', e.participantId ?? '?')
          .execute());
    default:
      return async (trx) => void (await room(trx).execute());
  }
}

function enqueueRoomEvent(
  dispatcher: CallbackDispatcher,
  db: Db,
  eventCode: number,
  e: RoomEvent & { participantId?: string },
) {
  return dispatcher.enqueue({
    kind: 'room',
    workspaceId: e.workspaceId,
    bizName: e.bizName,
    eventCode,
    roomId: e.roomId,
    uid: e.uid,
    orderKey: `room:${e.bizName}:${e.roomId}`,
    url: { setting: 'room_callback_url' },
    effects: presenceChange(eventCode, e),
    payload: roomCallbackPayload(eventCode, e),
    time: e.time,
  });
}

export function attachRoomCallbacks(registry: RoomRegistry, dispatcher: CallbackDispatcher, db: Db): void {
  for (const [name, eventCode] of Object.entries(roomEventCodes) as [keyof typeof roomEventCodes, number][]) {
    registry.on(name, (e: RoomEvent) => void enqueueRoomEvent(dispatcher, db, eventCode, e));
  }
}

/**
 * Rooms that were live when the previous process died: each remaining participant leaves
 * (eventCode 3) and the room is destroyed (eventCode 4), so business servers never see a
 * room that stays open forever.
 */
export async function closeRoomsLeftByCrash(
  dispatcher: CallbackDispatcher,
  db: Db,
  now: number,
): Promise<number> {
  const rows = await db.selectFrom('room_presence').selectAll().orderBy('since').execute();
  const rooms = new Map<string, typeof rows>();
  for (const r of rows) {
    const key = `${r.biz_name}/${r.room_id}`;
    rooms.set(key, [...(rooms.get(key) ?? []), r]);
  }
  for (const members of rooms.values()) {
    const first = members[0];
    if (!first) continue;
    const scope = {
      bizName: first.biz_name,
      appId: first.app_id,
      workspaceId: first.workspace_id,
      roomId: first.room_id,
    };
    let last = '';
    for (const p of members.filter((m) => m.participant_id !== '')) {
      last = p.uid;
      void enqueueRoomEvent(dispatcher, db, 3, {
        ...scope,
        uid: p.uid,
        time: now,
        participantId: p.participant_id,
      });
    }
    void enqueueRoomEvent(dispatcher, db, 4, {
      ...scope,
      uid: last || (members.find((m) => m.participant_id === '')?.uid ?? ''),
      time: now,
    });
  }
  await dispatcher.persisted();
  return rooms.size;
}
