/** Live rooms of a call application, for the console and REST API. */
import type { LiveRoom } from '@parley/protocol';
import { ParleyError } from '../errors.js';
import { RoomError, type Room, type RoomRegistry } from '../rooms/room.js';
import { requireRole, type WorkspaceAccess } from './access.js';
import { recordAudit } from './audit.js';
import { getCallApp } from './call-apps.js';
import type { ServiceContext } from './context.js';

function toLiveRoom(room: Room, now: number): LiveRoom {
  return {
    roomId: room.roomId,
    bizName: room.scope.bizName,
    createdAt: room.createdAt,
    durationMs: now - room.createdAt,
    participants: [...room.participants.values()].map((p) => ({
      participantId: p.participantId,
      uid: p.uid,
      joinedAt: p.joinedAt,
      durationMs: now - p.joinedAt,
      tracks: p.tracks,
    })),
  };
}

function findRoom(rooms: RoomRegistry, bizName: string, roomId: string): Room {
  try {
    return rooms.get(bizName, roomId);
  } catch (err) {
    if (err instanceof RoomError) throw new ParleyError('ROOM_NOT_FOUND');
    throw err;
  }
}

export async function listRooms(
  ctx: ServiceContext,
  rooms: RoomRegistry,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<LiveRoom[]> {
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const now = ctx.now();
  return rooms
    .list(bizName)
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((r) => toLiveRoom(r, now));
}

export async function createRoom(
  ctx: ServiceContext,
  rooms: RoomRegistry,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
): Promise<LiveRoom> {
  requireRole(access, 'developer');
  const app = await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const room = rooms.create({ bizName: app.bizName, appId: app.appId, workspaceId: app.workspaceId }, '');
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'room.create',
    targetType: 'room',
    targetId: `${bizName}/${room.roomId}`,
    time: ctx.now(),
  });
  return toLiveRoom(room, ctx.now());
}

export async function closeRoom(
  ctx: ServiceContext,
  rooms: RoomRegistry,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  roomId: string,
): Promise<void> {
  requireRole(access, 'developer');
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const room = findRoom(rooms, bizName, roomId);
  const before = toLiveRoom(room, ctx.now());
  room.close('closedByApi', '');
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'room.close',
    targetType: 'room',
    targetId: `${bizName}/${roomId}`,
    before: { participants: before.participants.map((p) => p.uid) },
    time: ctx.now(),
  });
}

export async function removeParticipant(
  ctx: ServiceContext,
  rooms: RoomRegistry,
  access: WorkspaceAccess,
  appId: string,
  bizName: string,
  roomId: string,
  participantId: string,
): Promise<void> {
  requireRole(access, 'developer');
  await getCallApp(ctx.db, access, appId, bizName, ctx.now());
  const room = findRoom(rooms, bizName, roomId);
  const participant = room.participants.get(participantId);
  if (!participant) throw new ParleyError('PARTICIPANT_NOT_FOUND');
  room.leave(participant, 'removed');
  await recordAudit(ctx.db, {
    workspaceId: access.workspaceId,
    actor: access.actor,
    action: 'room.removeParticipant',
    targetType: 'room',
    targetId: `${bizName}/${roomId}`,
    after: { participantId, uid: participant.uid },
    time: ctx.now(),
  });
}
