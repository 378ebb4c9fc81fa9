/** Turns the room model's events into room-status callbacks (mPaaS eventCode 1-4). */
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

export function attachRoomCallbacks(registry: RoomRegistry, dispatcher: CallbackDispatcher, db: Db): void {
  for (const [name, eventCode] of Object.entries(roomEventCodes) as [keyof typeof roomEventCodes, number][]) {
    registry.on(name, (e: RoomEvent) => {
      void dispatcher.enqueue({
        kind: 'room',
        workspaceId: e.workspaceId,
        bizName: e.bizName,
        eventCode,
        roomId: e.roomId,
        uid: e.uid,
        orderKey: `room:${e.bizName}:${e.roomId}`,
        url: async () => {
          const row = await db
            .selectFrom('call_apps')
            .select('room_callback_url')
            .where('biz_name', '=', e.bizName)
            .executeTakeFirst();
          return row?.room_callback_url ?? '';
        },
        payload: roomCallbackPayload(eventCode, e),
        time: e.time,
      });
    });
  }
}
