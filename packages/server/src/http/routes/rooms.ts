import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { LiveRoomListSchema, LiveRoomSchema } from '@parley/protocol';
import { closeRoom, createRoom, listRooms, removeParticipant } from '../../services/rooms.js';
import { accessTo, type RouteDeps } from '../deps.js';

const CallAppParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
});
const RoomParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
  roomId: Type.String(),
});
const ParticipantParams = Type.Object({
  workspaceId: Type.String(),
  appId: Type.String(),
  bizName: Type.String(),
  roomId: Type.String(),
  participantId: Type.String(),
});
const base = '/workspaces/:workspaceId/apps/:appId/call-apps/:bizName/rooms';
const tags = ['rooms'];

export function roomRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { svc, rooms } = deps;

  r.get(
    base,
    {
      schema: {
        tags,
        summary: 'Live rooms with participants and durations',
        params: CallAppParams,
        response: { 200: LiveRoomListSchema },
      },
    },
    async (req) => ({
      items: await listRooms(
        svc,
        rooms,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
      ),
    }),
  );

  r.post(
    base,
    {
      schema: {
        tags,
        summary:
          'Create an empty room terminals can join by roomId (developer); destroyed if nobody joins in idleRoomTimeoutSeconds',
        params: CallAppParams,
        response: { 201: LiveRoomSchema },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(
          await createRoom(
            svc,
            rooms,
            await accessTo(deps, req, req.params.workspaceId),
            req.params.appId,
            req.params.bizName,
          ),
        ),
  );

  r.delete(
    `${base}/:roomId`,
    {
      schema: {
        tags,
        summary: 'Close a room: everyone leaves, then it is destroyed (developer)',
        params: RoomParams,
      },
    },
    async (req, reply) => {
      await closeRoom(
        svc,
        rooms,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.roomId,
      );
      return reply.status(204).send();
    },
  );

  r.delete(
    `${base}/:roomId/participants/:participantId`,
    { schema: { tags, summary: 'Remove a participant from a room (developer)', params: ParticipantParams } },
    async (req, reply) => {
      await removeParticipant(
        svc,
        rooms,
        await accessTo(deps, req, req.params.workspaceId),
        req.params.appId,
        req.params.bizName,
        req.params.roomId,
        req.params.participantId,
      );
      return reply.status(204).send();
    },
  );
}
